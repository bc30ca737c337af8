"""Smoke configuration of the latent pipeline: tiny VAE and prior train a few steps through
the CLI (resumably), export to a checkpoint folder, and assimilate a shipped case."""

import json
import shutil

import numpy as np
import pytest
import xarray as xr

from alignda.checkpoints import ChecksumError, resolve
from alignda.cli import main
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES

pytestmark = pytest.mark.slow  # trains a tiny VAE and prior through the CLI


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    ck = root / "ck"
    ck.mkdir()
    shutil.copy(CHECKPOINT_DIR / "world_stats.safetensors", ck)
    manifest = json.loads((CHECKPOINT_DIR / "manifest.json").read_text())
    (ck / "manifest.json").write_text(json.dumps({"world_stats": manifest["world_stats"]}))
    common = [
        "--train",
        str(SHIPPED_CASES),
        "--val",
        str(SHIPPED_CASES),
        "--out",
        str(ck),
        "--batch",
        "2",
        "--val-every",
        "2",
        "--quiet",
    ]
    assert (
        main(
            [
                "train-vae",
                "--workdir",
                str(root / "vae"),
                "--steps",
                "2",
                "--width",
                "16",
                "--latent-channels",
                "4",
                *common,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train-prior",
                "--workdir",
                str(root / "prior"),
                "--steps",
                "2",
                "--dim",
                "32",
                "--depth",
                "1",
                "--heads",
                "2",
                *common,
            ]
        )
        == 0
    )
    return root, ck


def test_exported_and_registered(tiny):
    _, ck = tiny
    manifest = json.loads((ck / "manifest.json").read_text())
    assert {"vae", "prior", "world_stats"} <= set(manifest)
    assert "recon_rmse_z" in manifest["vae"]["figures"]
    assert "val_loss" in manifest["prior"]["figures"]
    assert resolve("prior", ck).suffix == ".safetensors"


def test_training_resumes(tiny, capsys):
    root, ck = tiny
    assert (
        main(
            [
                "train-vae",
                "--workdir",
                str(root / "vae"),
                "--steps",
                "3",
                "--width",
                "16",
                "--latent-channels",
                "4",
                "--train",
                str(SHIPPED_CASES),
                "--val",
                str(SHIPPED_CASES),
                "--out",
                str(ck),
                "--batch",
                "2",
                "--val-every",
                "1",
                "--quiet",
                "--no-export",
            ]
        )
        == 0
    )
    steps = [json.loads(line)["step"] for line in open(root / "vae" / "log.jsonl")]
    assert steps == [2, 3]  # picked up at step 2, did one more


@pytest.mark.parametrize("mode", ["obsfree", "repaint", "dps", "mmps"])
def test_assimilate_writes_cf_netcdf(tiny, mode, capsys):
    root, ck = tiny
    out = root / f"analysis_{mode}.nc"
    assert (
        main(
            [
                "assimilate",
                "--checkpoints",
                str(ck),
                "--case",
                "1",
                "--mode",
                mode,
                "--steps",
                "2",
                "--members",
                "2",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    # a fresh training has no aligned deltas: the default weights fall back to the prior
    assert "no usable aligned deltas" in capsys.readouterr().out
    ds = xr.open_dataset(out)
    assert ds.z.dims == ("member", "latitude", "longitude")
    assert ds.z_mean.attrs["units"] == "m" and "z_spread" in ds
    assert np.isfinite(ds.z.values).all()
    assert json.loads(ds.attrs["settings"])["mode"] == mode


def test_tampered_checkpoint_is_refused(tiny):
    _, ck = tiny
    path = resolve("prior", ck)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="corrupt or was changed"):
        resolve("prior", ck)
    assert (
        main(
            [
                "assimilate",
                "--checkpoints",
                str(ck),
                "--steps",
                "1",
                "--quiet",
                "--out",
                str(ck / "x.nc"),
            ]
        )
        == 2
    )


def test_hub_path_offline_from_local_cache(tmp_path, monkeypatch):
    """The Hub loader reads a repo snapshot from the local cache, never the network."""
    from alignda.checkpoints import checkpoint_dir

    snap = tmp_path / "models--alignda--tiny" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    for f in ("manifest.json", "world_stats.safetensors"):
        shutil.copy(CHECKPOINT_DIR / f, snap)
    (tmp_path / "models--alignda--tiny" / "refs").mkdir()
    (tmp_path / "models--alignda--tiny" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = checkpoint_dir("alignda/tiny", cache_dir=tmp_path)
    assert resolve("world_stats", folder).parent == folder
    with pytest.raises(FileNotFoundError, match="cannot get checkpoints of Hub repo"):
        checkpoint_dir("alignda/not-cached", cache_dir=tmp_path)
