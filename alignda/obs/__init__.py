"""Gridded observations of the twin world: masked sampling of the truth plus Gaussian noise.

The observation operator H picks grid points: ``y = truth[mask] + N(0, std**2)``.

- :mod:`~alignda.obs.networks`: where observations are (random, land stations, satellite
  swaths, aircraft tracks) as boolean masks on the grid;
- :mod:`~alignda.obs.points`: user points from a CSV file, mapped onto the grid;
- :mod:`~alignda.obs.operator`: :class:`Observations` and the sampling of the truth;
- :mod:`~alignda.obs.fit`: :class:`ObsFit`, a background's and its analysis's misfit to the
  observations (O-B, O-A) and whether the analysis fits them worse;
- :mod:`~alignda.obs.geometry`: nearest grid points, ground tracks, great circles;
- :mod:`~alignda.obs.scenario`: :class:`Scenario`, a case with its observations;
- :mod:`~alignda.obs.checks`: input validation; every error is an :class:`ObsError`.

Every generator takes a seeded :class:`numpy.random.Generator`, so a fixed seed gives the
same network. The names below are the package's public interface.
"""

from alignda.obs.checks import ObsError
from alignda.obs.fit import NO_FIT, ObsFit, obs_fit
from alignda.obs.geometry import great_circle_points, ground_track, nearest_grid_index
from alignda.obs.networks import (
    DEFAULT_DENSITY,
    HUBS,
    PATTERNS,
    draw_routes,
    make_mask,
    random_mask,
    station_mask,
    swath_mask,
    track_mask,
)
from alignda.obs.operator import (
    DEFAULT_NOISE_STD,
    Observations,
    apply_user_points,
    observe,
    observe_case,
    scaled_noise_std,
)
from alignda.obs.points import DEFAULT_MAX_ROWS, PointObs, points_from_csv
from alignda.obs.scenario import Scenario

__all__ = [
    "DEFAULT_DENSITY",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_NOISE_STD",
    "HUBS",
    "NO_FIT",
    "PATTERNS",
    "ObsError",
    "ObsFit",
    "Observations",
    "PointObs",
    "Scenario",
    "apply_user_points",
    "draw_routes",
    "great_circle_points",
    "ground_track",
    "make_mask",
    "nearest_grid_index",
    "obs_fit",
    "observe",
    "observe_case",
    "points_from_csv",
    "random_mask",
    "scaled_noise_std",
    "station_mask",
    "swath_mask",
    "track_mask",
]
