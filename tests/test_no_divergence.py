"""The hybrid mode (the app's default) holds for every observation network: finite analyses
that fit the observations better than the background does (O-A < O-B), from very sparse to
dense random networks and for stations, swaths and tracks (two shipped cases each, at few
steps; the full table is ``benchmarks/science_bench.py``). DPS guidance holds for random
networks up to 10 %; it still diverges where observations crowd (swaths, tracks; stations at
few steps), as the benchmark reports."""

import numpy as np
import pytest

from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.methods import prior_method
from alignda.analysis.score import SamplerSettings
from alignda.analysis.threedvar import BackgroundError, ThreeDVar
from alignda.checkpoints import resolve
from alignda.evaluation.experiments import NETWORKS
from alignda.model.codec import load_codec
from alignda.model.prior import load_prior, prior_denoiser
from alignda.obs.operator import observe_case
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases

pytestmark = pytest.mark.slow  # every observation network with the hybrid and DPS: minutes


@pytest.fixture(scope="module")
def models():
    hybrid = HybridEnVar(ThreeDVar(BackgroundError.load(resolve("threedvar_b"))))
    return prior_denoiser(load_prior()), load_codec(), Cases.open(SHIPPED_CASES), hybrid


CASES_TO_RUN = [("hybrid", *n) for n in NETWORKS] + [("dps", *n) for n in NETWORKS[:4]]


@pytest.mark.parametrize(("mode", "pattern", "density"), CASES_TO_RUN)
def test_analysis_does_not_diverge(models, mode, pattern, density) -> None:
    den, codec, cases, hybrid = models
    settings = SamplerSettings(mode=mode, steps=12, members=2)
    for k in (0, 9):
        t = cases.times[k]
        truth, bg = cases.truth_state(t), cases.background_state(t)
        obs = observe_case(truth, k, pattern=pattern, density=density)
        members = prior_method(den, codec, settings, hybrid).analyse(bg, obs).members
        assert np.isfinite(members).all()
        assert obs.misfit(members.mean(0)) < obs.misfit(bg), (pattern, density, k)
