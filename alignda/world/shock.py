"""Initialisation shock: how hard a state shakes the model when a forecast starts from it.

Winds and heights out of balance (as analyses that fit scattered observations closely are)
launch gravity waves: the height field changes fast over the first hours of a forecast and
the divergence grows. The area-weighted rms height tendency over the first hour of a forecast
by the forecaster's model measures it; it is the quantity operational centres control with
digital-filter and normal-mode initialisation. Balanced evolution (advection) moves the
height too, so a state is judged against the truth's own tendency at the same time.

The tendency field itself is what the maps show: over the first hour the shock sits at the
observations it came from; by the 6th hour its gravity waves have spread into ringing wave
trains (:data:`WAVE_HOURS`), while a balanced state's tendency stays large-scale.

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
#: The maps show the tendency over the hour that ends here (h): the 6th hour of a forecast.
WAVE_HOURS = 6.0


@lru_cache(maxsize=4)
def forecast_model(world: WorldConfig | None = None) -> ShallowWaterModel:
    """The forecaster's (imperfect) model of the truth's ``world`` (default: world v1's),
    built once per world."""
    return ShallowWaterModel((world or WorldConfig()).imperfect())


def _tendency(
    states: np.ndarray | torch.Tensor, hours: float, start: float, world: WorldConfig | None
) -> torch.Tensor:
    """(z(start + hours) - z(start)) / hours as a tensor (N, H, W), float32 for arrays."""
    x = states if torch.is_tensor(states) else torch.as_tensor(np.asarray(states, np.float32))
    if x.ndim != 4 or x.shape[1] < 1:
        raise ValueError(f"states must be (N, C, nlat, nlon), got {tuple(x.shape)}")
    if not (np.isfinite(hours) and hours > 0 and np.isfinite(start) and start >= 0):
        raise ValueError(f"need hours > 0 and start >= 0, got hours={hours}, start={start}")
    model, grad = forecast_model(world), torch.is_tensor(states)
    first = model.forecast(x, start, grad=grad) if start > 0 else x
    later = model.forecast(first, hours, grad=grad)
    return (later[:, 0] - first[:, 0].to(later.dtype)) / hours


def _rms(dz: torch.Tensor) -> torch.Tensor:
    w = torch.as_tensor(Grid(*dz.shape[-2:]).weights, dtype=dz.dtype)[:, None]
    return ((dz**2) * w).mean(dim=(-2, -1)).sqrt()


def _out(value: torch.Tensor, like: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    return value if torch.is_tensor(like) else value.detach().numpy().astype(np.float64)


def height_tendency_field(
    states: np.ndarray | torch.Tensor,
    hours: float = SHOCK_HOURS,
    start: float = 0.0,
    world: WorldConfig | None = None,
) -> np.ndarray | torch.Tensor:
    """(z(start + hours) - z(start)) / hours (m/h) of each state (N, C, H, W) -> (N, H, W),
    from a forecast by the forecaster's model of ``world`` (:func:`forecast_model`); a tensor
    gives a differentiable tensor."""
    return _out(_tendency(states, hours, start, world), states)


def height_tendency(
    states: np.ndarray | torch.Tensor,
    hours: float = SHOCK_HOURS,
    start: float = 0.0,
    world: WorldConfig | None = None,
) -> np.ndarray | torch.Tensor:
    """Area-weighted rms of :func:`height_tendency_field` (m/h) of each state (N, C, H, W)
    -> (N,); the default is the shock, the first hour. A tensor gives a differentiable tensor."""
    return _out(_rms(_tendency(states, hours, start, world)), states)
