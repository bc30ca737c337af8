"""Case generation, splits, netCDF I/O and the shipped test cases."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from alignda.cli import main
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases, concatenate, shipped_subset
from alignda.world.generation import (
    WORLDS,
    GenerateConfig,
    generate,
    in_parts,
    split,
    with_world,
)
from alignda.world.model import ShallowWaterModel
from alignda.world.osse import chain_analyses
from alignda.world.state import stack
from alignda.world.variables import VARIABLE_NAMES


@pytest.fixture(scope="module")
def tiny():
    cfg = GenerateConfig(n_trajectories=3, spinup_days=0.5, record_days=4.0, batch=16, seed=5)
    return cfg, generate(cfg, progress=False)


@pytest.mark.slow
def test_structure_and_attributes(tiny):
    cfg, cases = tiny
    assert cases.truth.sizes["time"] == 3 * cfg.states_per_trajectory
    assert len(cases) == 3 * len(cfg.analysis_indices())
    assert list(cases.truth.data_vars) == list(VARIABLE_NAMES)
    lat = cases.truth.latitude.values
    assert lat[0] > 85 and lat[-1] < -85 and np.all(np.diff(lat) < 0)
    assert cases.truth.z.attrs["units"] == "m" and cases.truth.u.attrs["units"] == "m s-1"
    assert np.all(
        np.diff(cases.truth.time.values[: cfg.states_per_trajectory]) == np.timedelta64(6, "h")
    )
    # backgrounds are forecasts: close to but not equal to the truth, and finite
    bg, truth = cases.pairs()
    assert np.isfinite(bg).all()
    err = np.sqrt(((bg - truth) ** 2).mean(axis=(0, 2, 3)))
    assert np.all(err > 0) and err[0] < 150.0, err


@pytest.mark.slow
def test_generation_is_reproducible(tiny):
    cfg, cases = tiny
    again = generate(cfg, progress=False)
    np.testing.assert_array_equal(stack(again.background), stack(cases.background))


def test_the_truths_world_is_read_from_the_generation_record():
    """Case files and manifests record their generation: the world whose imperfect model
    forecasts, cycles and measures the balance is read from there (v1 where none is)."""
    from alignda.alignment.rewards import Forecaster
    from alignda.bundle import load_bundle
    from alignda.world.model import WorldConfig
    from alignda.world.shock import height_tendency

    v2 = with_world(GenerateConfig(), "v2")
    assert WorldConfig.of_generation(v2.to_json()) == WORLDS["v2"].world
    assert WorldConfig.of_generation(json.loads(v2.to_json())) == WORLDS["v2"].world
    assert WorldConfig.of_generation(None) == WorldConfig()
    shipped = Cases.open(SHIPPED_CASES)
    assert shipped.world == WorldConfig() == load_bundle().world
    assert Cases(shipped.truth, shipped.background, {"generate_config": v2.to_json()}).world == (
        WORLDS["v2"].world
    )
    t = shipped.times[0]
    x = np.stack([shipped.background_state(t)])
    one, two = Forecaster()(x, hours=6), Forecaster(WORLDS["v2"].world)(x, hours=6)
    assert np.abs(one - two).max() > 1e-3  # each world's own model
    assert height_tendency(x, world=WORLDS["v2"].world)[0] != height_tendency(x)[0]


def test_world_versions_set_the_world_and_keep_the_sizes():
    """v1 is the default configuration (old case files read back as v1); v2 swaps the model and
    where backgrounds start, keeping a generation's sizes and seed."""
    assert WORLDS["v1"] == GenerateConfig()
    assert GenerateConfig.from_dict({"n_trajectories": 2}).version == "v1"
    cfg = with_world(GenerateConfig(n_trajectories=7, seed=3, batch=8), "v2")
    assert (cfg.version, cfg.backgrounds, cfg.world) == ("v2", "cycled", WORLDS["v2"].world)
    assert (cfg.n_trajectories, cfg.seed, cfg.batch) == (7, 3, 8)
    # v2's four staggered chains and the two calibration passes count; their own forecasts
    # are the backgrounds
    assert (cfg.chains, cfg.chain_forecasts_are_backgrounds) == (4, True)
    assert cfg.model_days()[1] == (7 * 4 + 2 * 7) * cfg.record_days
    six = replace(cfg, cycle_hours=6)  # one 6-hourly chain: the backgrounds are forecast apart
    forecasts = 7 * len(six.analysis_indices()) * six.lead_hours / 24
    assert six.model_days()[1] == forecasts + (7 + 2 * 7) * six.record_days
    assert cfg.world.noise_amplitude == 0 and cfg.world.steady_amplitude > 0
    assert with_world(cfg, "v1") == replace(GenerateConfig(), n_trajectories=7, seed=3, batch=8)
    with pytest.raises(ValueError, match="unknown world version"):
        with_world(cfg, "v3")


@pytest.mark.slow
def test_cycled_backgrounds_start_from_a_3dvar_chain():
    """World v2's backgrounds: forecasts from a cycled 3D-Var of the truth. The cases begin
    after the chain's spin-up, the chain's analyses are closer to the truth than its own
    backgrounds, the 48 h backgrounds are finite forecasts, the file says its world, and the
    generation is reproducible."""
    cfg = GenerateConfig(
        n_trajectories=2,
        spinup_days=0.5,
        record_days=3.0,
        chain_spinup_days=0.5,
        backgrounds="cycled",
        version="v2-test",
        batch=16,
        seed=3,
    )
    assert cfg.analysis_indices()[0] == 8 + 2
    cases = generate(cfg, progress=False)
    assert len(cases) == 2 * len(cfg.analysis_indices())
    assert cases.attrs["world_version"] == "v2-test"
    assert "3D-Var" in cases.background.attrs["description"]
    for v in ("z", "u", "v"):
        a, b = (cases.attrs[f"chain_{k}_rmse_{v}"] for k in ("analysis", "background"))
        assert 0 < a < b, (v, a, b)
    bg, truth = cases.pairs()
    assert np.isfinite(bg).all() and np.all(np.abs(bg - truth).max(axis=(0, 2, 3)) > 0)
    assert GenerateConfig.from_dict(json.loads(cases.attrs["generate_config"])) == cfg
    again = generate(cfg, progress=False)
    np.testing.assert_array_equal(stack(again.background), stack(cases.background))
    with pytest.raises(ValueError, match="backgrounds must be"):
        GenerateConfig(backgrounds="oracle")


@pytest.mark.slow
def test_staggered_chains_forecast_the_backgrounds():
    """A chain cycling at the backgrounds' lead (24 h) with a case every 12 h runs as two
    staggered chains; each background is the imperfect model's forecast from the analysis of
    the chain one lead earlier, and the generation uses the chains' own forecasts."""
    cfg = GenerateConfig(
        n_trajectories=2,
        spinup_days=0.5,
        record_days=4.0,
        chain_spinup_days=1.0,
        backgrounds="cycled",
        cycle_hours=24,
        lead_hours=24,
        batch=16,
        seed=5,
    )
    assert (cfg.chains, cfg.chain_forecasts_are_backgrounds) == (2, True)
    assert cfg.analysis_indices()[:2] == [8, 10]
    cases = generate(cfg, progress=False)
    truth = cases.truth_trajectories()
    assert truth.shape[:2] == (2, cfg.states_per_trajectory)
    model = ShallowWaterModel(cfg.world.imperfect())
    an, bgs, figures = chain_analyses(
        truth, model, 24, 0.01, 5, cfg.chain_spinup_steps, batch=16, chains=2
    )
    assert figures == {k: v for k, v in cases.attrs.items() if k.startswith("chain_")}
    assert np.isfinite(an[:, ::2]).all() and np.isnan(an[:, 1::2]).all()  # every 12 h
    bg, _ = cases.pairs()
    np.testing.assert_array_equal(
        bg, np.concatenate([bgs[j, cfg.analysis_indices()] for j in (0, 1)])
    )
    for k in (8, 10):  # each chain's background is its forecast from its analysis a day before
        x0 = model.from_physical(torch.from_numpy(an[:, k - 4]))
        fc = model.to_physical(model.run(x0, model.config.steps(24))[0]).numpy()
        np.testing.assert_allclose(fc, bgs[:, k], rtol=0, atol=1e-3 * np.abs(fc).max())
    with pytest.raises(ValueError, match="cycle_hours must be"):
        GenerateConfig(cycle_hours=18)
    with pytest.raises(ValueError, match="staggered"):
        chain_analyses(truth[:, :6], model, 24, 0.01, 5, 0, chains=3)


@pytest.mark.slow
def test_split_by_trajectory(tiny):
    cfg, cases = tiny
    parts = split(cases, cfg)
    trajs = [set(np.unique(p.truth.trajectory.values)) for p in parts.values()]
    assert sum(len(t) for t in trajs) == 3
    assert all(a.isdisjoint(b) for i, a in enumerate(trajs) for b in trajs[i + 1 :])
    assert sum(len(p) for p in parts.values()) == len(cases)


def test_parts_split_the_trajectories_and_seeds():
    cfg = GenerateConfig(n_trajectories=12, seed=4)
    assert in_parts(cfg, 1) == [cfg]
    ps = in_parts(cfg, 3)
    assert [p.first_trajectory for p in ps] == [0, 4, 8]
    assert {p.n_trajectories for p in ps} == {4}
    assert len({p.seed for p in ps}) == 3 and cfg.seed not in {p.seed for p in ps}
    for count in (5, 6):  # uneven, and parts of fewer than 3 trajectories
        with pytest.raises(ValueError, match="parts of 3"):
            in_parts(cfg, count)


@pytest.mark.slow
def test_parts_concatenate_into_one_split(tiny):
    cfg, first = tiny
    second_cfg = replace(cfg, seed=6, first_trajectory=3)
    second = generate(second_cfg, progress=False)
    assert set(np.unique(second.truth.trajectory.values)) == {3, 4, 5}
    pieces = [split(first, cfg), split(second, second_cfg)]
    whole = {n: concatenate([p[n] for p in pieces]) for n in ("train", "val", "test")}
    trajs = [set(np.unique(c.truth.trajectory.values)) for c in whole.values()]
    assert set().union(*trajs) == set(range(6))
    assert all(a.isdisjoint(b) for i, a in enumerate(trajs) for b in trajs[i + 1 :])
    assert sum(len(c) for c in whole.values()) == len(first) + len(second)
    bg, truth = whole["train"].pairs()
    assert bg.shape == truth.shape and len(bg) == len(whole["train"])
    with pytest.raises(ValueError, match="share truth times"):
        concatenate([first, first])


@pytest.mark.slow
def test_netcdf_roundtrip_packed(tiny, tmp_path):
    _, cases = tiny
    sub = shipped_subset(cases, per_trajectory=1)
    assert len(sub) == 3
    t = sub.times[0]
    assert sub.future_truth(t, 48) is not None
    path = sub.save(tmp_path / "c.nc", packed=True)
    back = Cases.open(path)
    scale = np.abs(stack(sub.truth)).max(axis=(0, 2, 3))
    err = np.abs(stack(back.truth) - stack(sub.truth)).max(axis=(0, 2, 3))
    assert np.all(err <= 2e-4 * scale + 1e-6)
    assert back.truth.z.attrs["standard_name"] == "geopotential_height"


def test_open_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        Cases.open(tmp_path / "missing.nc")
    bad = tmp_path / "bad.nc"
    bad.write_bytes(b"not a netcdf file")
    with pytest.raises(ValueError, match="not a readable cases file"):
        Cases.open(bad)


def test_shipped_cases_ready_for_the_app():
    cases = Cases.open(SHIPPED_CASES)
    assert len(cases) >= 8
    assert Path(SHIPPED_CASES).stat().st_size < 5e6
    for t in cases.times:
        assert cases.future_truth(t, cases.lead_hours) is not None
    bg, truth = cases.pairs()
    assert np.isfinite(bg).all() and np.isfinite(truth).all()


def test_cli_generate_small(tmp_path, capsys):
    assert (
        main(
            [
                "generate",
                "--out",
                str(tmp_path),
                "--n-trajectories",
                "1",
                "--spinup-days",
                "0.25",
                "--record-days",
                "2.25",
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "min" in out and "MB" in out
    assert Cases.open(tmp_path / "train.nc").truth.sizes["time"] == 10
    assert main(["generate", "--out", str(tmp_path), "--record-days", "1"]) == 2
    assert "record_days must exceed" in capsys.readouterr().err


def test_cli_generate_config_of_a_world_version():
    """`generate --world v2` takes v2's world and keeps the sizes given beside it."""
    from alignda.cli import build_parser
    from alignda.cli.data import _generate_config

    argv = ["generate", "--world", "v2", "--seed", "99", "--n-trajectories", "4"]
    cfg = _generate_config(build_parser().parse_args(argv))
    assert cfg == with_world(GenerateConfig(n_trajectories=4, seed=99), "v2")
