"""Score-based prior machinery on azula's schedule / denoiser / sampler split.

- :class:`SDACosineSchedule`: the VP cosine schedule of score-based data assimilation
  (Rozet & Louppe 2023): alpha(t) = cos(arccos(sqrt(eta)) t)^2, sigma(t) = sqrt(1 - alpha^2
  + eta^2), eta = 1e-3.
- :class:`EpsilonDenoiser`: wraps an epsilon-prediction network as an azula ``Denoiser``
  (Tweedie mean x_hat = (x_t - sigma_t eps) / alpha_t); keyword arguments (e.g. the
  background latent ``z_b``) are passed to the network.
- :class:`AncestralPCSampler`: ancestral (DDPM) predictor plus Langevin corrector steps,
  seeded by its own ``torch.Generator`` (deterministic and thread-safe, unlike the global
  RNG) or one generator per member (:func:`member_generators`: a member's draws do not
  depend on how the members are batched); tqdm progress bar from azula's ``Sampler``.
- :func:`denoising_loss`: epsilon-prediction denoising score matching.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from azula.denoise import Denoiser, DiracPosterior
from azula.noise import Schedule
from azula.sample import Sampler
from torch import Tensor, nn


class SDACosineSchedule(Schedule):
    """alpha(t) = cos(arccos(sqrt(eta)) t)^2, sigma(t) = sqrt(1 - alpha(t)^2 + eta^2)."""

    def __init__(self, eta: float = 1e-3) -> None:
        self.eta = eta
        self.omega = math.acos(math.sqrt(eta))

    def __call__(self, t: Tensor) -> tuple[Tensor, Tensor]:
        alpha = torch.cos(self.omega * t) ** 2
        return alpha, torch.sqrt(1 - alpha**2 + self.eta**2)


class EpsilonDenoiser(Denoiser):
    """An epsilon-prediction network ``net(x_t, t, **kwargs)`` as a Dirac-posterior denoiser."""

    def __init__(self, net: nn.Module, schedule: Schedule | None = None) -> None:
        super().__init__()
        self.net = net
        self.schedule = schedule or SDACosineSchedule()

    def forward(self, x_t: Tensor, t: Tensor, **kwargs) -> DiracPosterior:
        alpha, sigma = self.schedule(t)
        alpha, sigma = _expand(alpha, x_t), _expand(sigma, x_t)
        eps = self.net(x_t, t.expand(x_t.shape[0]) if t.ndim == 0 else t, **kwargs)
        return DiracPosterior(mean=(x_t - sigma * eps) / alpha)

    def to_latent(self, x: Tensor, z_b: Tensor) -> Tensor:
        """Latent of a sample (the network's own map, e.g. z_b + s x for an increment prior)."""
        f = getattr(self.net, "to_latent", None)
        return x if f is None else f(x, z_b)

    def from_latent(self, z: Tensor, z_b: Tensor) -> Tensor:
        """Diffusion variable of a latent (inverse of :meth:`to_latent`)."""
        f = getattr(self.net, "from_latent", None)
        return z if f is None else f(z, z_b)


def _expand(a: Tensor, like: Tensor) -> Tensor:
    """Broadcast a per-sample (B,) or scalar schedule value against (B, ...)."""
    if a.ndim == 0:
        return a
    return a.reshape(-1, *([1] * (like.ndim - 1)))


def member_generators(seed: int, members: Sequence[int]) -> list[torch.Generator]:
    """One generator per ensemble member, seeded from (seed, member index)."""
    return [
        torch.Generator().manual_seed(
            int(np.random.SeedSequence([seed, int(i)]).generate_state(1)[0])
        )
        for i in members
    ]


def add_noise(x: Tensor, t: Tensor, eps: Tensor, schedule: Schedule) -> Tensor:
    """The forward (noising) process x_t = alpha_t x + sigma_t eps, for per-sample t (B,)."""
    alpha, sigma = schedule(t)
    return _expand(alpha, x) * x + _expand(sigma, x) * eps


def denoising_loss(
    net: nn.Module, x: Tensor, schedule: Schedule, gen: torch.Generator, **kwargs
) -> Tensor:
    """E_t,eps || net(alpha_t x + sigma_t eps, t) - eps ||^2 with t ~ U(0, 1)."""
    t = torch.rand(x.shape[0], generator=gen).to(x.device)
    eps = torch.randn(x.shape, generator=gen).to(x.device)
    return ((net(add_noise(x, t, eps, schedule), t, **kwargs) - eps) ** 2).mean()


class AncestralPCSampler(Sampler):
    """Ancestral predictor with ``corrections`` Langevin corrector steps per step.

    Corrector (as in azula's PC sampler): x_t <- alpha_t x_hat + sqrt(1 - delta)
    (x_t - alpha_t x_hat) + sqrt(delta) sigma_t z. Predictor (DDPM ancestral):
    x_s = alpha_s x_hat + sigma_s sqrt(1 - tau) eps_hat + sigma_s sqrt(tau) z with
    tau = 1 - (alpha_t sigma_s / (alpha_s sigma_t))^2 and eps_hat the implied noise.
    """

    def __init__(
        self,
        denoiser: Denoiser,
        steps: int = 64,
        corrections: int = 1,
        delta: float = 0.1,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(steps=steps, **kwargs)
        self.denoiser = denoiser
        self.corrections = corrections
        self.delta = delta
        self.generator = generator

    def _randn(self, shape: Sequence[int], dtype: torch.dtype | None) -> Tensor:
        """Standard normal draws: member i (first axis) from generator i when given a list."""
        gens = self.generator
        if gens is None or isinstance(gens, torch.Generator):
            return torch.randn(tuple(shape), generator=gens, dtype=dtype)
        if len(gens) != shape[0]:
            raise ValueError(f"{len(gens)} generators for a batch of {shape[0]} members")
        return torch.stack([torch.randn(tuple(shape[1:]), generator=g, dtype=dtype) for g in gens])

    def noise(self, like: Tensor) -> Tensor:
        """Standard normal noise from the sampler's own generator(s)."""
        return self._randn(like.shape, like.dtype).to(like.device)

    def init(self, shape, mean=0.0, var=1.0, **kwargs) -> Tensor:
        """x_T ~ N(alpha_T mean, alpha_T^2 var + sigma_T^2) with the sampler's generator(s)."""
        alpha, sigma = self.denoiser.schedule(self.timesteps[0])
        std = torch.sqrt(alpha**2 * torch.as_tensor(var) + sigma**2)
        z = self._randn(shape, kwargs.get("dtype"))
        return (alpha * mean + std * z).to(**{k: v for k, v in kwargs.items() if k == "device"})

    def step(self, x_t: Tensor, t: Tensor, s: Tensor, **kwargs) -> Tensor:
        alpha_s, sigma_s = self.denoiser.schedule(s)
        alpha_t, sigma_t = self.denoiser.schedule(t)
        for _ in range(self.corrections):
            x_hat = self.denoiser(x_t, t, **kwargs).mean
            x_t = (
                alpha_t * x_hat
                + math.sqrt(1 - self.delta) * (x_t - alpha_t * x_hat)
                + math.sqrt(self.delta) * sigma_t * self.noise(x_t)
            )
        x_hat = self.denoiser(x_t, t, **kwargs).mean
        eps_hat = (x_t - alpha_t * x_hat) / sigma_t
        tau = (1 - (alpha_t * sigma_s / (alpha_s * sigma_t)) ** 2).clamp(0.0, 1.0)
        return (
            alpha_s * x_hat
            + sigma_s * torch.sqrt(1 - tau) * eps_hat
            + sigma_s * torch.sqrt(tau) * self.noise(x_t)
        )
