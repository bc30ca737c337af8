"""Observation networks: where observations are, as boolean masks on the grid."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from alignda.obs.checks import (
    ObsError,
    check_fraction,
    check_inclination,
    check_positive_float,
    check_positive_int,
    check_rng,
)
from alignda.obs.geometry import (
    great_circle_points,
    nearest_grid_index,
    window_distances,
)
from alignda.world.grid import Grid

#: Default fraction of grid points observed by :func:`make_mask`.
DEFAULT_DENSITY = 0.01


#: Observation patterns known to :func:`make_mask`.
PATTERNS: tuple[str, ...] = ("random", "stations", "swaths", "tracks")


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


_TRACK_OVERSHOOT = 1.25  # make_mask("tracks") skips routes that overshoot the density by more


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


def random_mask(grid: Grid, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``round(fraction * npoints)`` (at least 1) distinct random grid points.

    Points are drawn without replacement with probability proportional to the cell area
    (``grid.weights``), so they are uniform over the sphere: the many small cells near the
    poles are not over-sampled. ``fraction`` must be in (0, 1]; 1 observes every point.
    """
    fraction = check_fraction(fraction)
    rng = check_rng(rng)
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

    fraction = check_fraction(fraction)
    rng = check_rng(rng)
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
    n_orbits = check_positive_int(n_orbits, "n_orbits")
    rng = check_rng(rng)
    width = check_positive_float(swath_width_km, "swath_width_km")
    inclination = check_inclination(inclination_deg)
    start_lon = rng.uniform(0.0, 360.0)
    *_, dist = window_distances(grid, n_orbits, start_lon, inclination)
    return dist <= 0.5 * width


def draw_routes(n_tracks: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """``n_tracks`` distinct hub pairs from :data:`HUBS` (a random prefix of all pairs).

    For one seed, the routes drawn for ``n`` tracks are the first ``n`` of those drawn for
    any larger number, so networks grow by adding routes.
    """
    n_tracks = check_positive_int(n_tracks, "n_tracks")
    rng = check_rng(rng)
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
    rng = check_rng(rng)
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

    density = check_fraction(density, "density")
    if pattern == "random":
        return random_mask(grid, density, rng)
    if pattern == "stations":
        return station_mask(grid, density, rng, **kwargs)
    npoints = grid.nlat * grid.nlon
    if pattern == "swaths":
        width = check_positive_float(kwargs.get("swath_width_km", 1500.0), "swath_width_km")
        inclination = check_inclination(kwargs.get("inclination_deg", 98.7))
        # same draw as swath_mask, so the result equals swath_mask(grid, n, rng, width, ...)
        start_lon = rng.uniform(0.0, 360.0)
        fractions, cumulative = [], []
        for dist in window_distances(grid, MAX_AUTO_ORBITS, start_lon, inclination):
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
