"""Balanced control variables: (z, u, v, q) <-> (psi, chi, z_unbalanced, q) on the grid.

The winds split into a non-divergent part (streamfunction psi) and an irrotational part
(velocity potential chi); the height splits into the part in linear balance with psi and the
rest, z_u = z - M(psi), with M: del^2 (g z_b) = div(f grad psi). This is the control-variable
transform of operational variational DA (and of this package's 3D-Var); the latent codec uses
it so that a decoded psi error is a *balanced* error of height and winds together.

Both directions go through the spherical-harmonic transforms of
:class:`~alignda.world.sphere.Sphere`
at T42, so :meth:`ControlTransform.to_state` of any grid field is band-limited: grid-scale
noise a decoder might produce is projected away before it reaches the physical fields.
"""

from __future__ import annotations

import torch
from torch import nn

from alignda.world.sphere import GRAVITY, Sphere

CONTROL_NAMES = ("psi", "chi", "z_unbalanced", "tracer")


def balanced_height(sphere: Sphere, psi: torch.Tensor) -> torch.Tensor:
    """Height spectra (m) in linear balance with streamfunction spectra psi (m2 s-1)."""
    gx, gy = sphere.grad(psi)
    _, div = sphere.vrtdiv(sphere.coriolis * gx, sphere.coriolis * gy)
    return sphere.invlap * div / GRAVITY


class ControlTransform(nn.Module):
    """Physical state (B, 4, nlat, nlon) <-> control fields (B, 4, nlat, nlon), both on the grid.

    ``to_controls`` then ``to_state`` reproduces a T42 band-limited state to float precision
    (the global means of psi and chi carry no wind and are zero).
    """

    def __init__(self, sphere: Sphere | None = None) -> None:
        super().__init__()
        self.sphere = sphere or Sphere()

    def to_controls(self, x: torch.Tensor) -> torch.Tensor:
        """(z, u, v, q) -> (psi, chi, z_u, q) on the grid."""
        sp = self.sphere
        vrt, div = sp.vrtdiv(x[:, 1], x[:, 2])
        psi, chi = sp.invlap * vrt, sp.invlap * div
        zq = sp.to_spec(x[:, [0, 3]])
        zu = zq[:, 0] - balanced_height(sp, psi)
        return sp.to_grid(torch.stack((psi, chi, zu, zq[:, 1]), dim=1))

    def to_state(self, c: torch.Tensor) -> torch.Tensor:
        """(psi, chi, z_u, q) on the grid -> (z, u, v, q), band-limited at the truncation."""
        sp = self.sphere
        s = sp.to_spec(c)
        psi, chi, zu, q = s.unbind(dim=1)
        u, v = sp.uv(sp.lap * psi, sp.lap * chi)
        zq = sp.to_grid(torch.stack((zu + balanced_height(sp, psi), q), dim=1))
        return torch.stack((zq[:, 0], u, v, zq[:, 1]), dim=1)
