"""Geometry of observing on the sphere: nearest grid points, ground tracks, great circles."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from alignda.obs.checks import (
    ObsError,
    check_positive_int,
)
from alignda.world.grid import Grid

TRACK_STEP_KM = 10.0
SWATH_SAMPLES_PER_ORBIT = 2000  # 20 km along-track spacing
EARTH_RADIUS_KM = 6371.0


ORBIT_PERIOD_MIN = 101.0  # a typical sun-synchronous polar orbiter


SIDEREAL_DAY_MIN = 1436.068


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


def ground_track(
    n_orbits: int,
    start_lon: float,
    inclination_deg: float = 98.7,
    samples_per_orbit: int = SWATH_SAMPLES_PER_ORBIT,
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-satellite (lat, lon) in degrees along ``n_orbits`` consecutive circular orbits.

    The orbit starts at its ascending node at ``start_lon``; its period is
    ``ORBIT_PERIOD_MIN`` and the Earth turns beneath it (about 25 degrees west per orbit).
    Nodal precession is ignored. Longitudes are wrapped to [0, 360).
    """
    n_orbits = check_positive_int(n_orbits, "n_orbits")
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


def window_distances(
    grid: Grid, n_orbits: int, start_lon: float, inclination_deg: float
) -> Iterator[np.ndarray]:
    """Distance fields (km) to the ground track of the first 1, 2, ..., n_orbits orbits.

    The observing window is cut straight across the track at its start and end: a point
    whose nearest track sample is the window's first or last one lies beyond the window
    (its foot on the track is outside it) and gets distance inf.
    """
    lat, lon = ground_track(n_orbits, start_lon, inclination_deg)
    m = SWATH_SAMPLES_PER_ORBIT
    inner: np.ndarray | None = None  # distance to the orbits before this one
    for k in range(n_orbits):
        part = slice(k * m, (k + 1) * m + 1)
        dist, at_start, at_end = _track_distance_km(grid, lat[part], lon[part])
        if k == 0:
            dist = np.where(at_start, np.inf, dist)
        window = np.where(at_end, np.inf, dist)
        yield window if inner is None else np.minimum(inner, window)
        inner = dist if inner is None else np.minimum(inner, dist)


def great_circle_points(
    lat1: float, lon1: float, lat2: float, lon2: float, step_km: float = TRACK_STEP_KM
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
