"""The networks' sphere padding: equivariant to longitude shifts, continuous across the poles."""

from __future__ import annotations

import numpy as np
import torch

from alignda.model.nn.spherepad import SphereConv2d, sphere_pad
from alignda.world.grid import Grid


def test_sphere_conv_commutes_with_longitude_shifts() -> None:
    torch.manual_seed(0)
    conv = SphereConv2d(4, 6, kernel_size=5)
    x = torch.randn(2, 4, 16, 32)
    for k in (1, 7, 16):
        rolled = conv(x.roll(k, dims=-1))
        torch.testing.assert_close(rolled, conv(x).roll(k, dims=-1), atol=1e-5, rtol=1e-5)


def test_padding_continues_a_smooth_field_over_the_poles() -> None:
    grid = Grid(16, 32)
    lat, lon = np.deg2rad(grid.lat)[:, None], np.deg2rad(grid.lon)[None, :]
    # a Cartesian coordinate of the unit sphere: smooth everywhere, poles included
    x = torch.from_numpy(np.cos(lat) * np.cos(lon) + np.sin(lat) * 0.3)
    p = 2
    padded = sphere_pad(x, p)
    # Beyond the north pole, row j mirrors row j on the other side: same colatitude,
    # longitude + 180 deg, so the field there is f(lat_j, lon + pi).
    for j in range(p):
        beyond = np.cos(lat[j]) * np.cos(lon + np.pi) + np.sin(lat[j]) * 0.3
        np.testing.assert_allclose(padded[p - 1 - j, p:-p].numpy(), beyond[0], atol=1e-12)
    # Periodic in longitude: the halo columns are the other edge.
    torch.testing.assert_close(padded[p:-p, :p], x[:, -p:])
    torch.testing.assert_close(padded[p:-p, -p:], x[:, :p])
