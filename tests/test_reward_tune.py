"""The reward-gradient fine-tune: differentiable rewards, its loss, and the recipe around it."""

import copy
import json

import numpy as np
import pytest
import torch
from torch import Generator

from alignda.alignment.hybrid_tune import TUNE_DRAWS, hybrid_analyses
from alignda.alignment.recipe import select
from alignda.alignment.reward_tune import (
    RewardTerms,
    TuneConfig,
    TuneData,
    TuneSetting,
    TuneTrainer,
    decoded_estimate,
    onpolicy_state,
    reward_tune,
    tune_loss,
)
from alignda.alignment.rewards import geostrophic_deviations, normalised_mse
from alignda.alignment.selection import ResultCache, scenarios
from alignda.analysis.first_guess import FirstGuessSettings, prior_mean_first_guess
from alignda.analysis.score import SampleCodec, SamplerSettings
from alignda.bundle import load_bundle
from alignda.evaluation.metrics import weighted_msq
from alignda.model.codec import load_codec
from alignda.model.prior import load_prior, prior_denoiser
from alignda.obs.operator import observe_case
from alignda.paths import SHIPPED_CASES
from alignda.training.loop import TrainConfig
from alignda.world.cases import Cases
from alignda.world.model import ShallowWaterModel, WorldConfig

pytestmark = pytest.mark.slow  # short real reward-gradient fine-tunes


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    codec = load_codec().requires_grad_(False)
    cases = Cases.open(SHIPPED_CASES)
    return codec, load_prior(), cases, TuneData(cases, codec, limit=6), codec.stats.std


def test_torch_rewards_are_the_numpy_rewards_and_differentiable(setup) -> None:
    _, _, cases, data, scale = setup
    x = data.truth[:3].double()
    np.testing.assert_allclose(
        geostrophic_deviations(x).numpy(), geostrophic_deviations(x.numpy()), rtol=1e-12
    )
    truth = data.truth[3].double()
    msq = (weighted_msq(x, truth) / torch.as_tensor(scale) ** 2).mean(-1)
    np.testing.assert_allclose(msq.numpy(), normalised_mse(x.numpy(), truth.numpy(), scale))
    # gradient of D against a finite difference along a random direction
    x = x[:1].clone().requires_grad_(True)
    geostrophic_deviations(x).sum().backward()
    direction = torch.randn_like(x)
    eps = 1e-4
    d = geostrophic_deviations
    fd = (d(x + eps * direction) - d(x - eps * direction)) / (2 * eps)
    assert torch.isfinite(x.grad).all()
    np.testing.assert_allclose(float((x.grad * direction).sum()), float(fd[0]), rtol=1e-4)


def test_differentiable_forecast_is_the_forecast(setup) -> None:
    _, _, _, data, _ = setup
    model = ShallowWaterModel(WorldConfig().imperfect())
    x = data.truth[:1].clone().requires_grad_(True)
    with_grad = model.forecast(x, 6, grad=True)
    torch.testing.assert_close(with_grad.detach(), model.forecast(data.truth[:1], 6))
    with_grad[:, 1].mean().backward()  # the mean zonal wind 6 h later
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_reward_gradient_lowers_its_own_term(setup) -> None:
    """A few optimiser steps on one fixed batch lower the reward term on that batch (the
    reward's gradient reaches the network through the decoder), and only the network moves."""
    codec, ref, _, data, scale = setup
    terms = RewardTerms(scale)
    cfg = TuneConfig(anchor=0.0, sampler=SamplerSettings(mode="obsfree", steps=8))
    idx, stops = torch.tensor([0, 3]), torch.tensor([1])  # t = 0.875
    for kind in ("accuracy", "physics"):
        net = copy.deepcopy(ref).requires_grad_(True)
        opt = torch.optim.Adam(net.parameters(), lr=3e-4)
        values = []
        for _ in range(5):
            gen = torch.Generator().manual_seed(1)
            loss, parts = tune_loss(net, ref, codec, data, terms, kind, cfg, gen, idx, stops)
            values.append(parts[f"{kind}_ratio"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert values[0] == pytest.approx(1.0, abs=1e-5)  # starts at the reference
        assert all(b < a for a, b in zip(values, values[1:], strict=False)), (kind, values)
        assert values[-1] < 0.997 * values[0], (kind, values)
    assert all(not p.requires_grad for p in codec.parameters())


def test_guided_rollouts_carry_the_observations(setup) -> None:
    """DPS rollouts (``--tune-mode dps``) reach states whose estimates are closer to the truth
    than the obsfree rollouts' (same noise), and a DPS tune step starts at the reference."""
    codec, ref, _, data, scale = setup
    terms = RewardTerms(scale)
    idx = torch.tensor([0, 3])
    zb = data.zb[idx]
    obs = [observe_case(data.truth[i].numpy(), 7, density=0.05) for i in idx.tolist()]
    errors = {}
    for mode in ("obsfree", "dps"):
        settings = SamplerSettings(mode=mode, steps=8)
        gen = torch.Generator().manual_seed(0)
        x_t, t = onpolicy_state(ref, zb, 5, settings, gen, codec, obs)
        with torch.no_grad():
            states = decoded_estimate(ref, codec, x_t, t, zb)
        errors[mode] = terms("accuracy", states, data, idx)
    assert (errors["dps"] < 0.8 * errors["obsfree"]).all(), errors
    with pytest.raises(ValueError, match="one obs set per state"):
        onpolicy_state(ref, zb, 1, SamplerSettings(mode="dps", steps=4), gen, codec, obs[:1])
    setting = TuneSetting(lr=1e-5, steps=1, schedules=(4,), mode="dps")
    assert setting.name == "tune_lr1e-05_s1_a1_n4_dps"
    cfg = setting.config()
    hybrid = TuneSetting(lr=1e-5, steps=1, mode="hybrid").config()
    net = copy.deepcopy(ref).requires_grad_(True)
    gen = torch.Generator().manual_seed(2)
    loss, parts = tune_loss(net, ref, codec, data, terms, "accuracy", cfg, gen, idx[:1])
    loss.backward()
    assert parts["accuracy_ratio"] == pytest.approx(1.0, abs=1e-5)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    with pytest.raises(ValueError, match="3D-Var B"):
        tune_loss(net, ref, codec, data, terms, "accuracy", hybrid, gen, idx[:1])


def test_hybrid_tune_scores_the_analysis_of_the_first_guess(setup) -> None:
    """The hybrid fine-tune's states are the variational analyses of the app's prior-mean
    first guess (same draws), and a few steps on one batch lower the analysis' own reward."""
    codec, ref, _, data, scale = setup
    var = load_bundle().threedvar
    den = prior_denoiser(ref)
    i = 2
    obs = observe_case(data.truth[i].numpy(), 3, density=0.01)
    view = SampleCodec(codec, den, data.zb[i : i + 1])
    settings = FirstGuessSettings(draws=TUNE_DRAWS)
    bg = data.background[i].numpy()
    guess = prior_mean_first_guess(den, view, bg, var.sphere, Generator().manual_seed(5), settings)
    eps = torch.randn((1, TUNE_DRAWS, *data.zb.shape[1:]), generator=Generator().manual_seed(5))
    with torch.no_grad():
        got = hybrid_analyses(ref, codec, var, data.background[i : i + 1], view.zb, [obs], eps)
    np.testing.assert_allclose(got[0].numpy(), var.analyse(guess, obs), rtol=1e-3, atol=2e-3)

    terms, idx = RewardTerms(scale), torch.tensor([1, 4])
    cfg = TuneConfig(anchor=0.0, sampler=SamplerSettings(mode="hybrid"))
    net = copy.deepcopy(ref).requires_grad_(True)
    opt = torch.optim.Adam(net.parameters(), lr=1e-5)  # the first guess is sensitive
    values = []
    for _ in range(5):
        gen = torch.Generator().manual_seed(1)
        loss, parts = tune_loss(net, ref, codec, data, terms, "accuracy", cfg, gen, idx, None, var)
        values.append(parts["accuracy_ratio"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert values[0] == pytest.approx(1.0, abs=1e-5)
    assert values[-1] < 0.995 * values[0], values


def test_result_cache_is_shared_by_runs(tmp_path) -> None:
    """Two runs of one workdir (e.g. two fine-tunes in parallel) keep each other's results."""
    a, b = ResultCache(tmp_path / "e.json"), ResultCache(tmp_path / "e.json")
    a.get("one", lambda: {"mse": [1.0]})
    b.get("two", lambda: {"mse": [2.0]})
    assert set(ResultCache(tmp_path / "e.json").data) == {"one", "two"}
    assert b.get("one", lambda: pytest.fail("recomputed")) == {"mse": [1.0]}


def test_recipe_selects_among_reward_tuned_snapshots(setup, tmp_path) -> None:
    codec, ref, cases, data, scale = setup
    setting = TuneSetting(lr=1e-5, steps=2, anchor=1.0, batch=2, snapshot_every=1)
    trainer = TuneTrainer(setting, codec, data, scale, ("physics",), val_data=data)
    val = scenarios(cases, 2, density=0.02)
    sampler = SamplerSettings(mode="dps", steps=3, members=2)
    selection = select(ref, codec, val, [trainer], scale, tmp_path, sampler, log=lambda s: None)
    assert selection["physics"]["key"].startswith(f"{setting.name}/physics/step_0000")
    snaps = sorted((tmp_path / setting.name / "physics" / "deltas").glob("*.safetensors"))
    assert [p.stem for p in snaps] == ["step_00001", "step_00002"]
    log = [json.loads(x) for x in (tmp_path / setting.name / "physics" / "log.jsonl").open()]
    assert [e["step"] for e in log] == [1, 2] and all("val_physics_ratio" in e for e in log)
    cached = json.loads((tmp_path / "evaluations.json").read_text())
    assert {"unaligned", *(f"{setting.name}/physics/{p.stem}/x1" for p in snaps)} <= set(cached)
    # the run resumes: nothing is retrained or re-evaluated
    again = select(ref, codec, val, [trainer], scale, tmp_path, sampler, log=lambda s: None)
    assert again == selection


def test_tune_refuses_unknown_kinds_and_settings(setup, tmp_path) -> None:
    codec, ref, _, data, scale = setup
    with pytest.raises(ValueError, match="unknown kind"):
        cfg = TuneConfig(train=TrainConfig(steps=1, batch=2))
        reward_tune(ref, codec, data, scale, "beauty", cfg, tmp_path, progress=False)
    with pytest.raises(ValueError, match="t_min <= t_max"):
        TuneConfig(t_min=0.5, t_max=0.4)
    with pytest.raises(ValueError, match="no step"):
        sampler = SamplerSettings(mode="obsfree", steps=4)
        TuneConfig(t_min=0.55, t_max=0.6, sampler=sampler).scored_steps()
    with pytest.raises(ValueError, match="anchor"):
        TuneConfig(anchor=-1.0)


def test_align_select_command_exports_the_winning_tuned_delta(setup, tmp_path, capsys) -> None:
    """The command line: a tune of one kind beside the shipped deltas; an export (only where
    the tune wins) keeps every other kind as shipped and names the origin of each."""
    import shutil

    from alignda.alignment.soup import load_deltas
    from alignda.checkpoints import read_manifest
    from alignda.cli import main
    from alignda.paths import CHECKPOINT_DIR

    out = tmp_path / "ck"
    shutil.copytree(CHECKPOINT_DIR, out)
    argv = ["align-select", "--settings", "", "--tune", "1e-5:2:1:physics", "--tune-every", "1"]
    argv += ["--tune-cases", str(SHIPPED_CASES), "--tune-limit", "4", "--val-cases"]
    argv += [str(SHIPPED_CASES), "--n-val", "2", "--steps", "3", "--members", "2"]
    argv += ["--workdir", str(tmp_path / "run"), "--checkpoints", str(out), "--out", str(out)]
    before = read_manifest(out)["aligned"]
    assert main([*argv, "--export"]) == 0
    origin = json.loads((tmp_path / "run" / "chosen.json").read_text())
    assert set(origin) == {"accuracy", "forecast", "physics", "multi"}
    kept = ("accuracy", "forecast", "multi")
    assert all(origin[k] == before["config"]["origin"][k] for k in kept)  # their record stays
    after = read_manifest(out)["aligned"]
    if origin["physics"] == before["config"]["origin"]["physics"]:  # the tune lost: no export
        assert after == before
        assert "nothing exported" in capsys.readouterr().out
    else:  # it won on these 2 cases: exported beside the shipped ones, its origin named
        assert origin["physics"].startswith("tune_lr1e-05_s2_a1_n16-32-64/physics/")
        assert after["config"]["reward_tune"] == {"cases": str(SHIPPED_CASES)}
        for k in kept:
            assert after["config"]["selection"][k] == before["config"]["selection"][k]
        assert after["config"]["sampler_steps"] == [16, 32, 64]
        shipped, exported = load_deltas(directory=CHECKPOINT_DIR), load_deltas(directory=out)
        for k in ("accuracy", "forecast", "multi"):
            torch.testing.assert_close(exported[k], shipped[k], atol=1e-3, rtol=1e-3)
    assert main(["align-select", "--settings", "", "--workdir", str(tmp_path / "x")]) == 2
    assert "nothing to train" in capsys.readouterr().err
