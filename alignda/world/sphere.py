"""Spectral calculus on the sphere, built on torch-harmonics' spherical harmonic transforms.

One home for the transforms and the differential operators that the world model, the initial
states and the 3D-Var share. Fields are real tensors (..., nlat, nlon) on the Gaussian grid of
:mod:`alignda.world.grid`; spectra are complex tensors (..., lmax, mmax) (triangular truncation).
"""

from __future__ import annotations

import numpy as np
import torch
import torch_harmonics as th
from torch import nn

from alignda.world.grid import Grid

EARTH_RADIUS = 6.371e6  # m
EARTH_OMEGA = 7.292e-5  # rad s-1
GRAVITY = 9.80616  # m s-2


def _legendre(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Contract complex (..., a, m) with real tables (m, b, a) -> complex (..., b, m).

    One batched matmul over the order m for all leading dimensions and both real and
    imaginary parts (torch-harmonics runs one einsum per part and per table).
    """
    *lead, a, m = x.shape
    xr = torch.view_as_real(x.reshape(-1, a, m))  # (N, a, m, 2)
    n = xr.shape[0]
    xr = xr.permute(2, 1, 0, 3).reshape(m, a, 2 * n)
    out = torch.bmm(w, xr).reshape(m, -1, n, 2).permute(2, 1, 0, 3).contiguous()
    return torch.view_as_complex(out).reshape(*lead, -1, m)


class FastRealSHT(th.RealSHT):
    """torch-harmonics' RealSHT (its quadrature tables) with the contraction as one matmul."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = 2.0 * torch.pi * torch.fft.rfft(x, dim=-1, norm="forward")
        return _legendre(x[..., : self.mmax], self.weights)


class FastInverseRealSHT(th.InverseRealSHT):
    """torch-harmonics' InverseRealSHT with the contraction as one matmul."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("table", self.pct.transpose(1, 2).contiguous(), persistent=False)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return _irfft(_legendre(s, self.table), self.nlon)


class FastRealVectorSHT(th.RealVectorSHT):
    """torch-harmonics' RealVectorSHT (spheroidal, toroidal) as one matmul.

    With the tables W0, W1 and the transformed components X0 (u), X1 (v):
    spheroidal = W0 X0 + i W1 X1 and toroidal = i W1 X0 - W0 X1.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        table = torch.cat((self.weights[0], self.weights[1]), dim=1)
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = 2.0 * torch.pi * torch.fft.rfft(x, dim=-1, norm="forward")
        return _vector_combine(_legendre(x[..., : self.mmax], self.table), self.lmax)


class FastInverseRealVectorSHT(th.InverseRealVectorSHT):
    """torch-harmonics' InverseRealVectorSHT with the contraction as one matmul."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        d = self.dpct
        table = torch.cat((d[0].transpose(1, 2), d[1].transpose(1, 2)), dim=1).contiguous()
        self.register_buffer("table", table, persistent=False)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return _irfft(_vector_combine(_legendre(s, self.table), self.nlat), self.nlon)


def _vector_combine(a: torch.Tensor, n: int) -> torch.Tensor:
    """(..., 2 components, 2n, m) products with [W0; W1] -> (spheroidal, toroidal)."""
    c0, c1 = a[..., :n, :].unbind(-3), a[..., n:, :].unbind(-3)  # per component: W0 X, W1 X
    return torch.stack((c0[0] + 1j * c1[1], 1j * c1[0] - c0[1]), dim=-3)


def _irfft(x: torch.Tensor, nlon: int) -> torch.Tensor:
    """Real field from Fourier coefficients (the m = 0 imaginary part dropped)."""
    x = x.clone()
    x[..., 0].imag = 0.0
    if nlon % 2 == 0 and nlon // 2 < x.shape[-1]:
        x[..., nlon // 2].imag = 0.0
    return torch.fft.irfft(x, n=nlon, dim=-1, norm="forward")


class Sphere(nn.Module):
    """Transforms and operators for one grid and truncation.

    With 64 Gaussian latitudes the default truncation T42 (``lmax = mmax = 43``) is alias-free
    for quadratic products, the classic T42 transform grid.
    """

    def __init__(
        self,
        grid: Grid | None = None,
        truncation: int | None = None,
        radius: float = EARTH_RADIUS,
        omega: float = EARTH_OMEGA,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.grid = grid or Grid()
        nlat, nlon = self.grid.shape
        lmax = (truncation if truncation is not None else (2 * nlat - 1) // 3) + 1
        self.lmax = self.mmax = lmax
        self.radius = radius
        kw = dict(lmax=lmax, mmax=lmax, grid="legendre-gauss", csphase=False)
        self.sht = FastRealSHT(nlat, nlon, **kw).to(dtype)
        self.isht = FastInverseRealSHT(nlat, nlon, **kw).to(dtype)
        self.vsht = FastRealVectorSHT(nlat, nlon, **kw).to(dtype)
        self.ivsht = FastInverseRealVectorSHT(nlat, nlon, **kw).to(dtype)
        ell = torch.arange(lmax, dtype=torch.float64).reshape(-1, 1).expand(lmax, lmax)
        lap = -ell * (ell + 1) / radius**2
        invlap = torch.where(ell > 0, 1.0 / torch.where(ell > 0, lap, -1.0), 0.0)
        lat = torch.from_numpy(np.deg2rad(self.grid.lat))
        self.register_buffer("ell", ell.to(dtype).clone())
        self.register_buffer("lap", lap.to(dtype))
        self.register_buffer("invlap", invlap.to(dtype))
        self.register_buffer("coriolis", (2 * omega * torch.sin(lat)).reshape(-1, 1).to(dtype))
        self.register_buffer("coslat", torch.cos(lat).reshape(-1, 1).to(dtype))

    # --- transforms -------------------------------------------------------------------------
    def to_spec(self, x: torch.Tensor) -> torch.Tensor:
        """Scalar field(s) -> spectral coefficients."""
        return self.sht(x)

    def to_grid(self, s: torch.Tensor) -> torch.Tensor:
        """Spectral coefficients -> scalar field(s)."""
        return self.isht(s)

    # --- vector calculus --------------------------------------------------------------------
    def vrtdiv(self, u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Spectra of relative vorticity and divergence of the wind (u east, v north)."""
        s = self.lap * self.radius * self.vsht(torch.stack((u, v), dim=-3))
        return s[..., 0, :, :], s[..., 1, :, :]

    def uv(self, vrt: torch.Tensor, div: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Wind (u, v) on the grid from spectra of vorticity and divergence."""
        w = self.ivsht(self.invlap * torch.stack((vrt, div), dim=-3) / self.radius)
        return w[..., 0, :, :], w[..., 1, :, :]

    def grad(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradient (eastward, northward components) on the grid of a scalar given by spectra."""
        return self.uv(torch.zeros_like(s), self.lap * s)

    def spectral_filter(self, order: int = 4) -> torch.Tensor:
        """(l(l+1) / L(L+1))**order, the shape of a del^(2*order) hyperdiffusion."""
        top = self.ell[-1, 0] * (self.ell[-1, 0] + 1)
        return (self.ell * (self.ell + 1) / top) ** order

    def balanced_geopotential(self, vrt: torch.Tensor) -> torch.Tensor:
        """Geopotential spectra in nonlinear balance with a non-divergent flow of vorticity ``vrt``.

        Solves the divergence equation with zero divergence and zero tendency,
        del^2 (phi + |u|^2 / 2) = k . curl((zeta + f) u); the global mean (l = 0) is zero.
        """
        u, v = self.uv(vrt, torch.zeros_like(vrt))
        abs_vrt = self.to_grid(vrt) + self.coriolis
        curl, _ = self.vrtdiv(u * abs_vrt, v * abs_vrt)
        phi = self.invlap * curl - self.to_spec(0.5 * (u**2 + v**2))
        phi[..., 0, 0] = 0.0
        return phi
