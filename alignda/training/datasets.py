"""Training tensors from case files: normalised states and (background, truth) pairs.

The world's forcing is zonally symmetric, so a random rotation in longitude (the same for a
background and its truth) is an exact symmetry and a free augmentation.
"""

from __future__ import annotations

import numpy as np
import torch

from alignda.world.cases import Cases
from alignda.world.grid import cell_area_weights
from alignda.world.state import stack
from alignda.world.stats import WorldStats


def roll_longitude(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Roll each sample of (B, C, H, W) by its own number of longitudes."""
    w = x.shape[-1]
    shifts = shifts.to(x.device).reshape(-1, 1)
    idx = (torch.arange(w, device=x.device).reshape(1, w) - shifts) % w
    return torch.gather(x, -1, idx.reshape(-1, 1, 1, w).expand_as(x))


class CaseTensors:
    """Normalised float32 tensors of one case set (kept in memory)."""

    def __init__(self, cases: Cases, stats: WorldStats) -> None:
        bg, truth = cases.pairs()
        self.background = stats.normalise(torch.from_numpy(bg))
        self.truth = stats.normalise(torch.from_numpy(truth))
        all_truth = stats.normalise(torch.from_numpy(stack(cases.truth)))
        self.states = torch.cat((all_truth, self.background))
        lat = cases.truth.latitude.values
        self.weights = torch.from_numpy(cell_area_weights(lat).astype(np.float32)).reshape(-1, 1)

    def to(self, device: torch.device | str) -> CaseTensors:
        """The same tensors on ``device`` (in place; returns self)."""
        for name in ("background", "truth", "states", "weights"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def evenly_spaced_states(self, n: int) -> torch.Tensor:
        """n states spread evenly over the set (a fixed sample for statistics)."""
        return self.states[torch.linspace(0, len(self.states) - 1, n).long()]

    def sample_states(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        """Random states (truths and backgrounds), randomly rotated in longitude."""
        i = torch.randint(len(self.states), (batch,), generator=gen)
        shifts = torch.randint(self.states.shape[-1], (batch,), generator=gen)
        return roll_longitude(self.states[i.to(self.states.device)], shifts)
