"""The Hub model card, and loading checkpoints by repo id offline from a real Hub cache.

The cache is laid out by ``huggingface_hub`` itself: ``snapshot_download`` fetches the repo
(the shipped checkpoints plus the model card) from a minimal Hub endpoint served on
127.0.0.1 by this test (the four calls a download makes: revision info, tree listing, and HEAD
and GET of each file). Then, with offline mode on, ``checkpoint_dir(repo_id)`` must find the
snapshot in that cache without a single request.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard, constants

from alignda.bundle import load_bundle
from alignda.checkpoints import (
    CHECKPOINT_DIR,
    MANIFEST_NAME,
    checkpoint_dir,
    read_manifest,
    resolve,
)
from alignda.modelcard import CARD_NAME, LICENSE, build_model_card, write_model_card

REPO = "someuser/alignda-test"


# --- the card -----------------------------------------------------------------------------------
def test_card_parses_back_with_the_manifest(tmp_path):
    path = write_model_card(CHECKPOINT_DIR, REPO, out=tmp_path)
    assert path == tmp_path / CARD_NAME
    card = ModelCard.load(path)
    meta = card.data.to_dict()
    assert meta["license"] == LICENSE == "mit"
    assert meta["library_name"] == "alignda"
    assert {"data-assimilation", "score-based", "diffusion"} <= set(meta["tags"])
    # evaluation figures as Hub eval results (model-index), read back by huggingface_hub
    results = {r.metric_name: r.metric_value for r in card.data.eval_results}
    manifest = read_manifest(CHECKPOINT_DIR)
    assert results["vae recon_rmse_z"] == pytest.approx(manifest["vae"]["figures"]["recon_rmse_z"])
    assert results["prior val_loss"] == pytest.approx(manifest["prior"]["figures"]["val_loss"])
    text = card.text
    for name, entry in manifest.items():
        assert entry["sha256"] in text and entry["file"] in text, name
        for key in entry.get("figures", {}):
            assert key in text, (name, key)
    for provenance in manifest["prior"]["config"].get("provenance", []):
        assert provenance in text
    assert f"ALIGNDA_HUB_REPO={REPO} alignda serve" in text
    assert f'checkpoint_dir("{REPO}")' in text
    assert "twin world" in text and "out of the prior's training distribution" in text
    assert "## Licence" in text and "MIT" in text


def test_card_without_repo_and_without_manifest(tmp_path):
    card = build_model_card(CHECKPOINT_DIR)
    assert "<user>/<repo>" in card.text and card.data.license == "mit"
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        build_model_card(tmp_path)


# --- a minimal Hub endpoint ---------------------------------------------------------------------
SKILL = {
    "command": "python benchmarks/science_bench.py --n-cases 2",
    "date": "2026-12-07",
    "cases": "2 cases of assets/test_cases.nc",
    "settings": "32 steps, 4 members, weights unaligned",
    "rows": [
        {
            "network": "random 1.0%",
            "method": "hybrid",
            "mse": 0.0912,
            "x3dvar": [0.97, 0.96, 0.98],
            "rmse_z_m": 9.1,
            "geo_score_pct": 100.0,
            "spread_skill": 1.1,
            "o_minus_a": 0.42,
            "o_minus_b": 4.2,
            "diverged": 0,
        },
    ],
}
ALIGNMENT = {
    "command": "python benchmarks/alignment_bench.py --n 2",
    "date": "2026-12-07",
    "cases": "2 cases of assets/test_cases.nc, 1 % random obs",
    "settings": "32 steps, 4 members",
    "tables": {
        "dps": [
            {
                "variant": "multi",
                "metric": "mse",
                "change": [-9.1, -12.0, -6.3],
                "verdict": "better",
            }
        ]
    },
}


def test_card_carries_the_benchmark_tables_and_a_dry_run_uploads_nothing(tmp_path, monkeypatch):
    from alignda.cli import main
    from alignda.upload import DRY_RUN_CARD, upload

    folder = tmp_path / "ck"
    shutil.copytree(CHECKPOINT_DIR, folder)
    for name in ("skill.json", "alignment.json"):  # the shipped tables, replaced below
        (folder / name).unlink(missing_ok=True)
    card = str(build_model_card(folder, REPO))
    assert "No analysis-skill table in this folder" in card and "## Intended uses" in card
    assert "pip install ./alignda" in card and "datasets:" in card
    (folder / "skill.json").write_text(json.dumps(SKILL))
    (folder / "alignment.json").write_text(json.dumps(ALIGNMENT))
    card = str(build_model_card(folder, REPO))
    assert "| random 1.0% | hybrid | 0.0912 | 0.97 [0.96, 0.98] | 100.0 |" in card
    assert "| multi | mse | -9.10 [-12.00, -6.30] | better |" in card
    assert SKILL["command"] in card and ALIGNMENT["command"] in card
    # a dry run: no network (the Hub is unreachable offline), the card written, files listed
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    said = upload(folder, REPO, dry_run=True)
    assert "dry run: would upload to someuser/alignda-test" in said
    for name in ("prior.safetensors", "manifest.json", "skill.json", "alignment.json"):
        assert name in said
    written = (tmp_path / DRY_RUN_CARD).read_text()
    assert "| multi | mse |" in written
    assert main(["upload", "--folder", str(folder), "--dry-run"]) == 0


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """One model repo, answered as the Hub answers ``snapshot_download`` (no redirects, no xet)."""

    def __init__(self, repo_id: str, folder: Path):
        self.repo_id = repo_id
        self.files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        self.commit = hashlib.sha1(
            b"".join(hashlib.sha256(d).digest() for d in self.files.values())
        ).hexdigest()
        self.requests: list[str] = []

    def etag(self, name: str) -> str:
        data = self.files[name]
        return hashlib.sha256(data).hexdigest() if self.is_lfs(name) else _git_blob_sha1(data)

    @staticmethod
    def is_lfs(name: str) -> bool:
        return name.endswith(".safetensors")

    def tree(self) -> list[dict]:
        out = []
        for name, data in self.files.items():
            entry = {"type": "file", "path": name, "size": len(data), "oid": _git_blob_sha1(data)}
            if self.is_lfs(name):
                entry["lfs"] = {"oid": self.etag(name), "size": len(data), "pointerSize": 134}
            out.append(entry)
        return out

    def answer(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        self.requests.append(f"{method} {path}")
        path = path.split("?", 1)[0]
        repo = re.escape(self.repo_id)
        if m := re.fullmatch(rf"/api/models/{repo}/revision/([^/]+)", path):
            siblings = [{"rfilename": n} for n in self.files]
            body = {"id": self.repo_id, "sha": self.commit, "siblings": siblings, "private": False}
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        if m := re.fullmatch(rf"/api/models/{repo}/tree/([0-9a-f]{{40}})", path):
            if m.group(1) != self.commit:
                return 404, {"X-Error-Code": "RevisionNotFound"}, b"{}"
            return 200, {"Content-Type": "application/json"}, json.dumps(self.tree()).encode()
        if m := re.fullmatch(rf"/{repo}/resolve/([^/]+)/(.+)", path):
            name = m.group(2)
            if name not in self.files:
                return 404, {"X-Error-Code": "EntryNotFound"}, b""
            headers = {
                "X-Repo-Commit": self.commit,
                "ETag": f'"{self.etag(name)}"',
                "Content-Type": "application/octet-stream",
            }
            return 200, headers, self.files[name]
        return 404, {"X-Error-Code": "RepoNotFound"}, b""


@pytest.fixture
def fake_hub(tmp_path) -> Iterator[tuple[FakeHub, str]]:
    """The shipped checkpoints plus their model card, served as REPO on 127.0.0.1."""
    staging = tmp_path / "repo"
    staging.mkdir()
    for entry in read_manifest(CHECKPOINT_DIR).values():
        shutil.copy2(CHECKPOINT_DIR / entry["file"], staging / entry["file"])
    shutil.copy2(CHECKPOINT_DIR / MANIFEST_NAME, staging / MANIFEST_NAME)
    write_model_card(staging, REPO)
    hub = FakeHub(REPO, staging)

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, head_only: bool) -> None:
            status, headers, body = hub.answer(self.command, self.path)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head_only:
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            self._reply(head_only=False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._reply(head_only=True)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_checkpoints_load_by_repo_id_offline_from_the_hub_cache(fake_hub, tmp_path, monkeypatch):
    from huggingface_hub import snapshot_download

    hub, endpoint = fake_hub
    cache = tmp_path / "hub-cache"
    # no name but 127.0.0.1 is ever looked up (telemetry off: no agent-registry request)
    elsewhere: list[str] = []
    lookup = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            elsewhere.append(str(host))
            raise OSError(f"test: no network to {host}")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    # 1. huggingface_hub downloads the repo into its cache (online, from the local endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    online = Path(snapshot_download(REPO, cache_dir=cache, endpoint=endpoint))
    assert hub.requests and online.name == hub.commit
    storage = cache / "models--someuser--alignda-test"
    assert (storage / "refs" / "main").read_text() == hub.commit
    for name in hub.files:
        link = storage / "snapshots" / hub.commit / name
        assert link.is_symlink(), name  # snapshots hold symlinks into blobs/
        assert link.resolve() == (storage / "blobs" / hub.etag(name)).resolve()
    # 2. offline, by repo id: the snapshot is found in the cache, with no request at all
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    served = len(hub.requests)
    folder = checkpoint_dir(REPO, cache_dir=cache)
    assert len(hub.requests) == served
    assert folder == storage / "snapshots" / hub.commit
    manifest = read_manifest(folder)
    assert manifest == read_manifest(CHECKPOINT_DIR)
    for name, entry in manifest.items():
        path = resolve(name, folder)  # sha256 verified against the manifest
        assert path == folder / entry["file"] and path.is_symlink()
    card = ModelCard.load(folder / CARD_NAME)
    assert card.data.license == "mit" and REPO in card.text
    # the one bundle loader, by repo id: the same models as the shipped folder
    bundle = load_bundle(repo_id=REPO, cache_dir=cache)
    assert bundle.folder == folder and bundle.soup is not None and bundle.hybrid is not None
    shipped = load_bundle()
    for a, b in zip(bundle.prior.parameters(), shipped.prior.parameters(), strict=True):
        assert torch.equal(a, b)
    # an unknown repo is not in the cache: a clear error, still offline
    with pytest.raises(FileNotFoundError, match="someuser/other"):
        checkpoint_dir("someuser/other", cache_dir=cache)
    assert len(hub.requests) == served and not elsewhere


def test_the_shipped_card_has_the_shipped_benchmark_tables():
    card = str(build_model_card(CHECKPOINT_DIR, REPO))
    skill = json.loads((CHECKPOINT_DIR / "skill.json").read_text())
    assert skill["command"] in card and "| random 1.0% | hybrid |" in card
    assert "No alignment table" not in card and "| -M | mse |" in card


def test_write_benchmark_records_the_command_and_the_card_reads_it(tmp_path, monkeypatch):
    from alignda.modelcard import ALIGNMENT_NAME, write_benchmark

    folder = tmp_path / "ck"
    shutil.copytree(CHECKPOINT_DIR, folder)
    monkeypatch.setattr("sys.argv", ["alignment_bench.py", "--n", "2"])
    path = write_benchmark(
        folder / ALIGNMENT_NAME,
        "benchmarks/alignment_bench.py",
        "2 cases",
        "4 steps",
        tables=ALIGNMENT["tables"],
    )
    record = json.loads(path.read_text())
    assert record["command"] == "python benchmarks/alignment_bench.py --n 2"
    assert "`python benchmarks/alignment_bench.py --n 2`" in str(build_model_card(folder, REPO))
