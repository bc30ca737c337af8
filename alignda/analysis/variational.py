"""The variational solve shared by 3D-Var and the hybrid, and its derivative.

With the control-variable transform dx = L c (B = L L^T) the cost
J(c) = |c|^2 / 2 + |R^-1/2 (y - H(x_f + L c))|^2 / 2 is quadratic; its minimiser solves the
normal equations A c = L^T H^T R^-1 (y - H x_f), A = I + L^T H^T R^-1 H L, by conjugate
gradient (scipy; :func:`batched_analysis` runs its own CG on many problems at once) with the
adjoint L^T from torch autograd. The analysis
x_a = x_f + L A^-1 L^T H^T R^-1 (y - H x_f) is linear in the first guess x_f, with Jacobian
I - L A^-1 L^T H^T R^-1 H; :func:`differentiable_analysis` back-propagates through it with
one more solve (the transpose), so a reward of the analysis has a gradient in x_f (the
reward-gradient fine-tune of the hybrid's first guess uses it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, cg
from tqdm.auto import tqdm

from alignda.obs.operator import Observations

#: The linear map L: control (float64, of the problem's shape) -> grid increments (C, H, W).
Increment = Callable[[torch.Tensor], torch.Tensor]


def checked_background(
    background: np.ndarray, shape: tuple[int, ...], device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The background(s) as float64 on ``device``, refused unless of the observations'
    ``shape`` and finite."""
    xb = torch.as_tensor(np.asarray(background), dtype=torch.float64, device=device)
    if tuple(xb.shape) != tuple(shape):
        raise ValueError(f"background shape {tuple(xb.shape)} != obs {tuple(shape)}")
    if not torch.isfinite(xb).all():
        raise ValueError("background contains NaN or inf")
    return xb


def precision(obs: Observations) -> tuple[torch.Tensor, torch.Tensor]:
    """R^-1 on the grid (zero where unobserved) and the observed values, float64 (C, H, W)."""
    mask = torch.as_tensor(obs.mask)
    std = torch.as_tensor(np.asarray(obs.noise_std, dtype=np.float64)).reshape(-1, 1, 1)
    # Perfect observations (std 0) are treated as very accurate, not infinitely so.
    rinv = mask / torch.clamp(std, min=1e-3 * float(std.max()) + 1e-12) ** 2
    return rinv, torch.as_tensor(obs.values, dtype=torch.float64) * mask


class NormalEquations:
    """A = I + L^T H^T R^-1 H L of one observation set, solved by conjugate gradient."""

    def __init__(
        self,
        increment: Increment,
        shape: tuple[int, ...],
        obs: Observations,
        maxiter: int = 300,
        rtol: float = 1e-4,
    ) -> None:
        if obs.count == 0:
            raise ValueError("no observations to assimilate")
        self.increment, self.shape, self.maxiter, self.rtol = increment, shape, maxiter, rtol
        self.rinv, self.values = precision(obs)
        _, self.adjoint = torch.func.vjp(increment, torch.zeros(shape, dtype=torch.float64))

    def solve(self, grid: torch.Tensor, bar: tqdm | None = None) -> torch.Tensor:
        """c with A c = L^T ``grid`` (grid fields (C, H, W), float64)."""
        n = int(np.prod(self.shape))

        def matvec(x: np.ndarray) -> np.ndarray:
            c = torch.from_numpy(np.asarray(x).reshape(self.shape))
            with torch.no_grad():
                hx = self.increment(c) * self.rinv
            if bar is not None:
                bar.update()
            return (c + self.adjoint(hx)[0]).reshape(-1).numpy()

        rhs = self.adjoint(grid.detach().double())[0].reshape(-1).detach().numpy()
        op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
        sol, _ = cg(op, rhs, rtol=self.rtol, maxiter=self.maxiter)
        return torch.from_numpy(sol.reshape(self.shape))

    def correction(self, guess: torch.Tensor, bar: tqdm | None = None) -> torch.Tensor:
        """The analysis increment L A^-1 L^T H^T R^-1 (y - H x_f) of first guess ``guess``."""
        c = self.solve((self.values - guess.detach().double()) * self.rinv, bar)
        with torch.no_grad():
            return self.increment(c)


def variational_analysis(
    increment: Increment,
    shape: tuple[int, ...],
    background: np.ndarray,
    obs: Observations,
    maxiter: int = 300,
    rtol: float = 1e-4,
    progress: bool = False,
    label: str = "CG",
) -> np.ndarray:
    """x_b + L c* where c* minimises |c|^2 / 2 + |R^-1/2 (y - H(x_b + L c))|^2 / 2
    (module docstring); ``increment`` is L, of controls of ``shape``."""
    xb = checked_background(background, obs.mask.shape)
    equations = NormalEquations(increment, shape, obs, maxiter, rtol)
    bar = tqdm(total=maxiter, desc=label, disable=not progress, leave=False)
    dx = equations.correction(xb, bar)
    bar.close()
    return (xb + dx).numpy().astype(np.float32)


def batched_analysis(
    increment: Increment,
    shape: tuple[int, ...],
    backgrounds: np.ndarray,
    obs: Sequence[Observations],
    maxiter: int = 300,
    rtol: float = 1e-4,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """:func:`variational_analysis` of N independent problems (backgrounds (N, C, H, W), one
    observation set each) by one conjugate gradient over the batch: each problem stops at
    its own tolerance (|r| <= rtol |b|, as scipy's), and the spectral transforms run batched.
    ``increment`` must map leading batch dimensions through; it runs on ``device``."""
    if np.ndim(backgrounds) != 4 or len(obs) != len(backgrounds):
        raise ValueError(
            f"need backgrounds (N, C, H, W) and N observation sets, got "
            f"{np.shape(backgrounds)} and {len(obs)}"
        )
    xb = checked_background(backgrounds, (len(obs), *obs[0].mask.shape), device)
    if any(o.count == 0 for o in obs):
        raise ValueError("no observations to assimilate")
    rinv, values = (
        torch.stack(x).to(device) for x in zip(*(precision(o) for o in obs), strict=True)
    )
    zero = torch.zeros((len(xb), *shape), dtype=torch.float64, device=device)
    _, adjoint = torch.func.vjp(increment, zero)
    dims = tuple(range(1, len(shape) + 1))

    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum(dims).reshape(-1, *[1] * len(shape))

    with torch.no_grad():
        b = adjoint((values - xb) * rinv)[0]
        x, r = torch.zeros_like(b), b.clone()
        p, rs = r.clone(), dot(r, r)
        stop = rtol**2 * rs
        for _ in range(maxiter):
            active = rs > stop
            if not active.any():
                break
            ap = p + adjoint(increment(p) * rinv)[0]
            alpha = torch.where(active, rs / dot(p, ap).clamp(min=1e-300), 0.0)
            x, r = x + alpha * p, r - alpha * ap
            rs_new = dot(r, r)
            p = r + torch.where(active, rs_new / rs.clamp(min=1e-300), 0.0) * p
            rs = torch.where(active, rs_new, rs)
        return (xb + increment(x)).cpu().numpy().astype(np.float32)


class _Analysis(torch.autograd.Function):
    """x_f -> x_a of one :class:`NormalEquations` (module docstring)."""

    @staticmethod
    def forward(ctx, guess: torch.Tensor, equations: NormalEquations) -> torch.Tensor:
        ctx.equations = equations
        return guess + equations.correction(guess).to(guess.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        eq = ctx.equations
        with torch.no_grad():
            back = eq.rinv * eq.increment(eq.solve(grad.double()))
        return grad - back.to(grad.dtype), None


def differentiable_analysis(
    increment: Increment,
    shape: tuple[int, ...],
    guess: torch.Tensor,
    obs: Observations,
    maxiter: int = 300,
    rtol: float = 1e-4,
) -> torch.Tensor:
    """The analysis (C, H, W) of first guess ``guess`` (a tensor, C, H, W) and ``obs``, with
    the gradient of anything computed from it flowing back to ``guess`` (one extra solve);
    both solves stop at ``rtol`` (as :func:`variational_analysis`)."""
    if tuple(guess.shape) != tuple(obs.mask.shape):
        raise ValueError(f"first guess shape {tuple(guess.shape)} != obs {obs.mask.shape}")
    return _Analysis.apply(guess, NormalEquations(increment, shape, obs, maxiter, rtol))
