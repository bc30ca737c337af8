"""The hybrid's first guess: the prior's conditional mean (large scales of its increment)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from alignda.analysis.first_guess import (
    FirstGuessSettings,
    large_scales,
    prior_mean_first_guess,
)
from alignda.analysis.methods import prior_method
from alignda.analysis.score import SampleCodec, SamplerSettings, analyse, latent_background
from alignda.bundle import load_bundle
from alignda.model.prior import prior_denoiser
from alignda.obs.operator import observe_case
from alignda.world.cases import Cases
from alignda.world.grid import Grid

CASES = "assets/test_cases.nc"


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


@pytest.fixture(scope="module")
def cases() -> Cases:
    return Cases.open(CASES)


def first_guess(bundle, background: np.ndarray, seed: int, **kw) -> np.ndarray:
    den = prior_denoiser(bundle.prior)
    view = SampleCodec(bundle.codec, den, latent_background(bundle.codec, background))
    gen = torch.Generator().manual_seed(seed)
    sphere = bundle.threedvar.sphere
    return prior_mean_first_guess(den, view, background, sphere, gen, FirstGuessSettings(**kw))


def test_large_scales_keeps_exactly_the_low_wavenumbers(bundle) -> None:
    sp = bundle.threedvar.sphere
    rng = np.random.default_rng(0)
    field = rng.normal(size=(2, *sp.grid.shape))
    low = large_scales(field, sp, 10)
    np.testing.assert_allclose(large_scales(low, sp, 10), low, atol=1e-9)  # a projection
    assert np.abs(large_scales(field - low, sp, 10)).max() < 1e-9  # nothing low is left
    assert 0 < (low**2).mean() < 0.2 * (field**2).mean()  # white noise: mostly small scales


def test_first_guess_is_the_background_plus_a_seeded_large_scale_increment(
    bundle, cases: Cases
) -> None:
    bg = cases.background_state(cases.times[0])
    a, b = first_guess(bundle, bg, 0), first_guess(bundle, bg, 0)
    np.testing.assert_array_equal(a, b)  # same generator seed, same first guess
    assert np.isfinite(a).all() and a.shape == bg.shape
    inc = a - bg
    assert np.abs(inc).max() > 0
    sp, lmax = bundle.threedvar.sphere, FirstGuessSettings().lmax
    np.testing.assert_allclose(large_scales(inc, sp, lmax), inc, atol=1e-6 * np.abs(inc).max())
    other = first_guess(bundle, bg, 1) - bg
    assert not np.allclose(other, inc)  # other draws, other estimate ...
    # ... of the same mean: two estimates agree better than either with zero.
    std = np.asarray(bundle.stats.std).reshape(-1, 1, 1)
    assert ((other - inc) / std).std() < ((inc) / std).std()
    with pytest.raises(ValueError, match="diffusion time"):
        FirstGuessSettings(t=1.0)
    with pytest.raises(ValueError, match="draws"):
        FirstGuessSettings(draws=0)


@pytest.mark.slow
def test_prior_mean_first_guess_beats_the_background_on_the_shipped_cases(
    bundle, cases: Cases
) -> None:
    """The prior's mean given x_b is a better estimate of the truth than x_b (16 cases)."""
    w = Grid(*bundle.threedvar.sphere.grid.shape).weights.reshape(-1, 1)
    std = np.asarray(bundle.stats.std, dtype=np.float64).reshape(-1, 1, 1)

    def mse(x: np.ndarray, truth: np.ndarray) -> float:
        return float((((x - truth) / std) ** 2 * w).mean())

    gains = []
    for k, t in enumerate(cases.times):
        truth, bg = cases.truth_state(t), cases.background_state(t)
        gains.append(mse(first_guess(bundle, bg, k), truth) / mse(bg, truth))
    assert np.mean(gains) < 0.98  # measured 0.960 here; 3.5 % less error on validation cases
    assert np.mean(np.array(gains) < 1) >= 0.75


@pytest.mark.slow
def test_hybrid_first_guess_setting(bundle, cases: Cases) -> None:
    t = cases.times[0]
    truth, bg = cases.truth_state(t), cases.background_state(t)
    obs = observe_case(truth, 0, density=0.01)
    den = prior_denoiser(bundle.prior)
    base = SamplerSettings(mode="hybrid", steps=4, corrections=0, members=2)
    prior = analyse(den, bundle.codec, bg, None, replace(base, mode="obsfree"))
    plain = prior_method(den, bundle.codec, replace(base, first_guess="background"), bundle.hybrid)
    plain = plain.analyse(bg, obs).members
    np.testing.assert_allclose(plain, bundle.hybrid.analyse(prior, obs, bg), atol=1e-4)
    mean = prior_method(den, bundle.codec, base, bundle.hybrid).analyse(bg, obs).members
    assert base.first_guess == "prior-mean" and not np.allclose(mean, plain)
    guess = first_guess(bundle, bg, 0)  # not the seed stream of the analysis: differs a little
    centre = bundle.hybrid.centre(prior, obs, bg, first_guess=guess)
    assert np.abs(mean.mean(0) - centre).max() < np.abs(plain.mean(0) - centre).max()
    with pytest.raises(ValueError, match="first guess"):
        SamplerSettings(mode="hybrid", first_guess="climatology")
