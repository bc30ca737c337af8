"""Balance of heights and winds: diagnostics on any lat-lon grid, and fields derived by balance.

The geostrophic wind of a height field z is u_g = -(g/f) dz/dy, v_g = (g/f) dz/dx. The
deviation of the actual wind from it, D = 0.5 (|u - u_g| / |u| + |v - v_g| / |v|), with
area-weighted means over the extratropics (|lat| >= 15 deg, where f is not small), is the
basis of the paper's Geo-Score. Every function takes numpy arrays or torch tensors; on
tensors it is differentiable (the reward-gradient fine-tune minimises D through the decoder).

On the model's Gaussian grid (spectral): :func:`height_from_winds` (nonlinear balance, as the
twin world builds its states) and :func:`winds_from_height` (geostrophic, the whole globe) fill
in what a real file lacks.
"""

from __future__ import annotations

import numpy as np
import torch

from alignda.world.grid import Grid, cell_area_weights
from alignda.world.sphere import EARTH_OMEGA, EARTH_RADIUS, GRAVITY, Sphere

TROPICS_DEG = 15.0
#: Nearer the equator, derived geostrophic winds use the Coriolis parameter of this latitude.
GEOSTROPHIC_MIN_LAT = 10.0


def _tensor(a, like: torch.Tensor | None = None) -> torch.Tensor:
    dtype = torch.float64 if like is None else like.dtype
    device = None if like is None else like.device
    return torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a).to(device, dtype)


def _geostrophic_wind(
    z: torch.Tensor, lat: np.ndarray, lon: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """(u_g, v_g) of a height tensor; 0 (not NaN) in the tropics so gradients stay finite."""
    phi = _tensor(np.deg2rad(np.asarray(lat, dtype=np.float64)), z)
    dlam = float(np.mean(np.diff(np.deg2rad(np.asarray(lon, dtype=np.float64)))))
    dzdx = (torch.roll(z, -1, dims=-1) - torch.roll(z, 1, dims=-1)) / (2 * dlam)
    dzdx = dzdx / (EARTH_RADIUS * torch.cos(phi)[:, None])
    dzdy = torch.gradient(z, spacing=(phi,), dim=-2)[0] / EARTH_RADIUS
    extratropics = torch.as_tensor(np.abs(np.asarray(lat)) >= TROPICS_DEG, device=z.device)
    f = torch.where(extratropics, 2 * EARTH_OMEGA * torch.sin(phi), torch.ones_like(phi))
    g_over_f = torch.where(extratropics, GRAVITY / f, torch.zeros_like(f))[:, None]
    return -g_over_f * dzdy, g_over_f * dzdx


def geostrophic_wind(z, lat: np.ndarray, lon: np.ndarray) -> tuple:
    """(u_g, v_g) in m/s of height z (m), arrays (..., nlat, nlon); NaN where |lat| < 15 deg.

    Centred differences: periodic in longitude, second order in latitude (one-sided at the
    first/last latitude).
    """
    if torch.is_tensor(z):
        return _geostrophic_wind(z, lat, lon)
    ug, vg = (a.numpy() for a in _geostrophic_wind(_tensor(z), lat, lon))
    tropics = (np.abs(np.asarray(lat)) < TROPICS_DEG)[:, None]
    return np.where(tropics, np.nan, ug), np.where(tropics, np.nan, vg)


def geostrophic_deviation(z, u, v, lat: np.ndarray, lon: np.ndarray):
    """D = 0.5 (<|u-u_g|>/<|u|> + <|v-v_g|>/<|v|>), area-weighted over |lat| >= 15 deg.

    Returns one value per leading index (shape z.shape[:-2]); 0 means exactly geostrophic.
    Tensors in, tensor out (differentiable); arrays in, float64 array out.
    """
    if not torch.is_tensor(z):
        z, u, v = (_tensor(a) for a in (z, u, v))
        return geostrophic_deviation(z, u, v, lat, lon).numpy()
    ug, vg = _geostrophic_wind(z, lat, lon)
    w = cell_area_weights(lat) * (np.abs(np.asarray(lat)) >= TROPICS_DEG)
    w = _tensor(w, z)[:, None].expand(z.shape[-2:])

    def mean(a: torch.Tensor) -> torch.Tensor:
        return (a * w).sum(dim=(-2, -1)) / w.sum()

    du = mean((u - ug).abs()) / mean(u.abs()).clamp_min(1e-12)
    dv = mean((v - vg).abs()) / mean(v.abs()).clamp_min(1e-12)
    return 0.5 * (du + dv)


def height_from_winds(u: np.ndarray, v: np.ndarray, mean_height: float, grid: Grid) -> np.ndarray:
    """Height (m) in nonlinear balance with the rotational part of (u, v), global mean given."""
    sphere = Sphere(grid, dtype=torch.float64)
    with torch.no_grad():
        vrt, _ = sphere.vrtdiv(torch.from_numpy(u), torch.from_numpy(v))
        phi = sphere.to_grid(sphere.balanced_geopotential(vrt)).numpy()
    phi = phi - grid.area_mean(phi)[..., None, None]
    return mean_height + phi / GRAVITY


def winds_from_height(z: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Winds (u, v in m/s) in geostrophic balance with the height ``z`` (m), rotational part.

    u = -(g / f) dz/dy, v = (g / f) dz/dx with f held at its +-:data:`GEOSTROPHIC_MIN_LAT` value
    nearer the equator; the divergent part is dropped. On twin-world states the result
    correlates at 0.99 with the true winds poleward of 20 degrees.
    """
    sphere = Sphere(grid, dtype=torch.float64)
    lat = np.deg2rad(grid.lat)
    sin_lat = np.sin(np.maximum(np.abs(lat), np.deg2rad(GEOSTROPHIC_MIN_LAT)))
    f = torch.from_numpy(2 * EARTH_OMEGA * np.sign(lat) * sin_lat).reshape(-1, 1)
    with torch.no_grad():
        dzdx, dzdy = sphere.grad(sphere.to_spec(torch.from_numpy(np.asarray(z, np.float64))))
        vrt, _ = sphere.vrtdiv(-GRAVITY * dzdy / f, GRAVITY * dzdx / f)
        u, v = sphere.uv(vrt, torch.zeros_like(vrt))
    return u.numpy(), v.numpy()
