"""The shipped aligned deltas: moving a reward's weight moves that reward (fixed seeds).

Physics, accuracy and forecast (reward-gradient fine-tunes selected on guided analyses, see
``alignda align-select``): DPS at 1 % random obs as the app samples it, and obsfree members.
"""

import numpy as np
import pytest
import torch

from alignda.alignment.rewards import Forecaster, weighted_rmse
from alignda.alignment.selection import evaluate, scenarios
from alignda.analysis.score import SamplerSettings, analyse
from alignda.bundle import load_bundle
from alignda.model.prior import prior_denoiser
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases

pytestmark = (
    pytest.mark.slow
)  # the weights' effect on guided analyses of the shipped cases: minutes

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
def guided() -> dict[str, dict[str, list[float]]]:
    """Figures per case of DPS analyses (1 % random obs, the app's 32 steps x 4 members) of 4
    shipped cases, as the alignment benchmark makes them, for single-reward weights."""
    bundle = load_bundle()
    cases = scenarios(Cases.open(SHIPPED_CASES), 4, density=0.01)
    settings = SamplerSettings(mode="dps", members=4)
    weights = {"unaligned": {}, "physics": {"physics": 1.0}, "accuracy": {"accuracy": 1.0}}
    weights["forecast"] = {"forecast": 1.0}
    net = bundle.soup.network
    return {
        k: evaluate(net(w), bundle.codec, cases, settings, bundle.stats.std, Forecaster())
        for k, w in weights.items()
    }


def test_physics_weight_raises_geo_score_of_guided_analyses_at_small_mse_cost(guided):
    base, phys = guided["unaligned"], guided["physics"]
    # held-out bench: +1.3 points at -0.6 % MSE
    assert np.mean(phys["geo_members"]) > np.mean(base["geo_members"]) + 0.002
    assert np.mean(phys["mse"]) < 1.03 * np.mean(base["mse"])


def test_accuracy_weight_lowers_the_error_of_guided_analyses(guided):
    # held-out bench: -9 % [-11, -7]; shipped cases -8 %
    assert np.mean(guided["accuracy"]["mse"]) < 0.97 * np.mean(guided["unaligned"]["mse"])


def test_forecast_weight_lowers_the_error_of_forecasts_from_guided_analyses(guided):
    # held-out bench: -2.1 % [-2.7, -1.5]; shipped cases -2.6 %
    fc, base = np.mean(guided["forecast"]["fc_mse"]), np.mean(guided["unaligned"]["fc_mse"])
    assert fc < 0.99 * base


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
