"""The shipped aligned deltas: moving a reward's weight moves that reward (fixed seeds).

Physics and accuracy (reward-gradient fine-tunes selected on guided analyses, see
``alignda align-select``): DPS at 1 % random obs as the app samples it, and obsfree members.
"""

import numpy as np
import pytest
import torch

from alignda.alignment.rewards import geo_score, weighted_rmse
from alignda.analysis.score import SamplerSettings, analyse
from alignda.bundle import load_bundle
from alignda.model.prior import prior_denoiser
from alignda.obs.operator import observe_case
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases

N_CASES = 3
SCALE = np.array([250, 10, 10, 0.33])


@pytest.fixture(scope="module")
def samples():
    """obsfree ensembles of a few shipped cases for the unaligned and accuracy weights, same
    seeds (common random numbers)."""
    torch.set_grad_enabled(False)
    bundle = load_bundle()
    soup, codec = bundle.soup, bundle.codec
    cases = Cases.open(SHIPPED_CASES)
    times = cases.times[:N_CASES]
    out = {}
    for name, w in {"unaligned": [0, 0, 0], "accuracy": [1, 0, 0]}.items():
        den = prior_denoiser(soup.network(w))
        out[name] = [
            analyse(
                den,
                codec,
                cases.background_state(t),
                None,
                SamplerSettings(mode="obsfree", steps=32, members=8, seed=i),
            )
            for i, t in enumerate(times)
        ]
    torch.set_grad_enabled(True)
    return out, [cases.truth_state(t) for t in times]


@pytest.fixture(scope="module")
def guided():
    """DPS analyses (1 % random obs, 4 members, app steps) of two shipped cases for the
    unaligned and the physics weight, same observations and seeds."""
    torch.set_grad_enabled(False)
    bundle = load_bundle()
    soup, codec = bundle.soup, bundle.codec
    cases = Cases.open(SHIPPED_CASES)
    times = cases.times[2:4]
    truth = [cases.truth_state(t) for t in times]
    obs = [observe_case(x, i, density=0.01) for i, x in enumerate(truth)]
    out = {}
    for name, w in {"unaligned": [0, 0, 0], "physics": [0, 0, 1], "accuracy": [1, 0, 0]}.items():
        den = prior_denoiser(soup.network(w))
        out[name] = [
            analyse(den, codec, cases.background_state(t), y, SamplerSettings(members=4, seed=i))
            for i, (t, y) in enumerate(zip(times, obs, strict=True))
        ]
    torch.set_grad_enabled(True)
    return out, truth


def _guided_figures(guided) -> tuple[dict[str, float], dict[str, float]]:
    """(members' mean Geo-Score, ensemble-mean MSE) per weight of the guided analyses."""
    out, truth = guided
    geo = {
        k: np.mean([geo_score(m, x).mean() for m, x in zip(v, truth, strict=True)])
        for k, v in out.items()
    }
    mse = {
        k: np.mean(
            [
                (weighted_rmse(m.mean(0, keepdims=True), x) ** 2 / SCALE**2).mean()
                for m, x in zip(v, truth, strict=True)
            ]
        )
        for k, v in out.items()
    }
    return geo, mse


def test_physics_weight_raises_geo_score_of_guided_analyses_at_small_mse_cost(guided):
    geo, mse = _guided_figures(guided)
    assert geo["physics"] > geo["unaligned"] + 0.002  # held-out bench: +1.3 points
    assert mse["physics"] < 1.03 * mse["unaligned"]


def test_accuracy_weight_lowers_the_error_of_guided_analyses(guided):
    _, mse = _guided_figures(guided)
    assert mse["accuracy"] < 0.98 * mse["unaligned"]  # held-out bench: -8 % [-10, -6]


def test_accuracy_weight_lowers_member_error(samples):
    out, truth = samples

    def mse(k):
        return np.mean(
            [
                (weighted_rmse(m, x) ** 2).mean(0) / SCALE**2
                for m, x in zip(out[k], truth, strict=True)
            ]
        )

    assert mse("accuracy") < mse("unaligned")
