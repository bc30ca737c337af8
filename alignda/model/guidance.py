"""Observation guidance for the latent prior: one interface, four modes.

Each mode wraps the prior's denoiser (an azula ``Denoiser``) so that the same sampler turns
prior samples into analyses:

- ``obsfree``: the prior p(z | z_b) alone;
- ``repaint``: the Tweedie estimate is decoded, the *observed values only* are composed
  into it in physical space, and the composite is re-encoded (the truth is never encoded);
- ``dps``: the Tweedie estimate moves against the gradient, through the decoder, of the
  whitened misfit ||(y - H(D(z_hat))) / sigma_y|| (DPS's normalised step), strength zeta;
- ``mmps``: moment-matching posterior sampling (Rozet et al. 2024) with A = H o D (beyond the
  paper), its linear solve whitened by the observation errors, written with reverse-mode
  autograd only (see :class:`MMPSDenoiser`), so that several analyses may run in threads
  side by side.

The observation operator in latent space is A(z) = H(D(z)): decode, then take the
observed grid values. The observation noise std enters every likelihood.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from azula.denoise import Denoiser, DiracPosterior
from azula.linalg.covariance import Covariance, DiagonalCovariance
from azula.linalg.solve import gmres
from azula.noise import Schedule
from torch import Tensor

from alignda.obs.operator import Observations


class LatentObservation:
    """y, its noise std and A = H o decode for a batch of latents."""

    def __init__(self, decode, encode, obs: Observations, dtype=torch.float32, scale=None) -> None:
        self.decode, self.encode = decode, encode
        self.mask = torch.as_tensor(obs.mask)
        self.values = torch.as_tensor(obs.values, dtype=dtype)
        std = torch.as_tensor(obs.noise_std, dtype=dtype).reshape(-1, 1, 1)
        self.y = self.values[self.mask]
        self.std = std.expand_as(self.values)[self.mask].clamp(min=1e-6)
        # Climatological std of each observed value (physical units): sizes the uncertainty
        # of a decoded Tweedie estimate in the SDA likelihood (1 if not given).
        s = torch.ones(len(std), dtype=dtype) if scale is None else torch.as_tensor(scale)
        self.scale = s.to(dtype).reshape(-1, 1, 1).expand_as(self.values)[self.mask]

    def __call__(self, z: Tensor) -> Tensor:
        """A(z): predicted observations (B, n_obs)."""
        return self.decode(z)[:, self.mask]

    def compose(self, z: Tensor) -> Tensor:
        """Re-encoded decode(z) with the observed values written in (RePaint in x-space)."""
        x = self.decode(z)
        x = torch.where(self.mask, self.values.to(x.dtype), x)
        return self.encode(x)


class _Guided(Denoiser):
    """Base: wraps a denoiser, shares its schedule."""

    def __init__(self, denoiser: Denoiser, obs: LatentObservation) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.obs = obs

    @property
    def schedule(self) -> Schedule:
        return self.denoiser.schedule


class RePaintDenoiser(_Guided):
    """Replaces the Tweedie estimate by its observation-composed re-encoding."""

    def forward(self, x_t: Tensor, t: Tensor, **kwargs) -> DiracPosterior:
        x_hat = self.denoiser(x_t, t, **kwargs).mean
        return DiracPosterior(mean=self.obs.compose(x_hat))


class DPSDenoiser(_Guided):
    """Observation-guided Tweedie estimate through the decoder, two normalisations.

    ``gamma == 0`` (DPS, Chung et al. 2022): x_hat - zeta * grad_{x_t} ||(y - A(x_hat)) /
    sigma_y||. ``gamma > 0`` (SDA, Rozet & Louppe 2023): x_hat + zeta * sigma_t^2 / alpha_t *
    grad_{x_t} log N(y | A(x_hat), sigma_y^2 + gamma (sigma_t / alpha_t)^2 s^2), the Tweedie
    shift of the likelihood score whose variance grows with the noise level (s: the
    climatological std of each observed variable).
    """

    def __init__(
        self, denoiser: Denoiser, obs: LatentObservation, zeta: float = 1.0, gamma: float = 0.0
    ) -> None:
        super().__init__(denoiser, obs)
        self.zeta = zeta
        self.gamma = gamma

    def forward(self, x_t: Tensor, t: Tensor, **kwargs) -> DiracPosterior:
        alpha, sigma = self.schedule(t)
        with torch.enable_grad():
            x_t = x_t.detach().requires_grad_()
            x_hat = self.denoiser(x_t, t, **kwargs).mean
            misfit = self.obs.y - self.obs(x_hat)
            if self.gamma > 0:
                var = self.obs.std**2 + self.gamma * (sigma / alpha) ** 2 * self.obs.scale**2
                loglik = -0.5 * (misfit**2 / var).sum()
                (grad,) = torch.autograd.grad(loglik, x_t)
                step = self.zeta * sigma**2 / alpha * grad
            else:
                norm = torch.linalg.vector_norm(misfit / self.obs.std, dim=-1).sum()
                (grad,) = torch.autograd.grad(norm, x_t)
                step = -self.zeta * grad
        return DiracPosterior(mean=x_hat.detach() + step)


def vjp_jvp(outputs: Tensor, inputs: Tensor) -> Callable[[Tensor], Tensor]:
    """v -> J v, with J the Jacobian of ``outputs`` w.r.t. ``inputs`` (a graph already built).

    Reverse mode only (the double-VJP trick): g(u) = J^T u is built once as a differentiable
    function of a dummy cotangent u, and J v is the gradient of <g(u), v> with respect to u
    (g is linear in u, so the value of u does not matter). Unlike ``torch.func.jvp``, whose
    forward-AD dual levels are process-wide, this keeps no global state: it is safe in threads.
    The graph of ``outputs`` must stay alive while the returned function is used.
    """
    u = torch.zeros_like(outputs, requires_grad=True)
    (g,) = torch.autograd.grad(outputs, inputs, u, create_graph=True)

    def jvp(v: Tensor) -> Tensor:
        (jv,) = torch.autograd.grad(g, u, v, retain_graph=True)
        return jv

    return jvp


class MMPSDenoiser(_Guided):
    """Moment-matching posterior sampling (MMPS; Rozet et al. 2024, "Learning diffusion priors
    from observations by expectation maximization"), for y ~ N(A(x), Sigma_y).

    The Tweedie mean x_hat(x_t) is moved by gamma_t J_x^T M^-1 (y - A(x_hat)) where
    gamma_t = sigma_t^2 / alpha_t, J_x = d x_hat / d x_t (so gamma_t J_x is the Tweedie
    covariance of x given x_t) and M = Sigma_y + A' gamma_t J_x A'^T is the covariance of y
    given x_t, with A' the Jacobian of A at x_hat. M^-1 is applied by a few GMRES iterations,
    each a matrix-free product with M; the products with A' use :func:`vjp_jvp`, so only
    reverse-mode autograd is used (thread-safe).

    ``whiten`` (default): GMRES solves the system whitened by the observation errors,
    (I + W A' gamma_t J_x A'^T W) u = W r with W = Sigma_y^-1/2 and M^-1 r = W u (the same
    solution, a symmetric diagonal preconditioner; W is ``cov_y.inv.color``, symmetric for the
    diagonal Sigma_y used here). Unwhitened, the Krylov space is built from the residual in
    physical units, where the heights' (metres) dwarf the winds' and the tracer's, so a few
    iterations fit the heights and leave the other variables almost unguided
    (``docs/mmps.md``).
    """

    def __init__(
        self,
        denoiser: Denoiser,
        obs: LatentObservation,
        cov_y: Covariance,
        iterations: int = 1,
        whiten: bool = True,
    ) -> None:
        super().__init__(denoiser, obs)
        self.cov_y = cov_y
        self.iterations = iterations
        self.whiten = whiten

    def forward(self, x_t: Tensor, t: Tensor, **kwargs) -> DiracPosterior:
        alpha, sigma = self.schedule(t)
        gamma = sigma**2 / alpha
        with torch.enable_grad():
            x_t = x_t.detach().requires_grad_()
            x_hat = self.denoiser(x_t, t, **kwargs).mean
            y_hat = self.obs(x_hat)
            a_v = vjp_jvp(y_hat, x_hat)

            def a_t(w: Tensor) -> Tensor:  # A'^T w
                return torch.autograd.grad(y_hat, x_hat, w, retain_graph=True)[0]

            def tweedie_cov(v: Tensor) -> Tensor:  # gamma_t J_x^T v (J_x ~ J_x^T, see docs/mmps.md)
                return gamma * torch.autograd.grad(x_hat, x_t, v, retain_graph=True)[0]

            def cov_y_given_xt(w: Tensor) -> Tensor:  # M w
                return self.cov_y(w) + a_v(tweedie_cov(a_t(w)))

            residual = self.obs.y.to(y_hat.dtype) - y_hat.detach()
            if self.whiten:
                root = self.cov_y.inv.color  # Sigma_y^-1/2 (diagonal: symmetric)
                white = gmres(
                    lambda u: root(cov_y_given_xt(root(u))),
                    root(residual),
                    iterations=self.iterations,
                )
                solved = root(white)
            else:
                solved = gmres(cov_y_given_xt, residual, iterations=self.iterations)
            (shift,) = torch.autograd.grad(y_hat, x_t, solved)
        return DiracPosterior(mean=x_hat.detach() + gamma * shift)


def guided(
    mode: str,
    denoiser: Denoiser,
    obs: LatentObservation | None,
    zeta: float = 1.0,
    mmps_iterations: int = 1,
    gamma: float = 0.0,
) -> Denoiser:
    """The denoiser of a guidance mode (see module docstring)."""
    if mode not in MODES:
        raise ValueError(f"unknown guidance mode {mode!r}; choose one of {MODES}")
    make = GUIDANCES[mode]
    if make is None:  # obsfree: the prior itself
        return denoiser
    if obs is None:
        raise ValueError(f"guidance mode {mode!r} needs observations")
    if not (zeta >= 0 and zeta < float("inf")):
        raise ValueError(f"guidance strength zeta must be finite and >= 0, got {zeta}")
    return make(denoiser, obs, zeta, gamma, mmps_iterations)


#: How each guidance mode wraps the prior's denoiser: (denoiser, observations, zeta, gamma,
#: MMPS iterations) -> guided denoiser; None for obsfree (no guidance).
GUIDANCES: dict[str, Callable[[Denoiser, LatentObservation, float, float, int], Denoiser] | None]
GUIDANCES = {
    "obsfree": None,
    "repaint": lambda den, obs, zeta, gamma, its: RePaintDenoiser(den, obs),
    "dps": lambda den, obs, zeta, gamma, its: DPSDenoiser(den, obs, zeta, gamma),
    "mmps": lambda den, obs, zeta, gamma, its: MMPSDenoiser(
        den, obs, DiagonalCovariance(obs.std**2), its
    ),
}
#: The guidance modes; the module docstring says what each does.
MODES = tuple(GUIDANCES)
