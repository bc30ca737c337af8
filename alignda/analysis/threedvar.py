"""3D-Var baseline with a static, balanced, homogeneous-isotropic background-error covariance.

Control variables (each a spectral field with its own variance spectrum sigma_k(l)):
streamfunction psi, velocity potential chi, unbalanced height z_u and tracer q. Height is
z = beta(l) * M(psi) + z_u with the linear-balance operator M: del^2 (g z_b) = div(f grad psi),
so height and wind errors are geostrophically coupled outside the tropics (the Parrish-Derber
/ ECMWF "balance operator" construction). With the control-variable transform
dx = L c (B = L L^T) the cost J(c) = |c|^2 / 2 + |R^-1/2 (d - H L c)|^2 / 2 is quadratic;
its minimiser solves (I + L^T H^T R^-1 H L) c = L^T H^T R^-1 d, done by conjugate gradient
(scipy) with the adjoint L^T from torch autograd.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from alignda.analysis.variational import batched_analysis, variational_analysis
from alignda.obs.operator import Observations
from alignda.world.controls import CONTROL_NAMES, balanced_height
from alignda.world.sphere import Sphere


@dataclass
class BackgroundError:
    """Variance spectra (sigma, (4, lmax), control-variable order) and balance regression beta."""

    sigma: torch.Tensor
    beta: torch.Tensor

    def save(self, path: str | Path) -> Path:
        """Write as safetensors."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"sigma": self.sigma.contiguous(), "beta": self.beta.contiguous()}
        save_file(tensors, str(path), metadata={"controls": ",".join(CONTROL_NAMES)})
        return path

    @classmethod
    def load(cls, path: str | Path) -> BackgroundError:
        """Read a file written by :meth:`save`."""
        from safetensors.torch import load_file

        from alignda.checkpoints import reading

        with reading(path, "the 3D-Var background error (sigma, beta)"):
            t = load_file(str(path))
            return cls(t["sigma"].double(), t["beta"].double())


class ThreeDVar:
    """The 3D-Var analysis on the world grid (float64 throughout)."""

    def __init__(self, berr: BackgroundError, sphere: Sphere | None = None) -> None:
        self.sphere = sphere or Sphere(dtype=torch.float64)
        if berr.sigma.shape != (4, self.sphere.lmax):
            raise ValueError(
                f"background error has shape {tuple(berr.sigma.shape)}, grid needs "
                f"(4, {self.sphere.lmax})"
            )
        ell = self.sphere.ell.to(torch.long)
        self._sigma = berr.sigma.double()[:, ell]  # (4, lmax, mmax)
        self._beta = berr.beta.double()[ell]
        self.berr = berr

    def to(self, device: torch.device | str) -> ThreeDVar:
        """Move its operators to ``device`` (float64 there too); returns itself."""
        self.sphere = self.sphere.to(device)
        self._sigma, self._beta = self._sigma.to(device), self._beta.to(device)
        return self

    @property
    def device(self) -> torch.device:
        """Where its operators live (analyses come back as numpy arrays from anywhere)."""
        return self._sigma.device

    @property
    def control_shape(self) -> tuple[int, int, int, int]:
        """Shape of a control vector: (psi, chi, z_u, q) spectra as real pairs."""
        return (4, self.sphere.lmax, self.sphere.mmax, 2)

    def increment(self, control: torch.Tensor) -> torch.Tensor:
        """L: control (..., 4, lmax, mmax, 2) real -> grid increments (..., 4, nlat, nlon):
        z, u, v, q (leading dimensions: independent controls)."""
        sp = self.sphere
        c = torch.view_as_complex(control) * self._sigma
        psi, chi, zu, q = c.unbind(-3)
        z = self._beta * balanced_height(sp, psi) + zu
        u, v = sp.uv(sp.lap * psi, sp.lap * chi)
        zq = sp.to_grid(torch.stack((z, q), dim=-3))
        return torch.stack((zq[..., 0, :, :], u, v, zq[..., 1, :, :]), dim=-3)

    def covariance_column(self, variable: int, row: int, col: int) -> np.ndarray:
        """B e_k: the column of the background-error covariance at one grid value (variable
        index, latitude row, longitude column), as fields (4, nlat, nlon) in physical units.
        It is what 3D-Var spreads a single observation there into (the B-row)."""
        unit = torch.zeros((4, *self.sphere.grid.shape), dtype=torch.float64)
        unit[variable, row, col] = 1.0
        _, adjoint = torch.func.vjp(
            self.increment, torch.zeros(self.control_shape, dtype=torch.float64)
        )
        with torch.no_grad():
            return self.increment(adjoint(unit)[0]).numpy()

    def analyse(
        self,
        background: np.ndarray,
        obs: Observations,
        maxiter: int = 300,
        rtol: float = 1e-4,
        progress: bool = False,
    ) -> np.ndarray:
        """Analysis (C, nlat, nlon) from a background and gridded observations."""
        return variational_analysis(
            self.increment,
            self.control_shape,
            background,
            obs,
            maxiter,
            rtol,
            progress,
            "3D-Var CG",
        )

    def analyse_batch(
        self,
        backgrounds: np.ndarray,
        obs: Sequence[Observations],
        maxiter: int = 300,
        rtol: float = 1e-4,
    ) -> np.ndarray:
        """Analyses (N, C, nlat, nlon) of N independent backgrounds and observation sets,
        solved together (:func:`batched_analysis`): as :meth:`analyse` on each, faster."""
        return batched_analysis(
            self.increment, self.control_shape, backgrounds, obs, maxiter, rtol, self.device
        )


def fit_background_error(
    background: np.ndarray, truth: np.ndarray, sphere: Sphere | None = None
) -> BackgroundError:
    """Estimate the static B from (background - truth) pairs (N, 4, nlat, nlon).

    Errors are transformed to spectra of psi, chi, z, q; beta(l) regresses z on M(psi);
    sigma(l)^2 is the mean power per coefficient (m > 0 carry two real degrees of freedom).
    """
    sp = sphere or Sphere(dtype=torch.float64)
    e = torch.as_tensor(np.asarray(background) - np.asarray(truth), dtype=torch.float64)
    if e.ndim != 4 or e.shape[1] != 4 or not torch.isfinite(e).all():
        raise ValueError("need finite error arrays of shape (N, 4, nlat, nlon)")
    vrt, div = sp.vrtdiv(e[:, 1], e[:, 2])
    psi, chi = sp.invlap * vrt, sp.invlap * div
    zq = sp.to_spec(e[:, [0, 3]])
    zb = balanced_height(sp, psi)
    ell = sp.ell.to(torch.long)
    lmax = sp.lmax
    dof = torch.where(torch.arange(sp.mmax) == 0, 1.0, 2.0).double()
    valid = torch.ones(lmax, sp.mmax, dtype=torch.bool).tril()

    def per_l(x: torch.Tensor) -> torch.Tensor:
        """Sum over samples and m of x, per total wavenumber l."""
        x = (x * valid).sum(0)
        return torch.zeros(lmax, dtype=torch.float64).index_add_(0, ell.reshape(-1), x.reshape(-1))

    def power(a: torch.Tensor) -> torch.Tensor:
        return a.real**2 + a.imag**2

    count = per_l((dof * valid).expand(e.shape[0], -1, -1))
    cross = per_l((zq[:, 0] * zb.conj()).real)
    beta = torch.where(per_l(power(zb)) > 0, cross / per_l(power(zb)).clamp(min=1e-30), 0.0)
    zu = zq[:, 0] - beta[ell] * zb
    sigma = torch.stack([(per_l(power(a)) / count).sqrt() for a in (psi, chi, zu, zq[:, 1])])
    sigma[:2, 0] = 0.0  # the mean of psi and chi carries no wind
    return BackgroundError(sigma=sigma, beta=beta)
