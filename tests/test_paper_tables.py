"""The evaluation command end to end on shipped cases, with small random deltas (the real
prior, VAE and 3D-Var; tiny sampler settings)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from alignda.alignment.soup import DELTAS, export_deltas
from alignda.cli import main
from alignda.evaluation.tables import simplex_points, tradeoff_figure
from alignda.model.prior import load_prior
from alignda.paths import CHECKPOINT_DIR


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The shipped checkpoints plus random 'aligned' deltas (1 % of each weight's scale)."""
    ck = tmp_path_factory.mktemp("ck")
    manifest = json.loads((CHECKPOINT_DIR / "manifest.json").read_text())
    keep = {k: v for k, v in manifest.items() if k != "aligned"}
    for entry in keep.values():
        shutil.copy(CHECKPOINT_DIR / entry["file"], ck)
    (ck / "manifest.json").write_text(json.dumps(keep))
    ref = load_prior(directory=ck).state_dict()
    g = torch.Generator().manual_seed(0)
    deltas = {
        n: {k: 0.01 * v.abs().mean() * torch.randn(v.shape, generator=g) for k, v in ref.items()}
        for n in DELTAS
    }
    export_deltas(deltas, "aligned", ck)
    return ck


@pytest.mark.slow
def test_evaluate_prints_the_paper_tables(folder, tmp_path, capsys):
    args = ["evaluate", "--checkpoints", str(folder), "--n-cases", "2", "--steps", "2"]
    args += ["--members", "1", "--modes", "dps", "--densities", "0.05", "--noise", "2"]
    args += ["--sweep-cases", "1", "--sweep-members", "1", "--skip-tradeoff"]
    assert main([*args, "--out", str(tmp_path), "--quiet"]) == 0
    text = (tmp_path / "tables.md").read_text()
    assert text.strip() == capsys.readouterr().out.strip()
    t1, t2 = text.split("## Table 2")[0], text.split("## Table 2")[1].split("## Sweep")[0]
    for row in ("background", "3D-Var", "dps", "dps-P", "dps-M"):
        assert f"| {row} " in t1 and f"| {row} " in t2
    assert "Geo-Score" in t1 and "RMSE z" in t2
    # 3D-Var at 1 % obs beats the background in the analysis table
    mse = {
        line.split("|")[1].strip(): float(line.split("|")[2])
        for line in t1.splitlines()
        if line.startswith("| ") and "method" not in line
    }
    assert mse["3D-Var"] < mse["background"]
    assert "5%" in text and "noise x" in text


def test_tradeoff_figure_has_a_panel_per_reward():
    pts = simplex_points()
    df = pd.DataFrame(
        {
            "accuracy": np.linspace(0.4, 0.6, len(pts)),
            "forecast": -np.ones(len(pts)),
            "Geo-Score %": np.arange(len(pts), dtype=float),
        },
    )
    for j, k in enumerate(("accuracy", "forecast", "physics")):
        df[f"w_{k}"] = [p[j] / max(sum(p), 1) for p in pts]
    fig = tradeoff_figure(df)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 3 and "unaligned" in titles[0]
    fig.clear()


@pytest.mark.slow
def test_assimilate_with_weights_records_them(folder, tmp_path):
    import xarray as xr

    out = tmp_path / "a.nc"
    args = ["assimilate", "--checkpoints", str(folder), "--steps", "2", "--members", "2"]
    assert main([*args, "--preset", "paper -M", "--out", str(out), "--quiet"]) == 0
    with xr.open_dataset(out) as ds:
        assert json.loads(ds.attrs["reward_weights"])["multi"] == 1.0
        assert ds.sizes["member"] == 2 and np.isfinite(ds["z_mean"]).all()


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--weights", "1,-1,0"], ">= 0"),
        (["--weights", "1,nan,0"], "finite"),
        (["--weights", "1,2"], "expected 3 weights"),
        (["--weights", "a,b,c"], "comma-separated numbers"),
        (["--preset", "speed"], "unknown preset"),
        (["--preset", "physics", "--weights", "1,0,0"], "not both"),
    ],
)
def test_assimilate_refuses_bad_weights(folder, tmp_path, capsys, extra, message):
    args = ["assimilate", "--checkpoints", str(folder), "--steps", "1", "--members", "1"]
    assert main([*args, *extra, "--out", str(tmp_path / "a.nc"), "--quiet"]) == 2
    assert message in capsys.readouterr().err
