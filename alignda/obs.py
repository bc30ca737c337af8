"""Gridded observations of the twin world: masked sampling of the truth plus Gaussian noise.

The observation operator H picks grid points: ``y = truth[mask] + N(0, std**2)``. This module
makes the location masks (random, land stations, satellite swaths, aircraft tracks, user CSV
points), samples the truth into :class:`Observations`, and converts those to and from xarray
for netCDF export. Every generator takes a seeded :class:`numpy.random.Generator`, so a fixed
seed gives the same network. Every validation error is an :class:`ObsError` (a ValueError).
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, TextIO

import numpy as np
import xarray as xr

from alignda.world.grid import Grid
from alignda.world.variables import VARIABLE_NAMES, VARIABLES, check_variables

__all__ = [
    "DEFAULT_DENSITY",
    "DEFAULT_MAX_ROWS",
    "DEFAULT_NOISE_STD",
    "HUBS",
    "PATTERNS",
    "ObsError",
    "Observations",
    "PointObs",
    "apply_user_points",
    "draw_routes",
    "great_circle_points",
    "ground_track",
    "make_mask",
    "nearest_grid_index",
    "observe",
    "points_from_csv",
    "random_mask",
    "station_mask",
    "swath_mask",
    "track_mask",
]

#: Observation error standard deviations in physical units (m, m s-1, m s-1, 1).
DEFAULT_NOISE_STD: dict[str, float] = {"z": 10.0, "u": 1.0, "v": 1.0, "tracer": 0.02}

#: Default fraction of grid points observed by :func:`make_mask`.
DEFAULT_DENSITY = 0.05

#: Most data rows :func:`points_from_csv` accepts unless told otherwise.
DEFAULT_MAX_ROWS = 100_000

#: Observation patterns known to :func:`make_mask`.
PATTERNS: tuple[str, ...] = ("random", "stations", "swaths", "tracks")

EARTH_RADIUS_KM = 6371.0
ORBIT_PERIOD_MIN = 101.0  # a typical sun-synchronous polar orbiter
SIDEREAL_DAY_MIN = 1436.068
MAX_AUTO_ORBITS = 15  # about one day of one satellite

#: Major airport hubs (name -> (lat, lon) in degrees) that :func:`track_mask` connects.
HUBS: dict[str, tuple[float, float]] = {
    "London": (51.47, -0.45),
    "New York": (40.64, -73.78),
    "Tokyo": (35.55, 139.78),
    "Dubai": (25.25, 55.36),
    "Singapore": (1.36, 103.99),
    "Los Angeles": (33.94, -118.41),
    "Frankfurt": (50.03, 8.56),
    "Sao Paulo": (-23.43, -46.47),
    "Johannesburg": (-26.14, 28.25),
    "Sydney": (-33.95, 151.18),
    "Beijing": (40.08, 116.58),
    "Chicago": (41.98, -87.90),
    "Moscow": (55.97, 37.41),
    "Mumbai": (19.09, 72.87),
    "Cairo": (30.12, 31.41),
    "Mexico City": (19.44, -99.07),
    "Anchorage": (61.17, -150.00),
    "Honolulu": (21.32, -157.92),
    "Santiago": (-33.39, -70.79),
    "Lagos": (6.58, 3.32),
}

_ROUTES: tuple[tuple[str, str], ...] = tuple(combinations(HUBS, 2))
_TRACK_STEP_KM = 10.0
_TRACK_OVERSHOOT = 1.25  # make_mask("tracks") skips routes that overshoot the density by more
_SWATH_SAMPLES_PER_ORBIT = 2000  # 20 km along-track spacing


class ObsError(ValueError):
    """Invalid observation input (masks, CSV points, noise, truth)."""


# --- small helpers ------------------------------------------------------------------------------


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ObsError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )
    return rng


def _check_fraction(value: Any, name: str = "fraction") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ObsError(f"{name} must be a number in (0, 1], got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise ObsError(f"{name} must be in (0, 1] (1 = every grid point), got {value!r}")
    return value


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ObsError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ObsError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ObsError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _check_inclination(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ObsError(f"inclination_deg must be a number in (0, 180), got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not 0.0 < value < 180.0:
        raise ObsError(f"inclination_deg must be in (0, 180), got {value!r}")
    return value


def _n_points(grid: Grid, fraction: float) -> int:
    """round(fraction * npoints), at least 1 (Python rounding, half to even)."""
    npoints = grid.nlat * grid.nlon
    return min(npoints, max(1, round(fraction * npoints)))


def _area_weights_2d(grid: Grid) -> np.ndarray:
    return np.broadcast_to(np.asarray(grid.weights, dtype=np.float64)[:, None], grid.shape)


def _weighted_sample(
    rng: np.random.Generator, candidates: np.ndarray, weights: np.ndarray, k: int
) -> np.ndarray:
    """k distinct items of ``candidates``, drawn one after another with prob. ~ ``weights``.

    Efraimidis-Spirakis: the k smallest keys E / w (E ~ Exp(1)) are a weighted sample without
    replacement (the same law as successive draws proportional to the remaining weights).
    """
    if k >= candidates.size:
        return candidates.copy()
    keys = rng.exponential(size=candidates.size) / weights
    return candidates[np.argpartition(keys, k - 1)[:k]]


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(..., 3) Cartesian unit vectors of points given in degrees."""
    phi, lam = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack((np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)), axis=-1)


def _grid_unit_vectors(grid: Grid) -> np.ndarray:
    lon2d, lat2d = np.meshgrid(grid.lon, grid.lat)
    return _unit_vectors(lat2d, lon2d).reshape(-1, 3)


def nearest_grid_index(
    grid: Grid, lat: np.ndarray | float, lon: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the grid point nearest (great-circle) to each point.

    ``lon`` may be in any range (it is wrapped). For any latitude row the nearest column is
    the one nearest in longitude, so only the row needs a search over the great-circle
    distance. Ties go to the lower index.
    """
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    lat, lon = np.broadcast_arrays(lat, lon)
    dlon = 360.0 / grid.nlon
    j = np.floor(np.mod(lon, 360.0) / dlon + 0.5).astype(np.int64) % grid.nlon
    dlam = np.deg2rad(np.mod(lon - j * dlon + 180.0, 360.0) - 180.0)
    phi = np.deg2rad(lat).ravel()
    rows = np.deg2rad(np.asarray(grid.lat, dtype=np.float64))
    i = np.empty(phi.size, dtype=np.int64)
    chunk = 16384
    for s in range(0, phi.size, chunk):
        p = phi[s : s + chunk, None]
        cosd = np.sin(p) * np.sin(rows) + np.cos(p) * np.cos(rows) * np.cos(
            dlam.ravel()[s : s + chunk, None]
        )
        i[s : s + chunk] = np.argmax(cosd, axis=1)
    return i.reshape(lat.shape), j.reshape(lat.shape)


# --- mask generators ----------------------------------------------------------------------------


def random_mask(grid: Grid, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``round(fraction * npoints)`` (at least 1) distinct random grid points.

    Points are drawn without replacement with probability proportional to the cell area
    (``grid.weights``), so they are uniform over the sphere: the many small cells near the
    poles are not over-sampled. ``fraction`` must be in (0, 1]; 1 observes every point.
    """
    fraction = _check_fraction(fraction)
    rng = _check_rng(rng)
    k = _n_points(grid, fraction)
    mask = np.zeros(grid.nlat * grid.nlon, dtype=bool)
    chosen = _weighted_sample(rng, np.arange(mask.size), _area_weights_2d(grid).ravel(), k)
    mask[chosen] = True
    return mask.reshape(grid.shape)


def station_mask(
    grid: Grid, fraction: float, rng: np.random.Generator, land_share: float = 0.85
) -> np.ndarray:
    """A land-station-like network: dense over continents, sparse over the oceans.

    Exactly ``round(fraction * npoints)`` (at least 1) points, of which ``round(land_share *
    n)`` are on land (Natural Earth land mask) and the rest over the ocean (ships, buoys),
    each part drawn area-uniformly as in :func:`random_mask`. When one part has too few grid
    points, the remainder spills over to the other, so the land share is then lower/higher.
    """
    from alignda.world.geography import land_mask

    fraction = _check_fraction(fraction)
    rng = _check_rng(rng)
    if isinstance(land_share, bool) or not isinstance(land_share, numbers.Real):
        raise ObsError(f"land_share must be a number in [0, 1], got {land_share!r}")
    land_share = float(land_share)
    if not math.isfinite(land_share) or not 0.0 <= land_share <= 1.0:
        raise ObsError(f"land_share must be in [0, 1], got {land_share!r}")
    k = _n_points(grid, fraction)
    land = np.asarray(land_mask(grid), dtype=bool).ravel()
    weights = _area_weights_2d(grid).ravel()
    land_idx, sea_idx = np.flatnonzero(land), np.flatnonzero(~land)
    k_land = min(round(land_share * k), land_idx.size)
    k_sea = min(k - k_land, sea_idx.size)
    k_land = k - k_sea
    mask = np.zeros(land.size, dtype=bool)
    mask[_weighted_sample(rng, land_idx, weights[land_idx], k_land)] = True
    mask[_weighted_sample(rng, sea_idx, weights[sea_idx], k_sea)] = True
    return mask.reshape(grid.shape)


def ground_track(
    n_orbits: int,
    start_lon: float,
    inclination_deg: float = 98.7,
    samples_per_orbit: int = _SWATH_SAMPLES_PER_ORBIT,
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-satellite (lat, lon) in degrees along ``n_orbits`` consecutive circular orbits.

    The orbit starts at its ascending node at ``start_lon``; its period is
    ``ORBIT_PERIOD_MIN`` and the Earth turns beneath it (about 25 degrees west per orbit).
    Nodal precession is ignored. Longitudes are wrapped to [0, 360).
    """
    n_orbits = _check_positive_int(n_orbits, "n_orbits")
    inc = np.deg2rad(float(inclination_deg))
    u = np.linspace(0.0, 2.0 * np.pi * n_orbits, n_orbits * samples_per_orbit + 1)
    lat = np.rad2deg(np.arcsin(np.sin(inc) * np.sin(u)))
    # inertial longitude from the node, unwrapped so that it follows u continuously
    lam = np.unwrap(np.arctan2(np.cos(inc) * np.sin(u), np.cos(u)))
    minutes = u / (2.0 * np.pi) * ORBIT_PERIOD_MIN
    lon = float(start_lon) + np.rad2deg(lam) - 360.0 * minutes / SIDEREAL_DAY_MIN
    return lat, np.mod(lon, 360.0)


def _track_distance_km(
    grid: Grid, lat: np.ndarray, lon: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Great-circle distance (km) of every grid point to the nearest track sample, and
    whether that nearest sample is the first / the last one (each (nlat, nlon))."""
    g = _grid_unit_vectors(grid)
    t = _unit_vectors(lat, lon)
    best = np.full(g.shape[0], -2.0)
    nearest = np.zeros(g.shape[0], dtype=np.int64)
    rows = np.arange(g.shape[0])
    for s in range(0, t.shape[0], 512):
        dots = g @ t[s : s + 512].T
        arg = dots.argmax(axis=1)
        value = dots[rows, arg]
        better = value > best
        best[better] = value[better]
        nearest[better] = arg[better] + s
    dist = EARTH_RADIUS_KM * np.arccos(np.clip(best, -1.0, 1.0))
    return (
        dist.reshape(grid.shape),
        (nearest == 0).reshape(grid.shape),
        (nearest == t.shape[0] - 1).reshape(grid.shape),
    )


def _window_distances(
    grid: Grid, n_orbits: int, start_lon: float, inclination_deg: float
) -> Iterator[np.ndarray]:
    """Distance fields (km) to the ground track of the first 1, 2, ..., n_orbits orbits.

    The observing window is cut straight across the track at its start and end: a point
    whose nearest track sample is the window's first or last one lies beyond the window
    (its foot on the track is outside it) and gets distance inf.
    """
    lat, lon = ground_track(n_orbits, start_lon, inclination_deg)
    m = _SWATH_SAMPLES_PER_ORBIT
    inner: np.ndarray | None = None  # distance to the orbits before this one
    for k in range(n_orbits):
        part = slice(k * m, (k + 1) * m + 1)
        dist, at_start, at_end = _track_distance_km(grid, lat[part], lon[part])
        if k == 0:
            dist = np.where(at_start, np.inf, dist)
        window = np.where(at_end, np.inf, dist)
        yield window if inner is None else np.minimum(inner, window)
        inner = dist if inner is None else np.minimum(inner, dist)


def swath_mask(
    grid: Grid,
    n_orbits: int,
    rng: np.random.Generator,
    swath_width_km: float = 1500.0,
    inclination_deg: float = 98.7,
) -> np.ndarray:
    """Grid points seen by a polar-orbiting imager during ``n_orbits`` consecutive orbits.

    The ground track (see :func:`ground_track`; ~101 min period, sun-synchronous-like
    inclination, the Earth rotating beneath) starts at a random longitude; points within
    ``swath_width_km / 2`` (great-circle distance) of the track are observed, the swath cut
    straight across at the start and end of the window. Tracks converge towards the poles, so
    high latitudes are observed more often than the tropics.
    """
    n_orbits = _check_positive_int(n_orbits, "n_orbits")
    rng = _check_rng(rng)
    width = _check_positive_float(swath_width_km, "swath_width_km")
    inclination = _check_inclination(inclination_deg)
    start_lon = rng.uniform(0.0, 360.0)
    *_, dist = _window_distances(grid, n_orbits, start_lon, inclination)
    return dist <= 0.5 * width


def great_circle_points(
    lat1: float, lon1: float, lat2: float, lon2: float, step_km: float = _TRACK_STEP_KM
) -> tuple[np.ndarray, np.ndarray]:
    """Points (lat, lon in [0, 360)) at most ``step_km`` apart along the shorter great circle."""
    a = _unit_vectors(np.float64(lat1), np.float64(lon1))
    b = _unit_vectors(np.float64(lat2), np.float64(lon2))
    omega = math.atan2(float(np.linalg.norm(np.cross(a, b))), float(a @ b))
    if omega > np.pi - 1e-6:
        raise ObsError("antipodal end points: the great-circle route is not unique")
    n = max(2, math.ceil(omega * EARTH_RADIUS_KM / step_km) + 1)
    t = np.linspace(0.0, 1.0, n)[:, None]
    if omega < 1e-12:
        p = np.repeat(a[None, :], n, axis=0)
    else:
        p = (np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    lat = np.rad2deg(np.arcsin(np.clip(p[:, 2], -1.0, 1.0)))
    lon = np.mod(np.rad2deg(np.arctan2(p[:, 1], p[:, 0])), 360.0)
    return lat, lon


def draw_routes(n_tracks: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """``n_tracks`` distinct hub pairs from :data:`HUBS` (a random prefix of all pairs).

    For one seed, the routes drawn for ``n`` tracks are the first ``n`` of those drawn for
    any larger number, so networks grow by adding routes.
    """
    n_tracks = _check_positive_int(n_tracks, "n_tracks")
    rng = _check_rng(rng)
    if n_tracks > len(_ROUTES):
        raise ObsError(f"n_tracks must be at most {len(_ROUTES)} (distinct hub pairs)")
    order = rng.permutation(len(_ROUTES))[:n_tracks]
    return [_ROUTES[k] for k in order]


def _route_cells(grid: Grid, route: tuple[str, str]) -> np.ndarray:
    """Flat indices of the grid points that a route passes nearest to."""
    (lat1, lon1), (lat2, lon2) = HUBS[route[0]], HUBS[route[1]]
    lat, lon = great_circle_points(lat1, lon1, lat2, lon2)
    i, j = nearest_grid_index(grid, lat, lon)
    return np.unique(i * grid.nlon + j)


def track_mask(grid: Grid, n_tracks: int, rng: np.random.Generator) -> np.ndarray:
    """Aircraft-like tracks: great-circle routes between ``n_tracks`` random hub pairs.

    The routes (see :func:`draw_routes`) are sampled every 10 km and each sample marks its
    nearest grid point, so every route is a connected chain of grid points from hub to hub.
    """
    mask = np.zeros(grid.nlat * grid.nlon, dtype=bool)
    for route in draw_routes(n_tracks, rng):
        mask[_route_cells(grid, route)] = True
    return mask.reshape(grid.shape)


def _closest(fractions: Sequence[float], target: float) -> int:
    """Index of the fraction closest to ``target`` in ratio (log) terms."""
    return int(np.argmin([abs(math.log(max(f, 1e-12) / target)) for f in fractions]))


def _quantile_mask(dist: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` points of smallest distance (ties included)."""
    count = min(max(count, 1), dist.size)
    cutoff = np.partition(dist.ravel(), count - 1)[count - 1]
    return dist <= cutoff


def make_mask(
    pattern: str,
    grid: Grid,
    rng: np.random.Generator,
    *,
    density: float | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """Location mask (nlat, nlon) of one observation pattern, by name.

    ``pattern`` is one of :data:`PATTERNS`. ``density`` (fraction of grid points, e.g. 0.01)
    is turned into the generator's natural parameter, so the observed fraction is close to
    it (within a factor 1.5 for 1-10 %, tested):

    - ``"random"`` / ``"stations"``: ``fraction = density`` (exact point count);
      ``land_share`` may be passed for stations.
    - ``"swaths"``: the number of orbits of a ``swath_width_km``-wide imager (default 1500 km)
      whose coverage is closest to the density; if even one orbit covers too much, one orbit
      of a narrower instrument (the width that covers the density); if ``MAX_AUTO_ORBITS``
      orbits cover too little, that many orbits of a wider one. One 1500-km orbit covers
      about 17 % of the grid points, so 1-10 % gives one orbit of a narrower swath.
    - ``"tracks"``: hub-to-hub routes are added in random order (as drawn by
      :func:`draw_routes`), skipping any that would take the observed fraction above 1.25 x
      the density, until the density is reached; raises ObsError if all routes together cover
      less than density / 1.5 (about 55 % of the grid is the most they cover). Below the
      coverage of the shortest route (about 0.06 %), that route alone is returned.

    Alternatively pass the natural parameter itself (``fraction``, ``n_orbits``, ``n_tracks``)
    instead of ``density``; with neither, ``density = DEFAULT_DENSITY``. Extra keywords go to
    the generator.
    """
    if not isinstance(pattern, str) or pattern.strip().lower() not in PATTERNS:
        raise ObsError(f"unknown observation pattern {pattern!r}; known: {list(PATTERNS)}")
    pattern = pattern.strip().lower()
    rng = _check_rng(rng)
    natural = {
        "random": "fraction",
        "stations": "fraction",
        "swaths": "n_orbits",
        "tracks": "n_tracks",
    }[pattern]
    allowed = {
        "random": set(),
        "stations": {"land_share"},
        "swaths": {"swath_width_km", "inclination_deg"},
        "tracks": set(),
    }[pattern]
    unknown = set(kwargs) - allowed - {natural}
    if unknown:
        raise ObsError(
            f"unexpected keyword(s) {sorted(unknown)} for pattern {pattern!r}; "
            f"allowed: {sorted(allowed | {natural, 'density'})}"
        )
    if density is not None and natural in kwargs:
        raise ObsError(f"give either density or {natural}, not both")
    if density is None and natural not in kwargs:
        density = DEFAULT_DENSITY
    if density is None:
        if pattern == "random":
            return random_mask(grid, kwargs["fraction"], rng)
        if pattern == "stations":
            return station_mask(grid, rng=rng, **kwargs)
        if pattern == "swaths":
            return swath_mask(grid, rng=rng, **kwargs)
        return track_mask(grid, kwargs["n_tracks"], rng)

    density = _check_fraction(density, "density")
    if pattern == "random":
        return random_mask(grid, density, rng)
    if pattern == "stations":
        return station_mask(grid, density, rng, **kwargs)
    npoints = grid.nlat * grid.nlon
    if pattern == "swaths":
        width = _check_positive_float(kwargs.get("swath_width_km", 1500.0), "swath_width_km")
        inclination = _check_inclination(kwargs.get("inclination_deg", 98.7))
        # same draw as swath_mask, so the result equals swath_mask(grid, n, rng, width, ...)
        start_lon = rng.uniform(0.0, 360.0)
        fractions, cumulative = [], []
        for dist in _window_distances(grid, MAX_AUTO_ORBITS, start_lon, inclination):
            cumulative.append(dist)
            fractions.append(float(np.mean(dist <= 0.5 * width)))
            if fractions[-1] >= density:
                break
        if fractions[0] > density:  # one orbit is too much: narrow the swath
            return _quantile_mask(cumulative[0], round(density * npoints))
        if fractions[-1] < density:  # MAX_AUTO_ORBITS orbits are too little: widen it
            return _quantile_mask(cumulative[-1], round(density * npoints))
        return cumulative[_closest(fractions, density)] <= 0.5 * width

    # tracks: add routes in random order, skipping any that would overshoot the density
    mask = np.zeros(npoints, dtype=bool)
    smallest: np.ndarray | None = None
    for route in draw_routes(len(_ROUTES), rng):
        cells = _route_cells(grid, route)
        if smallest is None or cells.size < smallest.size:
            smallest = cells
        grown = mask.copy()
        grown[cells] = True
        if grown.mean() > _TRACK_OVERSHOOT * density:
            continue
        mask = grown
        if mask.mean() >= density:
            break
    if not mask.any():  # every single route overshoots: take the shortest
        assert smallest is not None
        mask[smallest] = True
    if mask.mean() < density / 1.5:
        raise ObsError(
            f"tracks cannot reach density {density:g}: all {len(_ROUTES)} routes observe "
            f"{mask.mean():.3g} of the grid"
        )
    return mask.reshape(grid.shape)


# --- user points from CSV -----------------------------------------------------------------------


@dataclass(eq=False)
class PointObs:
    """User observation points mapped onto the grid.

    ``location_mask`` (nlat, nlon): grid points with any user point. ``mask`` (nvar, nlat,
    nlon): which variable is observed where (all variables for rows without a variable).
    ``values`` (nvar, nlat, nlon): the user's values, NaN where none was given; None when the
    file had no value column. ``n_rows``: data rows read.
    """

    location_mask: np.ndarray
    mask: np.ndarray
    values: np.ndarray | None = None
    n_rows: int = 0

    @property
    def value_mask(self) -> np.ndarray:
        """(nvar, nlat, nlon) True where the user gave a value."""
        if self.values is None:
            return np.zeros(self.mask.shape, dtype=bool)
        return np.isfinite(self.values)

    @property
    def count(self) -> int:
        """Number of observed (variable, grid point) pairs."""
        return int(self.mask.sum())


_COLUMN_ALIASES = {
    "lat": "lat",
    "latitude": "lat",
    "lon": "lon",
    "longitude": "lon",
    "variable": "variable",
    "value": "value",
}


def _read_text(source: str | os.PathLike[str] | TextIO | bytes) -> str:
    looks_like_text = isinstance(source, str) and (
        not source.strip() or "\n" in source or "," in source
    )
    if hasattr(source, "read"):
        data = source.read()
    elif isinstance(source, bytes) or (looks_like_text and not os.path.isfile(source)):
        data = source
    elif isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as fh:
                data = fh.read()
        except OSError as err:
            raise ObsError(f"cannot read CSV file {os.fspath(source)!r}: {err}") from err
    else:
        raise ObsError(f"CSV source must be a path, text or file object, got {type(source)}")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ObsError(f"CSV is not UTF-8 text: {err}") from err
    return str(data).removeprefix("\ufeff")


def _parse_number(cell: str, column: str, where: str) -> float:
    if cell == "":
        raise ObsError(f"{where}: {column} is empty")
    try:
        value = float(cell)
    except ValueError:
        raise ObsError(f"{where}: {column} {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise ObsError(f"{where}: {column} {cell!r} is not finite (NaN or inf)")
    return value


def points_from_csv(
    source: str | os.PathLike[str] | TextIO | bytes,
    grid: Grid,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> PointObs:
    """Read user observation points from CSV and map them to the nearest grid points.

    ``source`` is a path, CSV text (a string that is blank or has a newline or comma and is
    not a file name), bytes or a file object. The header names the columns ``lat`` and ``lon`` (also
    ``latitude``/``longitude``) and optionally ``variable`` and ``value`` together; names are
    case-insensitive and may carry whitespace. ``lon`` may be in -180..180 or 0..360. A row
    without a variable observes every variable there; a variable with an empty value is
    sampled from the truth; a value is used as the observation as given.

    Raises ObsError naming the row (1-based data row and file line) for: an empty file or no
    data rows, missing lat/lon columns, unknown or repeated columns, a wrong number of fields,
    empty, non-numeric or non-finite numbers, lat outside [-90, 90], lon outside [-180, 360),
    unknown variables, a value without a variable (or a value column without a variable column
    and vice versa), points of one variable on the same grid point with conflicting values, and
    more than ``max_rows`` data rows. Fully blank lines are skipped; nothing else is dropped.
    """
    max_rows = _check_positive_int(max_rows, "max_rows")
    text = _read_text(source)
    if not text.strip():
        raise ObsError("CSV is empty: expected a header with lat, lon columns and data rows")
    try:
        rows = csv.reader(io.StringIO(text))
        header: list[str] | None = None
        for header in rows:
            if any(cell.strip() for cell in header):
                break
        assert header is not None
        names = [cell.strip().lower() for cell in header]
        columns: dict[str, int] = {}
        for k, name in enumerate(names):
            if name not in _COLUMN_ALIASES:
                raise ObsError(
                    f"header (line {rows.line_num}): unknown column {header[k].strip()!r}; "
                    f"expected lat, lon and optionally variable, value"
                )
            key = _COLUMN_ALIASES[name]
            if key in columns:
                raise ObsError(f"header (line {rows.line_num}): column {key!r} appears twice")
            columns[key] = k
        missing = [c for c in ("lat", "lon") if c not in columns]
        if missing:
            raise ObsError(
                f"header (line {rows.line_num}): missing column(s) {missing}; "
                f"found {[h.strip() for h in header]}"
            )
        if "value" in columns and "variable" not in columns:
            raise ObsError("header: a 'value' column needs a 'variable' column naming what it is")
        if "variable" in columns and "value" not in columns:
            raise ObsError(
                "header: a 'variable' column needs a 'value' column "
                "(leave a value empty to sample the truth there)"
            )

        lats: list[float] = []
        lons: list[float] = []
        variables: list[str | None] = []
        values: list[float | None] = []
        lines: list[int] = []
        for row in rows:
            if not any(cell.strip() for cell in row):
                continue
            n = len(lats) + 1
            where = f"row {n} (line {rows.line_num})"
            if n > max_rows:
                raise ObsError(f"{where}: more than max_rows={max_rows} data rows")
            if len(row) != len(header):
                raise ObsError(f"{where}: expected {len(header)} fields, got {len(row)}")
            cells = {key: row[k].strip() for key, k in columns.items()}
            lat = _parse_number(cells["lat"], "lat", where)
            lon = _parse_number(cells["lon"], "lon", where)
            if not -90.0 <= lat <= 90.0:
                raise ObsError(f"{where}: lat {lat:g} outside [-90, 90]")
            if not -180.0 <= lon < 360.0:
                raise ObsError(f"{where}: lon {lon:g} outside [-180, 360)")
            var = cells.get("variable", "").lower() or None
            value = None
            if cells.get("value", ""):
                if var is None:
                    raise ObsError(f"{where}: value given without a variable")
                value = _parse_number(cells["value"], "value", where)
            if var is not None and var not in VARIABLES:
                raise ObsError(
                    f"{where}: unknown variable {cells['variable']!r}; "
                    f"known: {list(VARIABLE_NAMES)}"
                )
            lats.append(lat)
            lons.append(lon)
            variables.append(var)
            values.append(value)
            lines.append(rows.line_num)
    except csv.Error as err:
        raise ObsError(f"malformed CSV: {err}") from err
    if not lats:
        raise ObsError("CSV has a header but no data rows")

    ii, jj = nearest_grid_index(grid, np.array(lats), np.array(lons))
    nvar = len(VARIABLE_NAMES)
    mask = np.zeros((nvar, *grid.shape), dtype=bool)
    user = np.full((nvar, *grid.shape), np.nan)
    seen: dict[tuple[int, int, int], tuple[float | None, int]] = {}
    for r, (i, j, var, value) in enumerate(
        zip(ii.tolist(), jj.tolist(), variables, values, strict=True)
    ):
        targets = range(nvar) if var is None else (VARIABLE_NAMES.index(var),)
        for v in targets:
            key = (v, i, j)
            if key in seen and seen[key][0] != value:
                other_value, other = seen[key]
                raise ObsError(
                    f"rows {other + 1} and {r + 1} (lines {lines[other]} and {lines[r]}) give "
                    f"conflicting values for {VARIABLE_NAMES[v]!r} at the same grid point "
                    f"(lat {grid.lat[i]:.2f}, lon {grid.lon[j]:.2f}): "
                    f"{'truth' if other_value is None else other_value} vs "
                    f"{'truth' if value is None else value}"
                )
            seen[key] = (value, r)
            mask[v, i, j] = True
            if value is not None:
                user[v, i, j] = value
    has_values = "value" in columns and bool(np.isfinite(user).any())
    return PointObs(
        location_mask=mask.any(axis=0),
        mask=mask,
        values=user if has_values else None,
        n_rows=len(lats),
    )


# --- observations -------------------------------------------------------------------------------


@dataclass(eq=False)
class Observations:
    """Gridded observations over :data:`VARIABLE_NAMES`.

    ``mask`` bool (nvar, nlat, nlon); ``values`` float32, same shape, 0.0 where unobserved
    (never NaN, safe for arithmetic); ``noise_std`` float64 (nvar,) observation error standard
    deviations in physical units. Values are zeroed where unobserved on construction.
    """

    mask: np.ndarray
    values: np.ndarray
    noise_std: np.ndarray

    def __post_init__(self) -> None:
        nvar = len(VARIABLE_NAMES)
        self.mask = np.asarray(self.mask)
        if self.mask.dtype != bool or self.mask.ndim != 3 or self.mask.shape[0] != nvar:
            raise ObsError(
                f"mask must be a boolean array (nvar={nvar}, nlat, nlon), "
                f"got {self.mask.dtype} {self.mask.shape}"
            )
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.shape != self.mask.shape:
            raise ObsError(f"values shape {self.values.shape} != mask shape {self.mask.shape}")
        if not np.isfinite(self.values[self.mask]).all():
            raise ObsError("observed values must be finite")
        self.values = np.where(self.mask, self.values, np.float32(0.0))
        self.noise_std = np.asarray(self.noise_std, dtype=np.float64)
        if self.noise_std.shape != (nvar,):
            raise ObsError(f"noise_std must have shape ({nvar},), got {self.noise_std.shape}")
        if not (np.isfinite(self.noise_std).all() and (self.noise_std >= 0).all()):
            raise ObsError(f"noise_std must be finite and >= 0, got {self.noise_std.tolist()}")

    @property
    def count(self) -> int:
        """Number of observations (variable, grid point) pairs."""
        return int(self.mask.sum())

    @property
    def fraction(self) -> float:
        """Observed share of all (variable, grid point) pairs."""
        return self.count / self.mask.size

    @property
    def counts(self) -> dict[str, int]:
        """Number of observations per variable."""
        return {name: int(m.sum()) for name, m in zip(VARIABLE_NAMES, self.mask, strict=True)}

    def misfit(self, state: np.ndarray) -> float:
        """RMS of the normalised innovations (y - H x) / sigma_o of a state (C, nlat, nlon).

        About 1 for an analysis that fits the observations to within their error; the
        background's value (O-B) is the scale an analysis (O-A) should come well below.
        Perfect observations (sigma 0) are measured in units of the default error std.
        """
        x = np.asarray(state, dtype=np.float64)
        if x.shape != self.mask.shape:
            raise ObsError(f"state shape {x.shape} != observation shape {self.mask.shape}")
        default = np.array([DEFAULT_NOISE_STD[k] for k in VARIABLE_NAMES])
        std = np.where(self.noise_std > 0, self.noise_std, default)
        r = ((self.values - x) / std.reshape(-1, 1, 1))[self.mask]
        return float(np.sqrt(np.mean(r**2))) if r.size else float("nan")

    def to_dataset(self, grid: Grid) -> xr.Dataset:
        """xarray Dataset with ``<var>_obs`` (NaN where unobserved) and CF attributes."""
        if tuple(grid.shape) != self.mask.shape[1:]:
            raise ObsError(f"grid shape {grid.shape} != observation shape {self.mask.shape[1:]}")
        data_vars = {}
        for k, name in enumerate(VARIABLE_NAMES):
            attrs = dict(VARIABLES[name])
            attrs["observation_error_std"] = float(self.noise_std[k])
            data = np.where(self.mask[k], self.values[k], np.float32(np.nan))
            data_vars[f"{name}_obs"] = (("latitude", "longitude"), data, attrs)
        return xr.Dataset(
            data_vars,
            coords=grid.coords(),
            attrs={
                "Conventions": "CF-1.8",
                "title": "alignda gridded observations",
                "comment": "NaN marks grid points without an observation",
            },
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, grid: Grid | None = None) -> Observations:
        """Inverse of :meth:`to_dataset`. Missing ``<var>_obs`` variables are unobserved.

        With ``grid``, the dataset's coordinates must match it.
        """
        present = [name for name in VARIABLE_NAMES if f"{name}_obs" in ds]
        if not present:
            raise ObsError(f"dataset has none of {[f'{n}_obs' for n in VARIABLE_NAMES]}")
        first = ds[f"{present[0]}_obs"]
        shape = first.shape
        if grid is not None:
            for coord, ref in (("latitude", grid.lat), ("longitude", grid.lon)):
                if coord not in ds.coords or not np.allclose(ds[coord].values, ref):
                    raise ObsError(f"dataset {coord} does not match the grid")
        nvar = len(VARIABLE_NAMES)
        mask = np.zeros((nvar, *shape), dtype=bool)
        values = np.zeros((nvar, *shape), dtype=np.float32)
        noise = np.array([DEFAULT_NOISE_STD[n] for n in VARIABLE_NAMES], dtype=np.float64)
        for k, name in enumerate(VARIABLE_NAMES):
            if name not in present:
                continue
            da = ds[f"{name}_obs"]
            if da.dims != ("latitude", "longitude") or da.shape != shape:
                raise ObsError(f"{name}_obs must have dims (latitude, longitude) and shape {shape}")
            if "observation_error_std" not in da.attrs:
                raise ObsError(f"{name}_obs lacks the observation_error_std attribute")
            data = np.asarray(da.values, dtype=np.float32)
            if np.isinf(data).any():
                raise ObsError(f"{name}_obs contains inf")
            mask[k] = np.isfinite(data)
            values[k] = np.where(mask[k], data, np.float32(0.0))
            noise[k] = float(da.attrs["observation_error_std"])
        return cls(mask=mask, values=values, noise_std=noise)


def _resolve_noise_std(noise_std: Mapping[str, float] | float | None) -> np.ndarray:
    if noise_std is None:
        std = dict(DEFAULT_NOISE_STD)
    elif isinstance(noise_std, Mapping):
        try:
            check_variables(list(noise_std))
        except ValueError as err:
            raise ObsError(f"noise_std: {err}") from None
        std = {**DEFAULT_NOISE_STD, **noise_std}
    elif isinstance(noise_std, numbers.Real) and not isinstance(noise_std, bool):
        std = dict.fromkeys(VARIABLE_NAMES, noise_std)
    else:
        raise ObsError(f"noise_std must be a dict, a number or None, got {noise_std!r}")
    out = np.empty(len(VARIABLE_NAMES))
    for k, name in enumerate(VARIABLE_NAMES):
        value = std[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ObsError(f"noise_std[{name!r}] must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ObsError(f"noise_std[{name!r}] must be finite and >= 0, got {value!r}")
        out[k] = value
    return out


def _resolve_variables(variables: Sequence[str] | str | None) -> np.ndarray:
    """(nvar,) bool selection of the observed variables."""
    if variables is None:
        return np.ones(len(VARIABLE_NAMES), dtype=bool)
    names = [variables] if isinstance(variables, str) else list(variables)
    if not names:
        raise ObsError("variables is empty: name at least one of " + str(list(VARIABLE_NAMES)))
    try:
        check_variables(names)
    except ValueError as err:
        raise ObsError(str(err)) from None
    return np.array([name in names for name in VARIABLE_NAMES])


def _check_truth(truth: Any) -> np.ndarray:
    truth = np.asarray(truth)
    nvar = len(VARIABLE_NAMES)
    if truth.ndim != 3 or truth.shape[0] != nvar:
        raise ObsError(f"truth must have shape (nvar={nvar}, nlat, nlon), got {truth.shape}")
    if not np.issubdtype(truth.dtype, np.number) or np.iscomplexobj(truth):
        raise ObsError(f"truth must be real numbers, got dtype {truth.dtype}")
    if not np.isfinite(truth).all():
        bad = [VARIABLE_NAMES[k] for k in range(nvar) if not np.isfinite(truth[k]).all()]
        raise ObsError(f"truth has NaN or inf in {bad}")
    return truth


def observe(
    truth: np.ndarray,
    mask: np.ndarray | PointObs,
    rng: np.random.Generator,
    noise_std: Mapping[str, float] | float | None = None,
    variables: Sequence[str] | None = None,
) -> Observations:
    """Sample ``truth`` (nvar, nlat, nlon) at ``mask`` and add N(0, std**2) noise.

    ``mask`` is a location mask (nlat, nlon), applied to every selected variable, a full
    mask (nvar, nlat, nlon), or a :class:`PointObs` (see :func:`apply_user_points`); masks
    must be boolean (or 0/1). ``noise_std``: None for :data:`DEFAULT_NOISE_STD`, one number
    for all variables, or a dict (missing variables keep their default); 0 gives perfect
    observations. ``variables`` restricts the observed variables (default all). Noise is drawn
    in one call of ``rng.standard_normal`` in (variable, lat, lon) order of the observations.

    Raises ObsError for a wrong truth shape or non-finite truth, a bad mask, bad noise or
    unknown variables, and when nothing at all is observed.
    """
    if isinstance(mask, PointObs):
        return apply_user_points(mask, truth, rng, noise_std, variables)
    rng = _check_rng(rng)
    truth = _check_truth(truth)
    std = _resolve_noise_std(noise_std)
    selected = _resolve_variables(variables)
    m = np.asarray(mask)
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.number) or not np.isin(m, (0, 1)).all():
            raise ObsError(f"mask must be boolean (or 0/1), got dtype {m.dtype}")
        m = m.astype(bool)
    if m.shape == truth.shape[1:]:
        m = np.broadcast_to(m, truth.shape)
    elif m.shape != truth.shape:
        raise ObsError(
            f"mask shape {m.shape} matches neither the grid {truth.shape[1:]} "
            f"nor the truth {truth.shape}"
        )
    m = m & selected[:, None, None]
    count = int(m.sum())
    if count == 0:
        raise ObsError("no observations: the mask selects no grid points for the chosen variables")
    values = np.zeros(truth.shape, dtype=np.float64)
    per_point_std = np.broadcast_to(std[:, None, None], truth.shape)[m]
    values[m] = truth[m] + per_point_std * rng.standard_normal(count)
    with np.errstate(over="ignore"):
        values32 = values.astype(np.float32)
    if not np.isfinite(values32).all():
        raise ObsError("observed values overflow float32")
    return Observations(mask=np.array(m), values=values32, noise_std=std)


def scaled_noise_std(scale: float) -> dict[str, float]:
    """The default observation error std of every variable times ``scale``."""
    return {k: v * scale for k, v in DEFAULT_NOISE_STD.items()}


def observe_case(
    truth: np.ndarray,
    seed: int,
    *,
    pattern: str = "random",
    density: float | None = None,
    points: str | os.PathLike[str] | bytes | None = None,
    noise_scale: float = 1.0,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> Observations:
    """One truth state (C, nlat, nlon) observed as the app, the CLI and the case plots do.

    ``default_rng(seed)`` draws the network of ``pattern`` at ``density`` (unless ``points``,
    a CSV source for :func:`points_from_csv`, gives it), then the noise of std
    :func:`scaled_noise_std` (``noise_scale``).
    """
    grid = Grid(*np.shape(truth)[-2:])
    rng = np.random.default_rng(seed)
    if points is not None:
        where: np.ndarray | PointObs = points_from_csv(points, grid, max_rows=max_rows)
    else:
        where = make_mask(pattern, grid, rng, density=density)
    return observe(truth, where, rng, noise_std=scaled_noise_std(noise_scale))


def apply_user_points(
    points: PointObs,
    truth: np.ndarray,
    rng: np.random.Generator,
    noise_std: Mapping[str, float] | float | None = None,
    variables: Sequence[str] | None = None,
) -> Observations:
    """Observations at user points: the user's values where given, else noisy truth.

    User values are used as they are (no noise added); the other points are sampled from
    ``truth`` with noise as in :func:`observe`. ``noise_std`` is recorded as the observation
    error of every observation, user values included.
    """
    truth = _check_truth(truth)
    if points.mask.shape != truth.shape:
        raise ObsError(
            f"points were mapped to grid {points.mask.shape[1:]}, truth has shape {truth.shape}"
        )
    obs = observe(truth, points.mask, rng, noise_std, variables)
    given = points.value_mask & obs.mask
    if given.any():
        assert points.values is not None
        values = obs.values.copy()
        values[given] = points.values[given].astype(np.float32)
        if not np.isfinite(values).all():
            raise ObsError("user values overflow float32")
        obs = Observations(mask=obs.mask, values=values, noise_std=obs.noise_std)
    return obs
