"""Shipped artifacts in ``checkpoints/``: a JSON manifest with sha256, config, data and figures.

Every artifact is a safetensors file (never pickle). :func:`resolve` verifies the checksum
recorded in the manifest before anything is loaded.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alignda.paths import CHECKPOINT_DIR, SOURCE_ROOT

MANIFEST_NAME = "manifest.json"
HUB_ENV = "ALIGNDA_HUB_REPO"


class CheckpointError(ValueError):
    """A checkpoint folder, manifest entry or file that cannot be used (the message says why)."""


class ChecksumError(CheckpointError):
    """A checkpoint file does not match the sha256 recorded in its manifest."""


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_commit() -> str:
    """The current git commit of the project, or 'unknown'."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def read_manifest(directory: str | Path = CHECKPOINT_DIR) -> dict:
    """The manifest of a checkpoint folder ({} if there is none)."""
    path = Path(directory) / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict):
        raise CheckpointError(
            f"{path} must hold a JSON object of named checkpoints, not {type(manifest).__name__}"
        )
    return manifest


def register(
    name: str,
    path: str | Path,
    *,
    directory: str | Path = CHECKPOINT_DIR,
    config: dict | None = None,
    data: dict | None = None,
    figures: dict | None = None,
) -> dict:
    """Record an artifact (file inside ``directory``) in the manifest; returns its entry."""
    directory, path = Path(directory), Path(path)
    manifest = read_manifest(directory)
    entry = {
        "file": path.resolve().relative_to(directory.resolve()).as_posix(),
        "sha256": sha256(path),
        "bytes": path.stat().st_size,
        "commit": git_commit(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "config": config or {},
        "data": data or {},
        "figures": figures or {},
    }
    manifest[name] = entry
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return entry


def resolve(name: str, directory: str | Path = CHECKPOINT_DIR) -> Path:
    """Path of a registered artifact after checking its sha256 (ChecksumError on mismatch).

    A safetensors file must also be complete and readable (CheckpointError otherwise), so
    that a damaged file that was re-registered is refused here with its name.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"checkpoint folder {directory} does not exist")
    if not (directory / MANIFEST_NAME).is_file():
        raise FileNotFoundError(
            f"{directory} has no {MANIFEST_NAME}: not a checkpoint folder (see checkpoints/)"
        )
    manifest = read_manifest(directory)
    if name not in manifest:
        raise FileNotFoundError(
            f"no checkpoint '{name}' in {directory / MANIFEST_NAME} (has {sorted(manifest)})"
        )
    entry = manifest[name]
    if not isinstance(entry, dict) or not all(
        isinstance(entry.get(k), str) for k in ("file", "sha256")
    ):
        raise CheckpointError(
            f"manifest entry '{name}' in {directory / MANIFEST_NAME} needs 'file' and 'sha256' "
            "strings; re-register the checkpoint"
        )
    path = directory / entry["file"]
    # lexical check (Hub snapshots hold symlinks into the cache's blobs: do not resolve them)
    if not Path(os.path.normpath(path)).is_relative_to(os.path.normpath(directory)):
        raise CheckpointError(
            f"manifest entry '{name}' points outside {directory}: {entry['file']!r}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path} listed in the manifest is missing")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise ChecksumError(
            f"{path} is corrupt or was changed: sha256 {digest[:12]}... does not match the "
            f"manifest's {entry['sha256'][:12]}...; restore the file or re-register it"
        )
    if path.suffix == ".safetensors":
        _check_safetensors(path)
    return path


def _check_safetensors(path: Path) -> None:
    """Refuse a file that safetensors cannot open (truncated, not safetensors at all)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "np"):
            pass
    except SafetensorError as err:
        raise CheckpointError(
            f"{path} is not a valid safetensors file ({err}); restore it from the original "
            "checkpoints"
        ) from err


@contextmanager
def reading(path: str | Path, what: str) -> Iterator[None]:
    """Turn a loader's errors on unexpected content into one CheckpointError naming the file.

    ``what`` says what the file should hold (e.g. 'the 3D-Var background error').
    """
    try:
        yield
    except CheckpointError:
        raise
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        detail = " ".join(str(err).split())[:300]
        raise CheckpointError(
            f"{path} does not hold {what}: {type(err).__name__}: {detail}; restore the file"
        ) from err


def safetensors_metadata(path: str | Path, key: str, what: str) -> Any:
    """The JSON value stored under ``key`` in a safetensors file's metadata.

    ``what`` names the expected checkpoint kind for the message (e.g. 'a prior checkpoint').
    """
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        metadata = f.metadata() or {}
    if key not in metadata:
        raise CheckpointError(f"{path} has no '{key}' metadata: it is not {what}")
    try:
        return json.loads(metadata[key])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: '{key}' metadata is not valid JSON: {err}") from err


def checkpoint_dir(
    repo_id: str | None = None, revision: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """The folder holding the manifest and weights.

    With a Hub repo id (argument, else the ``ALIGNDA_HUB_REPO`` environment variable) the
    folder is that repo's snapshot from ``huggingface_hub`` (downloaded or, with
    ``HF_HUB_OFFLINE=1``, taken from the local cache); otherwise the shipped ``checkpoints/``.
    """
    repo_id = repo_id or os.environ.get(HUB_ENV) or None
    if not repo_id:
        return CHECKPOINT_DIR
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            allow_patterns=[MANIFEST_NAME, "*.safetensors"],
        )
    except Exception as err:  # the hub raises many types: offline, missing, auth
        raise FileNotFoundError(
            f"cannot get checkpoints of Hub repo {repo_id!r}: {type(err).__name__}: {err}"
        ) from err
    return Path(path)
