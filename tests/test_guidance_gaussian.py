"""Sampler + guidance against math: a Gaussian prior plugged into the same code.

For a Gaussian prior N(mu, S) and linear observations y = Hx + e, e ~ N(0, R), the posterior
is Gaussian with the Kalman / optimal-interpolation mean and covariance. MMPS is exact for a
Gaussian prior, so its samples must reproduce those moments; obsfree must reproduce the
prior; DPS (an approximation) must move the mean most of the way towards the posterior.
"""

import numpy as np
import pytest
import torch
from azula.denoise import GaussianDenoiser
from azula.linalg.covariance import FullCovariance

from alignda.model.diffusion import AncestralPCSampler, SDACosineSchedule
from alignda.model.guidance import LatentObservation, guided
from alignda.obs.operator import Observations

N = 2000  # samples
SHAPE = (4, 2, 2)  # the "physical" layout of the 16-dimensional state
D = 16


@pytest.fixture(scope="module")
def problem():
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))
    lam = torch.linspace(0.2, 2.0, D, dtype=torch.float64)
    cov = q @ torch.diag(lam) @ q.T
    mu = torch.randn(D, generator=g, dtype=torch.float64)
    mask = np.zeros(D, bool)
    mask[[0, 3, 5, 9, 12, 14]] = True
    std = np.array([0.3, 0.5, 0.3, 0.4])
    noise = np.repeat(std, 4)
    x_true = mu + torch.linalg.cholesky(cov) @ torch.randn(D, generator=g, dtype=torch.float64)
    y = x_true.numpy() + noise * np.random.default_rng(0).normal(size=D)
    obs = Observations(
        mask=mask.reshape(SHAPE), values=np.where(mask, y, 0.0).reshape(SHAPE), noise_std=std
    )
    H = torch.eye(D, dtype=torch.float64)[torch.from_numpy(mask)]
    R = torch.diag(torch.from_numpy(noise[mask]) ** 2)
    K = cov @ H.T @ torch.linalg.inv(H @ cov @ H.T + R)
    mean_a = mu + K @ (torch.from_numpy(y[mask]) - H @ mu)
    cov_a = cov - K @ H @ cov
    denoiser = GaussianDenoiser(mu, FullCovariance(q, lam), SDACosineSchedule())
    lobs = LatentObservation(
        lambda z: z.reshape(-1, *SHAPE), lambda x: x.reshape(-1, D), obs, dtype=torch.float64
    )
    return dict(mu=mu, cov=cov, mean_a=mean_a, cov_a=cov_a, denoiser=denoiser, obs=lobs)


def sample(denoiser, seed=1, steps=64):
    sampler = AncestralPCSampler(
        denoiser,
        steps=steps,
        corrections=1,
        delta=0.1,
        generator=torch.Generator().manual_seed(seed),
        silent=True,
        dtype=torch.float64,
    )
    x = sampler.init((N, D), dtype=torch.float64)
    return sampler(x)


def test_obsfree_reproduces_the_prior(problem):
    x = sample(problem["denoiser"])
    se = problem["cov"].diag().sqrt() / np.sqrt(N)
    assert torch.all((x.mean(0) - problem["mu"]).abs() < 5 * se + 0.02)
    ratio = x.var(0) / problem["cov"].diag()
    assert torch.all((ratio - 1).abs() < 0.12), ratio


@pytest.mark.slow
def test_mmps_matches_the_kalman_posterior(problem):
    den = guided("mmps", problem["denoiser"], problem["obs"], mmps_iterations=16)
    # The posterior is much narrower than the prior: 64 steps under-disperse it by up to
    # 25 % (discretisation), 256 steps bring the variances within 10 %.
    x = sample(den, steps=256)
    se = problem["cov_a"].diag().sqrt() / np.sqrt(N)
    err = (x.mean(0) - problem["mean_a"]).abs()
    assert torch.all(err < 5 * se + 0.03), err
    ratio = x.var(0) / problem["cov_a"].diag()
    assert torch.all((ratio - 1).abs() < 0.15), ratio


def test_dps_moves_towards_the_posterior(problem):
    den = guided("dps", problem["denoiser"], problem["obs"], zeta=0.5)
    x = sample(den)
    before = torch.linalg.vector_norm(problem["mu"] - problem["mean_a"])
    after = torch.linalg.vector_norm(x.mean(0) - problem["mean_a"])
    assert after < 0.5 * before, (after, before)


def test_sampler_is_deterministic_for_a_seed(problem):
    den = guided("dps", problem["denoiser"], problem["obs"], zeta=0.5)
    a, b = sample(den, seed=3, steps=8), sample(den, seed=3, steps=8)
    assert torch.equal(a, b)


def test_bad_mode_and_strength(problem):
    with pytest.raises(ValueError, match="unknown guidance mode"):
        guided("kalman", problem["denoiser"], problem["obs"])
    with pytest.raises(ValueError, match="zeta"):
        guided("dps", problem["denoiser"], problem["obs"], zeta=float("nan"))
    with pytest.raises(ValueError, match="needs observations"):
        guided("dps", problem["denoiser"], None)
