"""Safety: no pickle loading, no server files read or served on a client's say-so, temp files
bounded."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from alignda import studio as st

ROOT = Path(__file__).resolve().parent.parent
UNSAFE = re.compile(
    r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib)\b"
    r"|pickle\.loads?\(|torch\.load\((?![^)]*weights_only\s*=\s*True)|allow_pickle\s*=\s*True"
    r"|np\.load\(",
    re.MULTILINE,
)


@pytest.mark.parametrize("folder", ["alignda", "benchmarks", "app.py"])
def test_no_pickle_loading(folder):
    path = ROOT / folder
    files = [path] if path.is_file() else sorted(path.rglob("*.py"))
    assert files
    found = [f"{f.name}: {m.group(0)}" for f in files for m in UNSAFE.finditer(f.read_text())]
    assert not found, f"unsafe loading (use safetensors): {found}"


def test_the_unsafe_pattern_catches_pickle_loading():
    for code in ("import pickle", "x = torch.load(p)", "np.load(p, allow_pickle=True)"):
        assert UNSAFE.search(code), code
    assert not UNSAFE.search("x = torch.load(p, weights_only=True)")


def test_uploads_outside_the_upload_folder_are_refused(tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    inside = uploads / "points.csv"
    inside.write_text("lat,lon\n10,20\n")
    outside = tmp_path / "secret.csv"
    outside.write_text("lat,lon\n1,2\n")
    link = uploads / "link.csv"
    link.symlink_to(outside)
    assert st.read_upload(inside, root=uploads) == "lat,lon\n10,20\n"
    for path in (outside, link, uploads / ".." / "secret.csv"):
        with pytest.raises(st.StudioError, match="was not uploaded"):
            st.read_upload(path, root=uploads)
    with pytest.raises(st.StudioError, match="not a file"):
        st.read_upload(uploads, root=uploads)


def test_output_folders_are_pruned(monkeypatch, tmp_path):
    from alignda import app

    monkeypatch.setattr(app, "OUTPUT_ROOT", tmp_path / "out")
    made = [app._output_dir() for _ in range(app.KEEP_OUTPUT_DIRS + 10)]
    left = sorted((tmp_path / "out").iterdir())
    assert len(left) == app.KEEP_OUTPUT_DIRS
    assert made[-1] in left and made[0] not in left


@pytest.fixture(scope="module")
def url(app_url: str) -> str:
    """The session's app server (conftest.py)."""
    return app_url


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../../../../etc/passwd",
        "%2Fetc%2Fpasswd",
        str(ROOT / "checkpoints" / "manifest.json"),
        "app.py",
        "/tmp/alignda-studio/../../etc/passwd",
    ],
)
def test_server_files_are_not_served(url, path):
    assert status(f"{url}gradio_api/file={path}") in (403, 404)


def test_a_server_path_in_a_request_is_not_read(url, tmp_path):
    """A raw API call naming a server file (never uploaded) as the CSV: refused unread."""
    from tests.test_app import args

    secret = tmp_path / "secret.csv"
    secret.write_text("lat,lon\nTOP-SECRET,1\n")
    data = args(
        pattern="csv", points_file={"path": str(secret), "meta": {"_type": "gradio.FileData"}}
    )
    call = urllib.request.Request(
        f"{url}gradio_api/call/assimilate",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(call) as r:
        event = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/assimilate/{event}") as r:
        stream = r.read().decode()
    assert "event: error" in stream and "TOP-SECRET" not in stream
