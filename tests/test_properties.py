"""Property-based tests (hypothesis) of the observation masks, CSV points, observation noise,
and the reward and metric functions: invariants that must hold for any valid input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alignda.alignment.rewards import bradley_terry, normalised_mse, weighted_rmse
from alignda.obs.checks import ObsError
from alignda.obs.networks import PATTERNS, make_mask
from alignda.obs.operator import observe
from alignda.obs.points import points_from_csv
from alignda.world.grid import Grid

GRID = Grid(64, 128)
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=25, deadline=None)
@given(
    pattern=st.sampled_from(PATTERNS),
    density=st.floats(min_value=0.005, max_value=0.2),
    seed=SEEDS,
)
def test_every_pattern_gives_a_seeded_mask_near_its_density(pattern, density, seed):
    try:
        mask = make_mask(pattern, GRID, np.random.default_rng(seed), density=density)
    except ObsError as err:  # a pattern may refuse a density it cannot reach, clearly
        assert "cover" in str(err) or "densit" in str(err)
        return
    assert mask.shape == GRID.shape and mask.dtype == bool and mask.any()
    again = make_mask(pattern, GRID, np.random.default_rng(seed), density=density)
    np.testing.assert_array_equal(mask, again)  # same seed, same network
    if pattern in ("random", "stations"):
        assert mask.sum() == max(1, round(density * mask.size))


@settings(max_examples=25, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.floats(-90, 90), st.floats(-180, 360, exclude_max=True)),
        min_size=1,
        max_size=40,
    )
)
def test_any_valid_points_land_on_the_grid(points):
    text = "lat,lon\n" + "".join(f"{lat!r},{lon!r}\n" for lat, lon in points)
    where = points_from_csv(text.encode(), GRID)
    obs = observe(np.zeros((4, *GRID.shape), np.float32), where, np.random.default_rng(0))
    n_cells = obs.mask[0].sum()
    assert 1 <= n_cells <= len(points)  # points in one cell are merged
    assert obs.mask.shape == (4, *GRID.shape)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, scale=st.floats(0.0, 10.0))
def test_observation_noise_scales_and_is_seeded(seed, scale):
    truth = np.random.default_rng(1).normal(size=(4, *GRID.shape)).astype(np.float32)
    mask = make_mask("random", GRID, np.random.default_rng(seed), density=0.05)
    std = {"z": 10.0 * scale, "u": scale, "v": scale, "tracer": 0.02 * scale}
    a = observe(truth, mask, np.random.default_rng(seed), noise_std=std)
    b = observe(truth, mask, np.random.default_rng(seed), noise_std=std)
    np.testing.assert_array_equal(a.values, b.values)
    err = (a.values - truth)[a.mask]
    if scale == 0.0:
        assert np.all(err == 0)
    assert np.all(a.values[~a.mask] == 0) and np.isfinite(a.values).all()


_states = arrays(
    np.float64, (3, 4, 8, 16), elements=st.floats(-1e3, 1e3, allow_nan=False, width=32)
)


@settings(max_examples=40, deadline=None)
@given(x=_states, t=arrays(np.float64, (4, 8, 16), elements=st.floats(-1e3, 1e3, width=32)))
def test_weighted_rmse_and_normalised_mse(x, t):
    r = weighted_rmse(x, t)
    assert r.shape == (3, 4) and np.all(r >= 0)
    np.testing.assert_allclose(weighted_rmse(t[None], t), 0.0, atol=1e-9)
    np.testing.assert_allclose(weighted_rmse(2 * x, 2 * t), 2 * r, rtol=1e-9, atol=1e-9)
    scale = np.array([1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(normalised_mse(x, t, scale), ((r / scale) ** 2).mean(-1))


@settings(max_examples=40, deadline=None)
@given(
    rmse=arrays(
        np.float64, st.tuples(st.integers(2, 8), st.integers(1, 4)), elements=st.floats(1e-3, 1e3)
    )
)
def test_bradley_terry_is_a_fair_tournament(rmse):
    p = bradley_terry(rmse)
    n = len(rmse)
    assert p.shape == (n,) and np.all((p >= 0) & (p <= 1))
    assert p.sum() == pytest.approx(n / 2)  # each pair shares one win
    best, worst = rmse.mean(-1).argmin(), rmse.mean(-1).argmax()
    if np.all(rmse[best] <= rmse[worst]):
        assert p[best] >= p[worst]
    np.testing.assert_allclose(bradley_terry(rmse * 7.0), p, atol=1e-12)  # scale-free
