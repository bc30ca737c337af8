"""Padding that respects the sphere for convolutions on lat-lon grids."""

from __future__ import annotations

import torch
from torch import nn


def sphere_pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """Pad (..., nlat, nlon) by ``p``: circular in longitude, across the poles in latitude.

    The neighbour beyond a pole is the row on the other side of the pole, 180 deg away in
    longitude (rows mirrored, columns rolled by nlon/2), so features flow over the poles.
    """
    if p == 0:
        return x
    nlon = x.shape[-1]
    north = torch.flip(x[..., :p, :], dims=(-2,)).roll(nlon // 2, dims=-1)
    south = torch.flip(x[..., -p:, :], dims=(-2,)).roll(nlon // 2, dims=-1)
    x = torch.cat((north, x, south), dim=-2)
    return torch.cat((x[..., -p:], x, x[..., :p]), dim=-1)


class SphereConv2d(nn.Conv2d):
    """Conv2d with :func:`sphere_pad` padding (odd kernel sizes, 'same' output size)."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(cin, cout, kernel_size, stride=stride, padding=0)
        self.pad = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(sphere_pad(x, self.pad))
