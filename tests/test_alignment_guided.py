"""Guided preference data, DPO snapshots and the paired statistics of model selection."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from alignda.alignment.dpo import DPOConfig, train_dpo
from alignda.alignment.preferences import (
    PreferenceConfig,
    Preferences,
    candidate_plan,
    generate_preferences,
    guided_candidates,
    preference_pairs,
)
from alignda.alignment.selection import paired_bootstrap, selection_score
from alignda.analysis.score import SamplerSettings, analyse
from alignda.checkpoints import resolve
from alignda.model.codec import load_codec
from alignda.model.prior import load_prior, prior_denoiser
from alignda.obs.operator import observe_case
from alignda.paths import SHIPPED_CASES
from alignda.training.loop import TrainConfig
from alignda.world.cases import Cases
from alignda.world.stats import WorldStats
from tests.test_alignment import tiny_net


@pytest.fixture(scope="module")
def models():
    return load_codec(), load_prior(), Cases.open(SHIPPED_CASES)


def test_guided_candidates_are_the_analysis_members_with_their_sampler_latents(models) -> None:
    codec, net, cases = models
    t = cases.times[1]
    den = prior_denoiser(net)
    obs = observe_case(cases.truth_state(t), 4, density=0.02)
    settings = SamplerSettings(mode="dps", steps=3, members=2, seed=5)
    x_app = analyse(den, codec, cases.background_state(t), obs, settings)
    z, zb, x = guided_candidates(den, codec, cases.background_state(t), obs, settings)
    np.testing.assert_array_equal(x, x_app)
    with torch.no_grad():
        again = codec.decode(den.to_latent(z, zb.expand_as(z))).numpy()
    np.testing.assert_allclose(again, x, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(z[0], z[1])  # members differ


def test_candidate_plan_covers_the_candidates_with_varied_networks() -> None:
    cfg = PreferenceConfig(candidates=16, groups=4, guidance="dps", densities=(0.01, 0.05))
    plans = [candidate_plan(cfg, i) for i in range(20)]
    assert all(sum(g["members"] for g in p) == 16 and len(p) == 4 for p in plans)
    assert candidate_plan(cfg, 3) == plans[3]  # seeded
    dens = {g["density"] for p in plans for g in p}
    zetas = {g["zeta"] for p in plans for g in p}
    assert dens == {0.01, 0.05} and zetas <= set(cfg.zetas) and len(zetas) > 1
    assert len({g["obs_seed"] for p in plans for g in p}) == 80
    with pytest.raises(ValueError, match="groups"):
        PreferenceConfig(candidates=4, groups=5)
    with pytest.raises(ValueError, match="guidance"):
        PreferenceConfig(guidance="mmps")


@pytest.mark.slow
def test_guided_preferences_resume_from_the_partial_file(models, tmp_path) -> None:
    codec, net, cases = models
    std = WorldStats.load(resolve("world_stats")).std
    cfg = PreferenceConfig(candidates=4, backgrounds=2, steps=2, guidance="dps", groups=2)
    part = tmp_path / "partial.safetensors"
    one = generate_preferences(cases, codec, net, std, cfg, False, part, budget_s=0.0)
    assert len(one.times) == 1 and len(Preferences.load(part).times) == 1
    full = generate_preferences(cases, codec, net, std, cfg, False, part)
    assert full.z.shape == (2, 4, *codec.encode(torch.zeros(1, 4, 64, 128)).shape[1:])
    assert set(full.rewards) == {"accuracy", "forecast", "physics"}
    assert all(np.isfinite(v).all() and v.shape == (2, 4) for v in full.rewards.values())
    assert full.rewards["physics"][0].std() > 0  # candidates differ in what is measured
    back = Preferences.load(part)
    assert torch.equal(back.z, full.z) and np.array_equal(back.times, full.times)
    assert torch.equal(full.z[0], one.z[0])  # the first background was kept, not resampled
    with pytest.raises(ValueError, match="another config"):
        other = PreferenceConfig(candidates=4, backgrounds=2, steps=3, guidance="dps", groups=2)
        generate_preferences(cases, codec, net, std, other, False, part)


def test_pairs_within_groups_never_cross_a_group() -> None:
    acc = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]])  # group 0 beats group 1
    r = {"accuracy": acc, "forecast": acc, "physics": acc}
    assert {(w, ell) for _, w, ell in preference_pairs(r, "accuracy", 0.25)} == {
        (0, 6),
        (0, 7),
        (1, 6),
        (1, 7),
    }
    within = preference_pairs(r, "accuracy", 0.25, groups=2)
    assert {(int(w), int(ell)) for _, w, ell in within} == {(0, 3), (4, 7)}
    assert len(preference_pairs(r, "multi", 0.5, groups=2)) == 8
    with pytest.raises(ValueError, match="equal groups"):
        preference_pairs(r, "accuracy", 0.25, groups=3)


def test_dpo_snapshots_end_with_the_returned_delta(tmp_path) -> None:
    ref = tiny_net()
    g = torch.Generator().manual_seed(0)
    zb = torch.randn(4, 2, 4, 8, generator=g)
    z = zb[:, None] + torch.randn(4, 6, 2, 4, 8, generator=g)
    r = np.random.default_rng(0).normal(size=(4, 6))
    prefs = Preferences(zb, z, {"accuracy": r}, np.zeros(4, "datetime64[ns]"), {})
    cfg = DPOConfig(train=TrainConfig(steps=6, batch=4, lr=1e-3, warmup=1, val_every=3))
    delta, log = train_dpo(ref, prefs, "accuracy", cfg, tmp_path, progress=False, snapshots=True)
    snaps = sorted((tmp_path / "deltas").glob("*.safetensors"))
    assert [s.stem for s in snaps] == ["step_00003", "step_00006"]
    last, first = load_file(str(snaps[-1])), load_file(str(snaps[0]))
    assert all(torch.allclose(last[k], delta[k]) for k in delta)
    assert any(not torch.allclose(first[k], last[k]) for k in delta)


def test_paired_bootstrap_separates_a_shift_from_noise() -> None:
    a = np.linspace(1.0, 2.0, 12)
    b = 1.1 * a
    s = paired_bootstrap(a, b)
    assert s["mean"] == pytest.approx(0.1) and s["lo"] > 0.09 and not s["neutral"]
    noise = np.random.default_rng(1).normal(0, 0.1, 12)
    assert paired_bootstrap(a, a + noise - noise.mean())["neutral"]
    d = paired_bootstrap(a, a - 0.5, relative=False)
    assert d["mean"] == pytest.approx(-0.5) and d["hi"] < 0
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [2.0])


def test_selection_score_rewards_the_own_metric_and_penalises_mse_cost() -> None:
    base = {"mse": [1.0, 1.0], "balance": [0.5, 0.5], "fc_mse": [2.0, 2.0]}
    better_geo = {"mse": [1.0, 1.0], "balance": [0.6, 0.6], "fc_mse": [2.0, 2.0]}
    costly_geo = {"mse": [1.2, 1.2], "balance": [0.6, 0.6], "fc_mse": [2.0, 2.0]}
    assert selection_score("physics", better_geo, base) == pytest.approx(0.2)
    assert selection_score("physics", costly_geo, base) < 0
    assert selection_score("accuracy", better_geo, base) == 0.0
    assert selection_score("forecast", {**base, "fc_mse": [1.0, 1.0]}, base) == pytest.approx(0.5)
