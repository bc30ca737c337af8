"""The single-observation experiment: one observation, and how each method spreads it.

The canonical first exercise of data assimilation. With one observation y of variable k at one
grid point, innovation d = y - x_b(k) and error variance r, 3D-Var's increment is the k-th
column of its static B scaled by d / (B_kk + r): its shape is the covariance itself (for a
height observation, a balanced, isotropic dipole of wind increments around it). A
background-conditioned prior spreads the same observation along the flow it has learned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from alignda.analysis.methods import AnalysisMethod
from alignda.obs.geometry import nearest_grid_index
from alignda.obs.operator import DEFAULT_NOISE_STD, Observations
from alignda.world.grid import Grid
from alignda.world.variables import VARIABLE_NAMES


@dataclass(frozen=True)
class SingleObservation:
    """One observation: ``variable`` at the grid point (``row``, ``col``) nearest to the point
    asked for, with ``innovation`` (observation minus background) and error std ``noise_std``."""

    variable: str
    row: int
    col: int
    innovation: float
    noise_std: float

    @property
    def index(self) -> int:
        """The variable's index in the state."""
        return VARIABLE_NAMES.index(self.variable)

    def observations(self, background: np.ndarray) -> Observations:
        """The observation y = x_b + innovation as :class:`Observations` of ``background``."""
        mask = np.zeros(background.shape, dtype=bool)
        mask[self.index, self.row, self.col] = True
        values = np.where(mask, background + self.innovation, 0.0)
        std = np.array([DEFAULT_NOISE_STD[v] for v in VARIABLE_NAMES], dtype=np.float64)
        std[self.index] = self.noise_std
        return Observations(mask, values, std)


def single_observation(
    grid: Grid,
    variable: str,
    lat: float,
    lon: float,
    innovation: float,
    noise_std: float | None = None,
) -> SingleObservation:
    """An observation of ``variable`` at the grid point nearest (lat, lon); ``noise_std``
    defaults to the variable's usual observation error (z 10 m, u/v 1 m/s, tracer 0.02)."""
    if variable not in VARIABLE_NAMES:
        raise ValueError(f"unknown variable {variable!r}; choose one of {VARIABLE_NAMES}")
    if not (np.isfinite(lat) and -90.0 <= lat <= 90.0 and np.isfinite(lon)):
        raise ValueError(f"({lat}, {lon}) is not a point on the globe (lat in -90..90)")
    if not np.isfinite(innovation):
        raise ValueError(f"innovation must be finite, not {innovation}")
    std = DEFAULT_NOISE_STD[variable] if noise_std is None else float(noise_std)
    if not (np.isfinite(std) and std > 0):
        raise ValueError(f"noise_std must be positive, not {noise_std}")
    row, col = (int(a[0]) for a in nearest_grid_index(grid, lat, lon))
    return SingleObservation(variable, row, col, float(innovation), std)


def increments(
    methods: Mapping[str, AnalysisMethod],
    background: np.ndarray,
    ob: SingleObservation,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Each method's analysis increment (ensemble mean minus background, (C, nlat, nlon)) for
    the one observation ``ob``."""
    obs = ob.observations(background)
    return {
        name: method.analyse(background, obs, seed=seed).mean - background
        for name, method in methods.items()
    }
