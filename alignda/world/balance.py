"""Geostrophic balance diagnostics on any regular lat-lon grid (finite differences).

The geostrophic wind of a height field z is u_g = -(g/f) dz/dy, v_g = (g/f) dz/dx. The
deviation of the actual wind from it, D = 0.5 (|u - u_g| / |u| + |v - v_g| / |v|), with
area-weighted means over the extratropics (|lat| >= 15 deg, where f is not small), is the
basis of the paper's Geo-Score.
"""

from __future__ import annotations

import numpy as np

from alignda.world.grid import cell_area_weights
from alignda.world.sphere import EARTH_OMEGA, EARTH_RADIUS, GRAVITY

TROPICS_DEG = 15.0


def geostrophic_wind(
    z: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(u_g, v_g) in m/s of height z (m), arrays (..., nlat, nlon); NaN where |lat| < 15 deg.

    Centred differences: periodic in longitude, one-sided at the first/last latitude.
    """
    z = np.asarray(z, dtype=np.float64)
    phi = np.deg2rad(np.asarray(lat, dtype=np.float64))
    lam = np.deg2rad(np.asarray(lon, dtype=np.float64))
    dlam = float(np.mean(np.diff(lam)))
    dzdx = (np.roll(z, -1, axis=-1) - np.roll(z, 1, axis=-1)) / (2 * dlam)
    dzdx = dzdx / (EARTH_RADIUS * np.cos(phi)[:, None])
    dzdy = np.gradient(z, phi, axis=-2) / EARTH_RADIUS
    f = 2 * EARTH_OMEGA * np.sin(phi)[:, None]
    f = np.where(np.abs(np.asarray(lat))[:, None] >= TROPICS_DEG, f, np.nan)
    return -GRAVITY * dzdy / f, GRAVITY * dzdx / f


def geostrophic_deviation(
    z: np.ndarray, u: np.ndarray, v: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> np.ndarray:
    """D = 0.5 (<|u-u_g|>/<|u|> + <|v-v_g|>/<|v|>), area-weighted over |lat| >= 15 deg.

    Returns one value per leading index (shape z.shape[:-2]); 0 means exactly geostrophic.
    """
    ug, vg = geostrophic_wind(z, lat, lon)
    w = cell_area_weights(lat)[:, None] * (np.abs(np.asarray(lat)) >= TROPICS_DEG)[:, None]
    w = np.broadcast_to(w, ug.shape[-2:])

    def mean(a: np.ndarray) -> np.ndarray:
        return np.nansum(a * w, axis=(-2, -1)) / w.sum()

    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    du = mean(np.abs(u - ug)) / np.maximum(mean(np.abs(u)), 1e-12)
    dv = mean(np.abs(v - vg)) / np.maximum(mean(np.abs(v)), 1e-12)
    return 0.5 * (du + dv)
