"""3D-Var: exactness against the closed-form linear-Gaussian posterior, B estimation, I/O."""

import numpy as np
import pytest
import torch

from alignda.analysis.threedvar import BackgroundError, ThreeDVar, fit_background_error
from alignda.analysis.variational import differentiable_analysis
from alignda.obs.operator import Observations
from alignda.world.grid import Grid
from alignda.world.sphere import Sphere


@pytest.fixture(scope="module")
def small():
    sphere = Sphere(Grid(8, 16), dtype=torch.float64)
    rng = np.random.default_rng(0)
    lmax = sphere.lmax
    berr = BackgroundError(
        sigma=torch.from_numpy(rng.uniform(0.5, 2.0, (4, lmax)) * [[1e6], [3e5], [20], [0.1]]),
        beta=torch.from_numpy(rng.uniform(0.5, 1.0, lmax)),
    )
    return ThreeDVar(berr, sphere), rng


def dense_increment_matrix(var: ThreeDVar) -> np.ndarray:
    shape = var.control_shape
    n = int(np.prod(shape))
    cols = []
    for i in range(n):
        e = torch.zeros(n, dtype=torch.float64)
        e[i] = 1.0
        cols.append(var.increment(e.reshape(shape)).reshape(-1).numpy())
    return np.stack(cols, axis=1)


def closed_form_gain(
    B: np.ndarray, mask: np.ndarray, std: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The observation operator H (picking the masked values) and the gain
    K = B H^T (H B H^T + R)^-1 of the linear-Gaussian analysis."""
    H = np.eye(mask.size)[mask.reshape(-1)]
    variances = np.broadcast_to(std.reshape(-1, 1, 1) ** 2, mask.shape).reshape(-1)
    R = np.diag(variances[mask.reshape(-1)])
    return H, B @ H.T @ np.linalg.solve(H @ B @ H.T + R, np.eye(H.shape[0]))


def test_matches_closed_form_posterior_mean(small):
    var, rng = small
    L = dense_increment_matrix(var)
    B = L @ L.T
    shape = (4, 8, 16)
    xb = rng.normal(size=shape) * np.array([50, 5, 5, 0.1]).reshape(-1, 1, 1)
    mask = rng.random(shape) < 0.3
    std = np.array([5.0, 1.0, 1.0, 0.02])
    truth = xb + (L @ rng.normal(size=L.shape[1])).reshape(shape)
    values = np.where(mask, truth + rng.normal(size=shape) * std.reshape(-1, 1, 1), 0.0)
    obs = Observations(mask=mask, values=values.astype(np.float32), noise_std=std)
    xa = var.analyse(xb, obs, rtol=1e-10, maxiter=2000)

    H, K = closed_form_gain(B, mask, std)
    d = obs.values.astype(np.float64).reshape(-1)[mask.reshape(-1)] - H @ xb.reshape(-1)
    expected = xb.reshape(-1) + K @ d
    scale = np.abs(expected - xb.reshape(-1)).reshape(4, -1).max(axis=1)
    err = np.abs(xa.reshape(-1) - expected).reshape(4, -1).max(axis=1)
    # xa is returned in float32: relative tolerance 1e-4 of the increment size per variable
    assert np.all(err <= 1e-4 * scale + 1e-5 * np.abs(xb).reshape(4, -1).max(axis=1)), (err, scale)


def test_differentiable_analysis_matches_the_solve_and_its_jacobian(small):
    """The analysis as a function of the first guess: same value as the solve, and its
    vector-Jacobian product is (I - K H)^T g with the closed-form gain."""
    var, rng = small
    L = dense_increment_matrix(var)
    B = L @ L.T
    shape = (4, 8, 16)
    guess = rng.normal(size=shape) * np.array([50, 5, 5, 0.1]).reshape(-1, 1, 1)
    mask = rng.random(shape) < 0.3
    std = np.array([5.0, 1.0, 1.0, 0.02])
    values = np.where(mask, guess + rng.normal(size=shape) * 10, 0.0).astype(np.float32)
    obs = Observations(mask=mask, values=values, noise_std=std)
    x = torch.tensor(guess, requires_grad=True)
    # Solved to convergence: B spans seven decades here, so at the default rtol the CG's
    # stopping point (which differs between CPUs) moves the gradient by a few per cent.
    exact = {"maxiter": 2000, "rtol": 1e-10}
    xa = differentiable_analysis(var.increment, var.control_shape, x, obs, **exact)
    assert xa.shape == x.shape
    np.testing.assert_allclose(
        xa.detach().numpy(), var.analyse(guess, obs, **exact), rtol=1e-6, atol=1e-6
    )

    g = rng.normal(size=shape)
    (xa * torch.from_numpy(g)).sum().backward()
    H, K = closed_form_gain(B, mask, std)
    expected = (np.eye(mask.size) - K @ H).T @ g.reshape(-1)
    got = x.grad.numpy().reshape(-1)
    assert np.abs(got - expected).max() <= 1e-6 * np.abs(expected).max()
    with pytest.raises(ValueError, match="first guess shape"):
        differentiable_analysis(var.increment, var.control_shape, x[:2], obs)


def test_batched_analysis_matches_each_solve(small):
    """The batched conjugate gradient gives each problem's own analysis (to the CG tolerance),
    including problems that converge at different iterations."""
    var, _ = small
    rng = np.random.default_rng(1)  # its own draws: the fixture's stream feeds later tests
    shape = (4, 8, 16)
    std = np.array([5.0, 1.0, 1.0, 0.02])
    xbs, obs = [], []
    for density in (0.05, 0.3, 0.8):
        xb = rng.normal(size=shape) * np.array([50, 5, 5, 0.1]).reshape(-1, 1, 1)
        mask = rng.random(shape) < density
        values = np.where(mask, xb + rng.normal(size=shape) * 10, 0.0).astype(np.float32)
        xbs.append(xb)
        obs.append(Observations(mask=mask, values=values, noise_std=std))
    batch = var.analyse_batch(np.stack(xbs), obs, rtol=1e-8, maxiter=2000)
    for xb, o, xa in zip(xbs, obs, batch, strict=True):
        one = var.analyse(xb, o, rtol=1e-8, maxiter=2000)
        assert np.abs(xa - one).max() <= 1e-4 * np.abs(one - xb).max()
    with pytest.raises(ValueError, match="N observation sets"):
        var.analyse_batch(np.stack(xbs), obs[:2])


def test_increment_is_geostrophically_coupled(small):
    var, _ = small
    c = torch.zeros(4, var.sphere.lmax, var.sphere.mmax, 2, dtype=torch.float64)
    c[0, 3, 1, 0] = 1.0  # a pure streamfunction control: wind and balanced height both move
    dx = var.increment(c)
    assert dx[0].abs().max() > 0 and dx[1:3].abs().max() > 0 and dx[3].abs().max() == 0


def test_fit_recovers_variance_and_roundtrips(tmp_path, small):
    var, rng = small
    L = dense_increment_matrix(var)
    n = 400
    errors = (L @ rng.normal(size=(L.shape[1], n))).T.reshape(n, 4, 8, 16)
    fitted = fit_background_error(errors, np.zeros_like(errors), var.sphere)
    true_sigma = var.berr.sigma.numpy()
    got = fitted.sigma.numpy()
    valid = true_sigma[:, 1:] > 0
    ratio = got[:, 1:][valid] / true_sigma[:, 1:][valid]
    assert np.all(np.abs(ratio - 1) < 0.25), ratio
    np.testing.assert_allclose(fitted.beta.numpy()[1:], var.berr.beta.numpy()[1:], rtol=0.25)
    path = fitted.save(tmp_path / "b.safetensors")
    again = BackgroundError.load(path)
    np.testing.assert_allclose(again.sigma.numpy(), got)


def test_bad_inputs(small):
    var, _ = small
    obs = Observations(
        mask=np.ones((4, 8, 16), bool),
        values=np.zeros((4, 8, 16), np.float32),
        noise_std=np.ones(4),
    )
    with pytest.raises(ValueError, match="NaN"):
        var.analyse(np.full((4, 8, 16), np.nan), obs)
    with pytest.raises(ValueError, match="shape"):
        var.analyse(np.zeros((4, 4, 16)), obs)
