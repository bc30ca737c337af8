"""The three rewards on hand-built fields and on shipped cases."""

import numpy as np
import pytest
import torch

from alignda.alignment.rewards import (
    REWARD_DEFINITIONS,
    REWARD_FUNCTIONS,
    REWARDS,
    Forecaster,
    RewardCase,
    TermCase,
    accuracy_reward,
    balance_score,
    bradley_terry,
    candidate_rewards,
    forecast,
    forecast_reward,
    geo_score,
    geostrophic_deviations,
    normalised_mse,
    weighted_rmse,
)
from alignda.evaluation.metrics import normalised_msq, overall_mse
from alignda.paths import SHIPPED_CASES
from alignda.world.balance import geostrophic_wind
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.shock import height_tendency
from alignda.world.state import to_dataset
from alignda.world.variables import VARIABLE_NAMES

GRID = Grid(32, 64)


def smooth_state(seed: int = 0) -> np.ndarray:
    """A state with a wavy height field and random winds (not balanced)."""
    rng = np.random.default_rng(seed)
    lat = np.deg2rad(GRID.lat)[:, None]
    lon = np.deg2rad(GRID.lon)[None]
    z = 5000 + 300 * np.cos(2 * lat) + 80 * np.cos(lat) ** 2 * np.sin(4 * lon + seed)
    u = rng.normal(0, 10, z.shape)
    v = rng.normal(0, 10, z.shape)
    tracer = np.sin(lat) + 0 * lon
    return np.stack([z, u, v, tracer])


def geostrophic_state(seed: int = 0) -> np.ndarray:
    """Winds exactly geostrophic for the height field (zero in the masked tropics)."""
    x = smooth_state(seed)
    ug, vg = geostrophic_wind(x[0], GRID.lat, GRID.lon)
    x[1], x[2] = np.nan_to_num(ug), np.nan_to_num(vg)
    return x


def test_exactly_geostrophic_field_scores_the_maximum() -> None:
    truth = smooth_state(1)
    bal = geostrophic_state(2)
    assert geostrophic_deviations(bal[None])[0] == pytest.approx(0.0, abs=1e-12)
    assert geo_score(bal[None], truth)[0] == 1.0


def test_geo_score_falls_with_ageostrophic_wind() -> None:
    truth = geostrophic_state(0)
    truth[1] += np.random.default_rng(5).normal(0, 2, truth[1].shape)  # D_truth > 0
    rng = np.random.default_rng(0)
    states = []
    for amp in (1.0, 4.0, 16.0):
        x = geostrophic_state(0)
        x[1] += rng.normal(0, amp, x[1].shape)
        x[2] += rng.normal(0, amp, x[2].shape)
        states.append(x)
    s = geo_score(np.stack(states), truth)
    assert 0 < s[2] < s[1] < 1.0
    d = geostrophic_deviations(np.stack([truth, states[2]]))
    assert s[2] == pytest.approx(d[0] / d[1])


def test_accuracy_prefers_the_closer_candidate() -> None:
    truth = smooth_state(0)
    rng = np.random.default_rng(1)
    noise = rng.normal(size=truth.shape) * np.array([20, 2, 2, 0.05])[:, None, None]
    cands = np.stack([truth + 0.5 * noise, truth + noise, truth + 2 * noise])
    r = accuracy_reward(cands, truth)
    assert r[0] > r[1] > r[2]
    assert 0 < r.min() and r.max() < 1
    # Bradley-Terry: in a pair, the two win probabilities add up to one.
    r2 = accuracy_reward(cands[:2], truth)
    assert r2.sum() == pytest.approx(1.0)
    # Equal RMSE: a coin toss; a single candidate: 0.5.
    assert bradley_terry(np.ones((3, 4))) == pytest.approx(np.full(3, 0.5))
    assert accuracy_reward(cands[:1], truth) == pytest.approx([0.5])


def test_weighted_rmse_uses_area_weights() -> None:
    truth = np.zeros((4, *GRID.shape))
    polar = truth.copy()
    polar[:, :2] = 1.0  # error only near the north pole (small cells)
    equatorial = truth.copy()
    mid = GRID.nlat // 2
    equatorial[:, mid - 1 : mid + 1] = 1.0
    r = weighted_rmse(np.stack([polar, equatorial]), truth)
    assert np.all(r[0] < r[1])
    assert np.allclose(weighted_rmse(truth[None], truth), 0.0)


def test_normalised_mse_is_the_score_tables_mse() -> None:
    """The rewards' normalised MSE (numpy, per state) and the score table's MSE column
    (xarray, mean over cases) are one formula: they agree on the same states, and both give
    the hand value of an error in one variable."""
    rng = np.random.default_rng(3)
    scale = np.array([250.0, 10.0, 10.0, 0.3])
    truth = smooth_state(1)
    states = truth + rng.normal(0, 1, (3, *truth.shape)) * scale[:, None, None]
    states[0] = truth + np.array([50.0, 0.0, 0.0, 0.0])[:, None, None]  # z off by 50 m only
    per_state = normalised_mse(states, truth, scale)
    assert per_state[0] == pytest.approx((50.0 / 250.0) ** 2 / 4, rel=1e-12)
    cases = [("case", np.arange(3))]
    pred = to_dataset(states, GRID, leading=cases)
    ref = to_dataset(np.broadcast_to(truth, states.shape), GRID, leading=cases)
    by_name = dict(zip(VARIABLE_NAMES, scale, strict=True))
    assert float(overall_mse(pred, ref, by_name)) == pytest.approx(per_state.mean(), rel=1e-12)
    for i in range(3):
        one = overall_mse(pred.isel(case=i), ref.isel(case=i), by_name)
        assert float(one) == pytest.approx(per_state[i], rel=1e-12)
    x = torch.from_numpy(states).requires_grad_(True)  # the differentiable form of both
    msq = normalised_msq(x, torch.from_numpy(truth), scale)
    np.testing.assert_allclose(msq.detach().numpy(), per_state, rtol=1e-12)
    msq.sum().backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0


@pytest.mark.slow
def test_forecast_reward_prefers_the_truth_as_initial_state() -> None:
    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[0]
    future = cases.future_truth(t, 48)
    assert future is not None
    starts = np.stack([cases.truth_state(t), cases.background_state(t)])
    fc = Forecaster()(starts, hours=48)
    assert fc.shape == starts.shape and np.isfinite(fc).all()
    r = forecast_reward(fc, future, np.array([250.0, 10.0, 10.0, 0.3]))
    assert r[0] > r[1] and np.all(r <= 0)


@pytest.mark.slow
def test_every_reward_has_the_one_signature() -> None:
    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[0]
    truth, future = cases.truth_state(t), cases.future_truth(t, 48)
    candidates = np.stack([truth, cases.background_state(t)])
    scale = np.array([250.0, 10.0, 10.0, 0.3])
    forecasts = Forecaster()(candidates, hours=48)
    full = RewardCase(truth, future, forecasts, scale)
    assert tuple(REWARD_FUNCTIONS) == REWARDS
    for name, reward in REWARD_FUNCTIONS.items():
        r = reward(candidates, full)
        assert r.shape == (2,) and np.isfinite(r).all() and r[0] >= r[1], name  # truth wins
    assert np.isnan(forecast(candidates, RewardCase(truth))).all()  # no forecasts: no reward
    got = candidate_rewards(candidates, truth, forecasts, future, scale)
    for name, reward in REWARD_FUNCTIONS.items():
        np.testing.assert_array_equal(got[name], reward(candidates, full))


def test_each_reward_is_one_definition_in_two_forms() -> None:
    """The candidate rewards and the differentiable terms are the same three rewards: the
    forecast reward is minus the forecast term, the balance score is 1 / (1 + the physics term),
    the accuracy term is the normalised MSE the accuracy preference ranks by; the terms
    carry gradients."""
    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[0]
    truth, future = (
        np.asarray(x, np.float64) for x in (cases.truth_state(t), cases.future_truth(t, 48))
    )
    rng = np.random.default_rng(0)
    wind = np.array([0.0, 1.0, 1.0, 0.0])[:, None, None]  # ageostrophic noise on u and v
    states = np.stack(
        [cases.background_state(t) + k * wind * rng.normal(size=truth.shape) for k in (0.0, 3.0)]
    )
    scale = np.array([250.0, 10.0, 10.0, 0.3])
    forecaster = Forecaster()
    case = TermCase(
        torch.from_numpy(np.stack([truth, truth])),
        torch.from_numpy(np.stack([future, future])),
        height_tendency(torch.from_numpy(np.stack([truth, truth]))),
        scale,
        forecaster,
    )
    assert tuple(REWARD_DEFINITIONS) == REWARDS
    x = torch.from_numpy(states).requires_grad_(True)
    terms = {k: d.term(x, case) for k, d in REWARD_DEFINITIONS.items()}
    for name, term in terms.items():
        assert term.shape == (2,) and term.requires_grad, name
    np.testing.assert_allclose(
        terms["accuracy"].detach().numpy(), normalised_mse(states, truth, scale), rtol=1e-12
    )
    balance = balance_score(states, truth)
    assert balance[1] < 0.9 < balance[0]  # the noisy winds shake the model
    assert geo_score(states, truth)[1] < 0.9  # and are not geostrophic
    physics = terms["physics"].detach().numpy()
    np.testing.assert_allclose(balance, 1.0 / (1.0 + physics), rtol=1e-5)
    reward = forecast_reward(forecaster(states), future, scale)
    np.testing.assert_allclose(reward, -terms["forecast"].detach().numpy(), rtol=1e-5)
    terms["physics"].sum().backward()
    assert float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 3, 32, 64)), "states"),
        (np.zeros((4, 32, 64)), "states"),
        (np.full((1, 4, 32, 64), np.nan), "NaN"),
    ],
)
def test_bad_states_are_refused(bad: np.ndarray, match: str) -> None:
    truth = smooth_state(0)
    with pytest.raises(ValueError, match=match):
        accuracy_reward(bad, truth)
    with pytest.raises(ValueError, match=match):
        geo_score(bad, truth)


def test_the_physics_reward_falls_with_unbalanced_winds() -> None:
    """The balance score is 1 for the truth, falls as ageostrophic noise on the winds grows
    (gravity waves: the height moves faster in the first forecast hour), and a state calmer
    than the truth gains nothing beyond 1."""
    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[0]
    truth = cases.truth_state(t)
    rng = np.random.default_rng(1)
    wind = np.array([0.0, 1.0, 1.0, 0.0])[:, None, None] * rng.normal(size=truth.shape)
    states = np.stack([truth + k * wind for k in (0.0, 1.0, 3.0)])
    score = balance_score(states, truth)
    assert score[0] == pytest.approx(1.0, abs=1e-6)
    assert 1.0 > score[1] > score[2]
    shock = height_tendency(states)
    assert shock[0] < shock[1] < shock[2]
    calm = np.stack([cases.background_state(t)])  # the background moves less than the truth
    assert height_tendency(calm)[0] < shock[0] and balance_score(calm, truth)[0] == 1.0
    assert REWARD_FUNCTIONS["physics"](states, RewardCase(truth)) == pytest.approx(score)
