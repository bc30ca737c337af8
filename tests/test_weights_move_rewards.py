"""The shipped aligned deltas: moving a reward's weight moves that reward (fixed seeds)."""

import numpy as np
import pytest
import torch

from alignda.alignment.rewards import geo_score, weighted_rmse
from alignda.alignment.soup import load_soup
from alignda.analysis.score import SamplerSettings, analyse
from alignda.model.codec import load_codec
from alignda.model.prior import prior_denoiser
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases

N_CASES = 3


@pytest.fixture(scope="module")
def samples():
    """obsfree ensembles of a few shipped cases for the unaligned, physics and accuracy
    weights, same seeds (common random numbers)."""
    torch.set_grad_enabled(False)
    soup, codec = load_soup(), load_codec()
    cases = Cases.open(SHIPPED_CASES)
    times = cases.times[:N_CASES]
    out = {}
    for name, w in {"unaligned": [0, 0, 0], "physics": [0, 0, 1], "accuracy": [1, 0, 0]}.items():
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


def test_physics_weight_raises_geo_score(samples):
    out, truth = samples
    geo = {
        k: np.mean([geo_score(m, x).mean() for m, x in zip(v, truth, strict=True)])
        for k, v in out.items()
    }
    assert geo["physics"] > geo["unaligned"] + 0.005


def test_accuracy_weight_lowers_member_error(samples):
    out, truth = samples

    def mse(k):
        return np.mean(
            [
                (weighted_rmse(m, x) ** 2).mean(0) / np.array([250, 10, 10, 0.33]) ** 2
                for m, x in zip(out[k], truth, strict=True)
            ]
        )

    assert mse("accuracy") < mse("unaligned")
