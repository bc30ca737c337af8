"""What a result carries out: reproducing command lines, the analysis netCDF, the settings JSON."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from alignda import __version__
from alignda.alignment.soup import normalise_weights
from alignda.analysis.score import (
    analysis_dataset,
)
from alignda.checkpoints import HUB_ENV, read_manifest
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES
from alignda.studio.request import (
    CHECKPOINTS_ENV,
    CSV_PATTERN,
    POINTS_FILE,
    Request,
)
from alignda.studio.result import ALIGNED_ROW, THREEDVAR, Result


# --- reproduction ---------------------------------------------------------------------------------
def reproduction(result: Result, folder: Path, cases: Path) -> dict[str, Any]:
    """How to re-run a request: CLI commands (where the CLI can) and the Python call."""
    req = result.request
    needs = []
    if req.pattern == CSV_PATTERN:
        needs.append(f"{POINTS_FILE}: the text of request.points_csv (the uploaded CSV)")
    commands = {
        n: shlex.join(assimilate_command(req, result.label, folder, cases, n == ALIGNED_ROW))
        for n in result.analyses
        if n != THREEDVAR
    }
    return {
        "cli": commands[result.main],
        "cli_reproduces": f"the '{result.main}' analysis members (the netCDF download)",
        "cli_by_analysis": commands,
        "cli_needs": needs,
        "python": 'python -c "from alignda.studio.service import reproduce; '
        "reproduce('settings.json', 'analysis.nc')\"",
    }


def assimilate_command(
    req: Request, label: str, folder: Path, cases: Path, aligned: bool
) -> list[str]:
    """``alignda assimilate`` of the request's experiment (every setting explicit), with the
    files it reads."""
    args = ["python", "-m", "alignda", "assimilate"]
    args += replace(req.experiment(), case=label).argv(aligned)
    if cases.resolve() != SHIPPED_CASES.resolve():
        args += ["--cases", str(cases)]
    hub = os.environ.get(HUB_ENV)
    if hub and not os.environ.get(CHECKPOINTS_ENV):
        args += ["--hub-repo", hub]
    elif folder.resolve() != CHECKPOINT_DIR.resolve():
        args += ["--checkpoints", str(folder)]
    if req.pattern == CSV_PATTERN:
        args += ["--points", POINTS_FILE]
    name = "analysis_aligned.nc" if aligned else "analysis_unaligned.nc"
    return args + ["--out", name]


def run_settings(result: Result, folder: Path, cases: Path) -> dict[str, Any]:
    """The run's settings, checkpoints and how to reproduce it (JSON-able)."""
    req, obs = result.request, result.obs
    manifest = read_manifest(folder)
    return {
        "app": "Align-DA Studio",
        "alignda_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "case_time": result.label,
        "request": req.to_dict(),
        "sampler": req.sampler().to_dict(),
        "observations": {"count": obs.count, "counts": obs.counts, "noise_std": req.noise_std()},
        "reward_weights_normalised": req.weight_dict,
        "analysis_in_netcdf": result.main,
        "checkpoints": {
            "folder": str(folder),
            "sha256": {
                k: manifest[k]["sha256"] for k in ("vae", "prior", "aligned") if k in manifest
            },
        },
        "reproduce": reproduction(result, folder, cases),
    }


# --- outputs --------------------------------------------------------------------------------------
def analysis_netcdf(result: Result, path: str | Path) -> Path:
    """The main analysis ensemble (members, mean, spread; CF attributes) as netCDF."""
    req = result.request
    weights = req.weight_dict if result.main == ALIGNED_ROW else normalise_weights({})
    settings = {k: v for k, v in req.to_dict().items() if k != "points_csv"}  # in the JSON
    fit = result.fits.get(result.main)
    observed = req.sampler().observed
    ds = analysis_dataset(
        result.analyses[result.main],
        result.grid,
        result.time,
        attrs={
            "title": f"Align-DA Studio analysis ({result.main}), case {result.label}",
            "source": f"alignda {__version__}: latent score-based prior, {req.mode} guidance",
            "analysis": result.main,
            "reward_weights": json.dumps(weights),
            "settings": json.dumps(settings),
            "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} "
            "created by the Align-DA Studio app",
            **(fit.attrs(f"the {result.main}", observed) if fit is not None else {}),
        },
    )
    path = Path(path)
    ds.to_netcdf(path)
    return path


def settings_json(result: Result, path: str | Path) -> Path:
    """The settings JSON (see :func:`run_settings`)."""
    path = Path(path)
    path.write_text(json.dumps(result.settings, indent=2, default=_json_default) + "\n")
    return path


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")
