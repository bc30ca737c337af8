"""Bad input wherever a user can give some: CLI arguments, checkpoint folders, CSV uploads,
case files, settings JSON and requests. Each must be refused with an exception of the
project's types (or a CLI exit status 2) and a message that says what is wrong, never a
traceback from deep inside numpy/torch/xarray and never a silently wrong result.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import xarray as xr
from safetensors.torch import save_file

from alignda import studio as st
from alignda.alignment.soup import load_deltas
from alignda.analysis.threedvar import BackgroundError
from alignda.checkpoints import (
    MANIFEST_NAME,
    CheckpointError,
    ChecksumError,
    checkpoint_dir,
    register,
    resolve,
)
from alignda.cli import main
from alignda.model.codec import load_codec
from alignda.model.prior import load_prior
from alignda.obs.checks import ObsError
from alignda.obs.points import DEFAULT_MAX_ROWS, points_from_csv
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES
from alignda.world.cases import Cases
from alignda.world.grid import Grid

GRID = Grid(64, 128)


# --- bad files, written once ----------------------------------------------------------------
@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Broken case files, named for what is wrong with them (``missing.nc`` is absent)."""
    root = tmp_path_factory.mktemp("bad")
    (root / "empty.nc").write_bytes(b"")
    (root / "garbage.nc").write_bytes(bytes(range(256)) * 8)
    (root / "folder.nc").mkdir()
    xr.Dataset({"a": ("x", np.arange(3.0))}).to_netcdf(root / "no_groups.nc")
    shipped = Cases.open(SHIPPED_CASES)
    one = shipped.subset(shipped.times[:1])
    Cases(one.truth.drop_vars("tracer"), one.background.drop_vars("tracer")).save(
        root / "no_tracer.nc"
    )
    truth = one.truth.copy(deep=True)
    truth["z"][:] = np.nan
    Cases(truth, one.background).save(root / "nan_truth.nc")
    background = one.background.copy(deep=True)
    background["u"][0, 5, 7] = np.inf
    Cases(one.truth, background).save(root / "inf_background.nc")
    flat = one.truth.isel(latitude=0)  # (time, longitude): no latitude dimension
    Cases(flat, one.background.isel(latitude=0)).save(root / "wrong_dims.nc")
    return root


# --- 1. the CLI -----------------------------------------------------------------------------
CHEAP = ["--steps", "4", "--members", "1", "--quiet"]

CLI_ASSIMILATE = {
    "case index out of range": (["--case", "999"], r"case index 999 out of range \(0\.\.15\)"),
    "case time not in the file": (
        ["--case", "1999-01-01T00"],
        r"no analysis case at 1999-01-01T00; first 2000-07-01T00",
    ),
    "case neither index nor time": (
        ["--case", "abc"],
        "case 'abc' is neither an index nor a time: give an index 0..15",
    ),
    "members 0": (["--members", "0"], r"members must be in 1\.\.64, got 0"),
    "steps 0": (["--steps", "0"], r"steps must be in 1\.\.1024, got 0"),
    "zeta nan": (["--zeta", "nan"], "zeta must be finite and >= 0, got nan"),
    "zeta -1": (["--zeta=-1"], "zeta must be finite and >= 0, got -1"),
    "gamma inf": (["--gamma", "inf"], "gamma must be finite and >= 0, got inf"),
    "density 0": (["--density", "0"], r"density must be in \(0, 1\]"),
    "density nan": (["--density", "nan"], r"density must be in \(0, 1\]"),
    "seed -1": (["--seed=-1"], "--seed must be >= 0, got -1"),
    "unknown pattern": (["--pattern", "nowhere"], "unknown observation pattern 'nowhere'"),
    "unknown mode": (["--mode", "magic"], "unknown guidance mode 'magic'"),
    "weights wrong length": (["--weights", "1,2"], r"expected 3 weights .* got 2"),
    "weights negative": (["--weights=-1,0,0"], "weight 'accuracy' must be finite and >= 0"),
    "weights nan": (["--weights", "nan,0,0"], "weight 'accuracy' must be finite and >= 0"),
    "weights not numbers": (["--weights", "a,b,c"], "--weights must be comma-separated numbers"),
    "unknown preset": (["--preset", "nonsense"], "unknown preset 'nonsense'; choose one of"),
    "preset and weights": (
        ["--preset", "accuracy", "--weights", "1,0,0"],
        "give --preset or --weights, not both",
    ),
    "cases missing": (["--cases", "{bad}/missing.nc"], "no cases file at .*missing.nc"),
    "cases a folder": (["--cases", "{bad}/folder.nc"], "no cases file at .*folder.nc"),
    "cases empty": (["--cases", "{bad}/empty.nc"], ".*empty.nc is not a readable cases file"),
    "cases garbage": (["--cases", "{bad}/garbage.nc"], ".*garbage.nc is not a readable cases file"),
    "cases without groups": (
        ["--cases", "{bad}/no_groups.nc"],
        ".*no_groups.nc is not a readable cases file: no group 'truth'",
    ),
    "cases without a variable": (
        ["--cases", "{bad}/no_tracer.nc"],
        r".*no_tracer.nc group 'truth' lacks variable\(s\) \['tracer'\]",
    ),
    "cases with NaN": (
        ["--cases", "{bad}/nan_truth.nc"],
        ".*nan_truth.nc group 'truth': variable 'z' has 8192 NaN or infinite value",
    ),
    "checkpoints folder missing": (
        ["--checkpoints", "{bad}/no_checkpoints"],
        "checkpoint folder .*no_checkpoints does not exist",
    ),
    "checkpoints folder without manifest": (
        ["--checkpoints", "{bad}"],
        ".* has no manifest.json: not a checkpoint folder",
    ),
    "unknown prior name": (["--prior", "nope"], r"no checkpoint 'nope' in .*manifest.json \(has"),
    "noise scale nan": (["--noise-scale", "nan"], "--noise-scale must be finite and >= 0"),
    "noise scale -1": (["--noise-scale=-1"], "--noise-scale must be finite and >= 0, got -1"),
    "points file missing": (
        ["--points", "{bad}/no_points.csv"],
        "cannot read CSV file .*no_points.csv.*No such file",
    ),
    "points file garbage": (["--points", "{bad}/garbage.nc"], "CSV is not UTF-8 text|header"),
}


def cli_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI, expect exit status 2 and return its one-line error message."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.parametrize(("extra", "message"), CLI_ASSIMILATE.values(), ids=CLI_ASSIMILATE.keys())
def test_cli_assimilate_refuses_bad_arguments(
    extra: list[str], message: str, bad: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "analysis.nc"
    argv = ["assimilate", *CHEAP, "--out", str(out), *(a.format(bad=bad) for a in extra)]
    line = cli_error(argv, capsys)
    assert re.match(f"alignda assimilate: error: {message}", line), line
    assert not out.exists()


def test_cli_negative_number_needs_the_equals_form(capsys: pytest.CaptureFixture[str]) -> None:
    """argparse reads '-1,0,0' as an option: it exits 2 with its own usage message."""
    with pytest.raises(SystemExit) as exit_info:
        main(["assimilate", *CHEAP, "--weights", "-1,0,0"])
    assert exit_info.value.code == 2
    assert "argument --weights: expected one argument" in capsys.readouterr().err


def test_cli_hub_repo_unknown_offline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    offline(monkeypatch)
    line = cli_error(["assimilate", *CHEAP, "--hub-repo", "nobody/no-such-repo"], capsys)
    assert "cannot get checkpoints of Hub repo 'nobody/no-such-repo'" in line


@pytest.mark.parametrize("command", ["plot", "evaluate"])
def test_cli_other_commands_with_a_missing_cases_file(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.nc"
    line = cli_error([command, "--cases", str(missing), "--out", str(tmp_path / "out")], capsys)
    assert line == f"alignda {command}: error: no cases file at {missing}"


# --- 2. checkpoints ------------------------------------------------------------------------
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub offline mode for this test (the hub reads the variable once, at import)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def edit_manifest(folder: Path, change: Callable[[dict], Any]) -> None:
    """Rewrite the manifest after ``change`` edited it in place."""
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    change(manifest)
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))


def flip_byte(path: Path) -> None:
    """Change one bit in the middle of a file."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    """Keep the first half of a file."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def truncate_and_register(folder: Path, name: str) -> None:
    """The damaged file re-registered, so that its sha256 matches the manifest again."""
    path = folder / f"{name}.safetensors"
    truncate(path)
    register(name, path, directory=folder)


def other_tensors_registered(folder: Path, name: str, metadata: dict | None = None) -> None:
    """A valid safetensors file holding other tensors, registered as checkpoint ``name``."""
    path = folder / f"{name}.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path), metadata=metadata)
    register(name, path, directory=folder)


def junk_registered(folder: Path) -> None:
    """Text instead of safetensors, registered with its sha256."""
    path = folder / "world_stats.safetensors"
    path.write_bytes(b"this is not a safetensors file")
    register("world_stats", path, directory=folder)


# name: (damage, loader it breaks, exception, message)
DAMAGE: dict[str, tuple[Callable[[Path], Any], Callable[[Path], Any], type, str]] = {
    "one byte of the prior changed": (
        lambda d: flip_byte(d / "prior.safetensors"),
        lambda d: load_prior(directory=d),
        ChecksumError,
        r"prior.safetensors is corrupt or was changed: sha256 .* does not match",
    ),
    "vae truncated": (
        lambda d: truncate(d / "vae.safetensors"),
        load_codec,
        ChecksumError,
        "vae.safetensors is corrupt or was changed",
    ),
    "aligned deltas deleted": (
        lambda d: (d / "aligned.safetensors").unlink(),
        lambda d: load_deltas(directory=d),
        FileNotFoundError,
        "aligned.safetensors listed in the manifest is missing",
    ),
    "manifest not JSON": (
        lambda d: (d / MANIFEST_NAME).write_text("{not json"),
        lambda d: load_prior(directory=d),
        CheckpointError,
        "manifest.json is not valid JSON",
    ),
    "manifest a JSON list": (
        lambda d: (d / MANIFEST_NAME).write_text("[1, 2]"),
        lambda d: load_prior(directory=d),
        CheckpointError,
        "manifest.json must hold a JSON object of named checkpoints, not list",
    ),
    "manifest without the vae": (
        lambda d: edit_manifest(d, lambda m: m.pop("vae")),
        load_codec,
        FileNotFoundError,
        r"no checkpoint 'vae' in .*manifest.json \(has \['aligned', 'aligned_hybrid', 'prior'",
    ),
    "manifest entry without sha256": (
        lambda d: edit_manifest(d, lambda m: m["threedvar_b"].pop("sha256")),
        lambda d: resolve("threedvar_b", d),
        CheckpointError,
        "manifest entry 'threedvar_b' .* needs 'file' and 'sha256' strings",
    ),
    "manifest entry outside the folder": (
        lambda d: edit_manifest(d, lambda m: m["prior"].update(file="../../etc/passwd")),
        lambda d: load_prior(directory=d),
        CheckpointError,
        "manifest entry 'prior' points outside",
    ),
    "prior truncated and re-registered": (
        lambda d: truncate_and_register(d, "prior"),
        lambda d: load_prior(directory=d),
        CheckpointError,
        r"prior.safetensors is not a valid safetensors file \(.*not fully covered",
    ),
    "vae truncated and re-registered": (
        lambda d: truncate_and_register(d, "vae"),
        load_codec,
        CheckpointError,
        "vae.safetensors is not a valid safetensors file",
    ),
    "junk registered as world stats": (
        junk_registered,
        lambda d: resolve("world_stats", d),
        CheckpointError,
        "world_stats.safetensors is not a valid safetensors file",
    ),
    "other tensors registered as the prior": (
        lambda d: other_tensors_registered(d, "prior"),
        lambda d: load_prior(directory=d),
        CheckpointError,
        "prior.safetensors has no 'config' metadata: it is not a prior checkpoint",
    ),
    "other tensors with a prior's config": (
        lambda d: other_tensors_registered(d, "prior", {"config": "{}"}),
        lambda d: load_prior(directory=d),
        CheckpointError,
        "prior.safetensors does not hold the weights of a prior: RuntimeError",
    ),
    "other tensors registered as the vae": (
        lambda d: other_tensors_registered(d, "vae", {"config": "{}"}),
        load_codec,
        CheckpointError,
        "vae.safetensors does not hold the weights of a VAE: KeyError",
    ),
    "other tensors registered as world stats": (
        lambda d: other_tensors_registered(d, "world_stats"),
        load_codec,
        CheckpointError,
        "world_stats.safetensors does not hold world statistics: TypeError",
    ),
    "other tensors registered as the 3D-Var B": (
        lambda d: other_tensors_registered(d, "threedvar_b"),
        lambda d: BackgroundError.load(resolve("threedvar_b", d)),
        CheckpointError,
        r"threedvar_b.safetensors does not hold the 3D-Var background error \(sigma, beta\)",
    ),
}


@pytest.fixture
def checkpoints(tmp_path: Path) -> Path:
    """A writable copy of the shipped checkpoints."""
    return Path(shutil.copytree(CHECKPOINT_DIR, tmp_path / "checkpoints"))


@pytest.mark.parametrize(("damage", "loader", "error", "message"), DAMAGE.values(), ids=DAMAGE)
def test_damaged_checkpoints_are_refused_by_name(
    checkpoints: Path,
    damage: Callable[[Path], Any],
    loader: Callable[[Path], Any],
    error: type,
    message: str,
) -> None:
    loader(checkpoints)  # the copy loads before the damage
    damage(checkpoints)
    with pytest.raises(error, match=message):
        loader(checkpoints)
    with pytest.raises(error, match=message):
        st.Studio(folder=checkpoints)


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("missing", "checkpoint folder .*missing does not exist"),
        ("empty", "empty has no manifest.json: not a checkpoint folder"),
    ],
)
def test_a_folder_that_is_no_checkpoint_folder(tmp_path: Path, folder: str, message: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=message):
        st.Studio(folder=tmp_path / folder)


def test_unknown_hub_repo_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    offline(monkeypatch)
    with pytest.raises(FileNotFoundError, match="cannot get checkpoints of Hub repo 'nobody/"):
        checkpoint_dir("nobody/no-such-repo", cache_dir=tmp_path)


# --- 3. files users give: CSV points --------------------------------------------------------
CSV_TEXT = {  # beyond tests/test_obs.py::BAD_CSV
    "lat 91": ("lat,lon\n91,0\n", r"row 1 \(line 2\): lat 91 outside \[-90, 90\]"),
    "lat -91": ("lat,lon\n0,0\n-91,0\n", r"row 2 \(line 3\): lat -91 outside \[-90, 90\]"),
    "lon 400": ("lat,lon\n0,400\n", r"lon 400 outside \[-180, 360\)"),
    "semicolons": ("lat;lon\n1;2\n", "unknown column 'lat;lon'; expected lat, lon"),
    "wrong column names": ("x,y\n1,2\n", "unknown column 'x'"),
    "unknown variable": ("lat,lon,variable,value\n1,2,humidity,3\n", "unknown variable"),
    "inf value": ("lat,lon,variable,value\n1,2,z,-inf\n", "value '-inf' is not finite"),
    "overflowing number": ("lat,lon\n1e400,0\n", "lat '1e400' is not finite"),
    "too many rows": (
        "lat,lon\n" + "10,20\n" * (DEFAULT_MAX_ROWS + 1),
        f"more than max_rows={DEFAULT_MAX_ROWS}",
    ),
}


@pytest.mark.parametrize(("text", "message"), CSV_TEXT.values(), ids=CSV_TEXT)
def test_csv_points_refused(text: str, message: str) -> None:
    with pytest.raises(ObsError, match=message):
        points_from_csv(text, GRID)


CSV_FILES = {  # contents of an upload, read as the app does: read_upload, then parse
    "empty file": (b"", ObsError, "CSV is empty"),
    "header only": (b"lat,lon\n", ObsError, "CSV has a header but no data rows"),
    "NaN row": (b"lat,lon\n1,2\nnan,3\n", ObsError, r"row 2 \(line 3\): lat 'nan' is not finite"),
    "binary junk": (bytes(range(256)) * 4, st.StudioError, "is a binary file, not CSV text"),
    "not UTF-8": (bytes(range(128, 256)) * 4, st.StudioError, "is not UTF-8 text"),
    "1 MB + 1 byte": (
        b"lat,lon\n" + b"0" * (st.MAX_UPLOAD_BYTES - 7),
        st.StudioError,
        "uploads are limited to 1 MB",
    ),
}


@pytest.mark.parametrize(("content", "error", "message"), CSV_FILES.values(), ids=CSV_FILES)
def test_csv_uploads_refused(tmp_path: Path, content: bytes, error: type, message: str) -> None:
    path = tmp_path / "points.csv"
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        points_from_csv(st.read_upload(path), GRID)


def test_csv_path_that_does_not_exist_or_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ObsError, match="cannot read CSV file .*nope.csv"):
        points_from_csv(tmp_path / "nope.csv", GRID)
    with pytest.raises(ObsError, match="cannot read CSV file .*Is a directory"):
        points_from_csv(tmp_path, GRID)
    with pytest.raises(st.StudioError, match="nope.csv is not a file"):
        st.read_upload(tmp_path / "nope.csv")
    with pytest.raises(st.StudioError, match=f"{tmp_path.name} is not a file"):
        st.read_upload(tmp_path)


# --- 3. files users give: case netCDF -------------------------------------------------------
CASE_FILES = {
    "missing": ("missing.nc", FileNotFoundError, "no cases file at"),
    "a folder": ("folder.nc", FileNotFoundError, "no cases file at"),
    "empty": ("empty.nc", ValueError, "empty.nc is not a readable cases file .*; expected netCDF"),
    "garbage bytes": ("garbage.nc", ValueError, "garbage.nc is not a readable cases file"),
    "netCDF without groups": ("no_groups.nc", ValueError, "no group 'truth'; expected netCDF"),
    "a variable missing": (
        "no_tracer.nc",
        ValueError,
        r"lacks variable\(s\) \['tracer'\]: a cases file needs \['z', 'u', 'v', 'tracer'\]",
    ),
    "NaN truth": ("nan_truth.nc", ValueError, "group 'truth': variable 'z' has 8192 NaN"),
    "inf background": (
        "inf_background.nc",
        ValueError,
        "group 'background': variable 'u' has 1 NaN or infinite value",
    ),
    "no latitude dimension": (
        "wrong_dims.nc",
        ValueError,
        r"variable 'z' has dims \('time', 'longitude'\), expected \(time, latitude, longitude\)",
    ),
}


@pytest.mark.parametrize(("name", "error", "message"), CASE_FILES.values(), ids=CASE_FILES)
def test_case_files_refused(bad: Path, name: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Cases.open(bad / name)


@pytest.mark.parametrize(
    ("key", "error", "message"),
    [
        (
            "",
            ValueError,
            "no case given: give an index 0..15 or an analysis time like 2000-07-01T00",
        ),
        ("abc", ValueError, "case 'abc' is neither an index nor a time"),
        ("1.5", ValueError, "case '1.5' is neither an index nor a time"),
        ("16", IndexError, r"case index 16 out of range \(0\.\.15\)"),
        ("1999-01-01T00", KeyError, "no analysis case at 1999-01-01T00"),
    ],
    ids=["empty", "word", "decimal", "index too large", "time not in the file"],
)
def test_case_keys_refused(key: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Cases.open(SHIPPED_CASES).time_of(key)


# --- 3. files users give: settings JSON ------------------------------------------------------
SETTINGS: dict[str, Any] = {
    "unknown field": (
        '{"request": {"steps": 8, "cases": "0"}}',
        st.StudioError,
        r"unknown request field\(s\) \['cases'\]",
    ),
    "string for a number": (
        '{"request": {"steps": "8"}}',
        st.StudioError,
        "steps must be a number",
    ),
    "steps out of range": ('{"request": {"steps": 1e308}}', st.StudioError, "steps must be in"),
    "not JSON": (
        "{request: 1",
        st.StudioError,
        "settings.json",
    ),
    "empty file": (
        "",
        st.StudioError,
        "settings.json",
    ),
    "a JSON list": (
        "[1, 2]",
        st.StudioError,
        "'request'",
    ),
    "no request": (
        '{"sampler": {}}',
        st.StudioError,
        "'request'",
    ),
    "request null": (
        '{"request": null}',
        st.StudioError,
        "'request'",
    ),
}


@pytest.mark.parametrize(
    ("text", "error", "message"),
    list(SETTINGS.values()),
    ids=SETTINGS,
)
def test_settings_json_refused(tmp_path: Path, text: str, error: type, message: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(text)
    out = tmp_path / "analysis.nc"
    with pytest.raises(error, match=message):
        st.reproduce(path, out)
    assert not out.exists()


# --- 3. requests from a dict (settings JSON, API clients) ----------------------------------
REQUESTS: dict[str, Any] = {
    "string for steps": ({"steps": "8"}, "steps must be a number, got '8'"),
    "None for members": ({"members": None}, "members must be a number, got None"),
    "list for zeta": ({"zeta": [1.0]}, r"zeta must be a number, got \[1.0\]"),
    "bool for steps": ({"steps": True}, "steps must be a number, got True"),
    "huge steps": ({"steps": 1e308}, r"steps must be in \[4, 256\], got 1e\+308"),
    "huge seed": ({"seed": 10**30}, r"seed must be in \[0, "),
    "negative members": ({"members": -3}, r"members must be in \[1, 16\], got -3"),
    "negative density": ({"density": -1}, r"density must be in \[0.0001, 1\]"),
    "percent density": ({"density": 5}, r"density must be in \[0.0001, 1\], got 5"),
    "NaN noise": ({"noise_scale": float("nan")}, "noise_scale must be a finite number"),
    "string NaN density": ({"density": "nan"}, "density must be a number, got 'nan'"),
    "weights of 3": ({"weights": [1, 0, 0]}, "expected 4 reward weights"),
    "weights a string": ({"weights": "abcd"}, "weight .accuracy. must be a number|weights must be"),
    "weights unknown name": ({"weights": {"speed": 1}}, r"unknown reward weight\(s\) \['speed'\]"),
    "weights text value": ({"weights": {"physics": "x"}}, "weight 'physics' must be a number"),
    "pattern None": ({"pattern": None}, "unknown observation pattern None"),
    "csv without points": ({"pattern": "csv", "points_csv": "  "}, "needs a CSV file"),
    "weights None": (
        {"weights": None},
        "weights",
    ),
    "forecast a string": (
        {"forecast": "no"},
        "forecast",
    ),
}


@pytest.mark.parametrize(
    ("fields", "message"),
    list(REQUESTS.values()),
    ids=REQUESTS,
)
def test_request_fields_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        st.Request.from_dict(fields)


def test_error_types_are_caught_by_the_cli_and_the_app() -> None:
    """The CLI and the app catch ValueError: every project error type raised above is one."""
    for error in (CheckpointError, ChecksumError, ObsError, st.StudioError):
        assert issubclass(error, ValueError)
