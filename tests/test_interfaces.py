"""One interface per concept: every analysis method through AnalysisMethod, one bundle loader."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from alignda.analysis.methods import Analysis, AnalysisMethod
from alignda.analysis.score import ANALYSIS_MODES, SamplerSettings
from alignda.bundle import load_bundle
from alignda.checkpoints import CheckpointError
from alignda.obs import observe_case
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES
from alignda.world.cases import Cases


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


@pytest.fixture(scope="module")
def scenario():
    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[0]
    truth = cases.truth_state(t)
    return truth, cases.background_state(t), observe_case(truth, 0, density=0.05)


def methods(bundle):
    settings = [SamplerSettings(mode=m, steps=3, members=2) for m in ANALYSIS_MODES]
    return [bundle.variational()] + [bundle.prior_method(s) for s in settings]


@pytest.mark.slow
def test_every_method_answers_the_same_analysis(bundle, scenario) -> None:
    truth, background, obs = scenario
    names = []
    for method in methods(bundle):
        assert isinstance(method, AnalysisMethod)
        a = method.analyse(background, obs, seed=3)
        assert isinstance(a, Analysis) and a.method == method.name and a.seconds > 0
        m = 1 if method.name == "3D-Var" else 2
        assert a.members.shape == (m, *truth.shape) and np.isfinite(a.members).all()
        np.testing.assert_allclose(a.mean, a.members.mean(0))
        assert a.spread.shape == truth.shape and (a.spread > 0).any() == (m > 1)
        names.append(method.name)
    assert names == ["3D-Var", *ANALYSIS_MODES]


def test_the_seed_fixes_the_members(bundle, scenario) -> None:
    _, background, obs = scenario
    dps = bundle.prior_method(SamplerSettings(mode="dps", steps=3, members=2))
    same = [dps.analyse(background, obs, seed=5).members for _ in range(2)]
    np.testing.assert_array_equal(*same)
    assert not np.allclose(same[0], dps.analyse(background, obs, seed=6).members)
    var = bundle.variational()
    np.testing.assert_array_equal(
        var.analyse(background, obs, seed=0).members, var.analyse(background, obs, seed=9).members
    )


def test_aligned_weights_change_the_prior(bundle, scenario) -> None:
    _, background, obs = scenario
    s = SamplerSettings(mode="dps", steps=3, members=1)
    plain = bundle.prior_method(s).analyse(background, obs).members
    aligned = bundle.prior_method(s, {"physics": 1.0}).analyse(background, obs).members
    assert bundle.soup is not None and not np.allclose(plain, aligned)


def test_bundle_without_deltas_or_b(tmp_path, scenario) -> None:
    manifest = json.loads((CHECKPOINT_DIR / "manifest.json").read_text())
    keep = {k: v for k, v in manifest.items() if k in ("vae", "prior", "world_stats")}
    for entry in keep.values():
        shutil.copy(CHECKPOINT_DIR / entry["file"], tmp_path / entry["file"])
    (tmp_path / "manifest.json").write_text(json.dumps(keep))
    b = load_bundle(tmp_path)
    assert b.soup is None and b.soup_problem == "" and b.threedvar is None and b.hybrid is None
    with pytest.raises(CheckpointError, match="no usable aligned deltas"):
        b.prior_method(SamplerSettings(), {"physics": 1.0})
    with pytest.raises(CheckpointError, match="no 3D-Var background error"):
        b.variational()
    _, background, obs = scenario
    s = SamplerSettings(mode="dps", steps=2, members=1)
    assert np.isfinite(b.prior_method(s).analyse(background, obs).members).all()


def test_bundle_refuses_deltas_of_another_prior(tmp_path) -> None:
    manifest = json.loads((CHECKPOINT_DIR / "manifest.json").read_text())
    for entry in manifest.values():
        shutil.copy(CHECKPOINT_DIR / entry["file"], tmp_path / entry["file"])
    manifest["aligned"]["config"]["prior_sha256"] = "0" * 64
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    b = load_bundle(tmp_path)
    assert b.soup is None and "prior" in b.soup_problem
    with pytest.raises(CheckpointError, match="no usable aligned deltas"):
        b.prior_method(SamplerSettings(), {"multi": 1.0})
