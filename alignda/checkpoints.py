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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT_DIR = ROOT / "checkpoints"
MANIFEST_NAME = "manifest.json"
HUB_ENV = "ALIGNDA_HUB_REPO"


class ChecksumError(ValueError):
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
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
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
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


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
    """Path of a registered artifact after checking its sha256 (ChecksumError on mismatch)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if name not in manifest:
        raise FileNotFoundError(
            f"no checkpoint '{name}' in {directory / MANIFEST_NAME} (has {sorted(manifest)})"
        )
    entry = manifest[name]
    path = directory / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path} listed in the manifest is missing")
    digest = sha256(path)
    if digest != entry["sha256"]:
        raise ChecksumError(
            f"{path} is corrupt or was changed: sha256 {digest[:12]}... does not match the "
            f"manifest's {entry['sha256'][:12]}...; restore the file or re-register it"
        )
    return path


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


def upload(folder: str | Path, repo_id: str, token: str | None = None) -> str:
    """Upload a checkpoint folder (manifest + safetensors) to a Hub model repo."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    manifest = read_manifest(folder)
    if not manifest:
        raise FileNotFoundError(f"{folder} has no {MANIFEST_NAME}: nothing to upload")
    for name in manifest:
        resolve(name, folder)  # refuse to publish a corrupt folder
    api = HfApi(token=token)
    api.create_repo(repo_id, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        allow_patterns=[MANIFEST_NAME, "*.safetensors"],
    )
    return str(info)
