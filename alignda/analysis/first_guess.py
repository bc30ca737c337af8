"""The prior's conditional mean E[x | x_b] as the hybrid's first guess.

Tweedie's formula makes the denoiser at diffusion time t return E[x_0 | x_t]. At a high
noise level x_t tells little about x_0, so the average of the denoiser over draws
x_t = alpha(t) x_b' + sigma(t) eps (x_b' the background in the sampler's variable; zero for
an increment prior) estimates the prior's mean given the background: one batched denoiser
call instead of a sampled ensemble. Its decoded increment over the decoded background is
the prior's correction of the background; only its large scales (total wavenumber
l <= ``lmax``) are kept, which removes the remaining noise of the draws and the decoder's
small-scale error. The settings were chosen on 8 validation cases of world seed 2 (draws 8 /
16 / 32, l <= 6 / 10 / 15); there this first guess (t 0.7, 32 draws, l <= 15) has 3.5 % less
error than the background.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from alignda.model.diffusion import EpsilonDenoiser
from alignda.world.sphere import Sphere


class SamplerView(Protocol):
    """Maps between physical states and the sampler's variable for one background latent."""

    zb: torch.Tensor

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class FirstGuessSettings:
    """Diffusion time t of the denoiser call, number of draws, largest wavenumber kept."""

    t: float = 0.7
    draws: int = 32
    lmax: int = 15

    def __post_init__(self) -> None:
        if not 0.0 < self.t < 1.0:
            raise ValueError(f"first-guess diffusion time must be in (0, 1), got {self.t}")
        if not 1 <= self.draws <= 64:
            raise ValueError(f"first-guess draws must be in 1..64, got {self.draws}")
        if self.lmax < 0:
            raise ValueError(f"first-guess lmax must be >= 0, got {self.lmax}")


def large_scales(field: np.ndarray | torch.Tensor, sphere: Sphere, lmax: int):
    """The part of gridded fields (..., nlat, nlon) with total wavenumber l <= lmax (a tensor
    gives a differentiable float64 tensor, an array an array)."""
    spec = sphere.to_spec(torch.as_tensor(field, dtype=torch.float64))
    out = sphere.to_grid(spec * (sphere.ell <= lmax))
    return out if torch.is_tensor(field) else out.numpy()


def mean_increment(
    denoiser: EpsilonDenoiser, view: SamplerView, x_b: torch.Tensor, eps: torch.Tensor, t: float
) -> torch.Tensor:
    """The decoded increment (C, nlat, nlon) of the denoiser's mean over the draws
    ``x_t = alpha(t) x_b + sigma(t) eps`` (``eps``: (draws, ...)) over the decoded ``x_b``
    (the background in the sampler's variable, (1, ...)); differentiable in the denoiser."""
    tt = torch.tensor(t)
    alpha, sigma = denoiser.schedule(tt)
    z_b = view.zb.expand(len(eps), *view.zb.shape[1:])
    mean = denoiser(alpha * x_b + sigma * eps, tt, z_b=z_b).mean.mean(0, keepdim=True)
    return (view.decode(mean) - view.decode(x_b))[0]


def prior_mean_first_guess(
    denoiser: EpsilonDenoiser,
    view: SamplerView,
    background: np.ndarray,
    sphere: Sphere,
    generator: torch.Generator,
    settings: FirstGuessSettings | None = None,
) -> np.ndarray:
    """Background plus the large scales of the prior's mean increment (module docstring).

    ``denoiser``: the prior's (unguided) denoiser; ``view``: the sampler's codec for the
    background's latent ``view.zb`` (``encode``/``decode`` between physical state and sampler
    variable, as :class:`~alignda.analysis.score.SampleCodec`).
    """
    s = settings or FirstGuessSettings()
    bg = np.asarray(background, dtype=np.float64)
    with torch.no_grad():
        x_b = view.encode(torch.as_tensor(bg, dtype=torch.float32)[None])
        eps = torch.randn((s.draws, *x_b.shape[1:]), generator=generator)
        increment = mean_increment(denoiser, view, x_b, eps, s.t).double().numpy()
    return bg + large_scales(increment, sphere, s.lmax)
