"""Initialisation shock: how hard a state shakes the model when a forecast starts from it.

Winds and heights out of balance (as analyses that fit scattered observations closely are)
launch gravity waves: the height field changes fast over the first hours of a forecast and
the divergence grows. The area-weighted rms height tendency over the first hour of a forecast
by the forecaster's model measures it; it is the quantity operational centres control with
digital-filter and normal-mode initialisation. Balanced evolution (advection) moves the
height too, so a state is judged against the truth's own tendency at the same time.

On torch tensors everything is differentiable (the reward-gradient fine-tune uses it).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from alignda.world.grid import Grid
from alignda.world.model import ShallowWaterModel, WorldConfig

#: Length of the forecast whose mean height tendency is measured (h).
SHOCK_HOURS = 1.0


@lru_cache(maxsize=1)
def forecast_model() -> ShallowWaterModel:
    """The forecaster's (imperfect) model, built once."""
    return ShallowWaterModel(WorldConfig().imperfect())


def height_tendency(
    states: np.ndarray | torch.Tensor, hours: float = SHOCK_HOURS
) -> np.ndarray | torch.Tensor:
    """Area-weighted rms of (z(hours) - z(0)) / hours (m/h) of each state (N, C, H, W) -> (N,),
    from a forecast by the forecaster's model; a tensor gives a differentiable tensor."""
    x = states if torch.is_tensor(states) else torch.as_tensor(np.asarray(states, np.float32))
    if x.ndim != 4 or x.shape[1] < 1:
        raise ValueError(f"states must be (N, C, nlat, nlon), got {tuple(x.shape)}")
    model = forecast_model()
    later = model.forecast(x, hours, grad=torch.is_tensor(states))
    dz = (later[:, 0] - x[:, 0].to(later.dtype)) / hours
    w = torch.as_tensor(Grid(*x.shape[-2:]).weights, dtype=dz.dtype)[:, None]
    out = ((dz**2) * w).mean(dim=(-2, -1)).sqrt()
    return out if torch.is_tensor(states) else out.detach().numpy().astype(np.float64)
