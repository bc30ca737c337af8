"""A non-editable install works away from the source tree: the wheel carries the shipped
checkpoints, test cases and map backgrounds, and the CLI and the app run from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # builds and installs a wheel, starts the installed app


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("install")
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(ROOT)],
        check=True,
        cwd=tmp,
    )
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools' scratch folder
    wheel = next((tmp / "dist").glob("alignda-*.whl"))
    site = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    run = tmp / "elsewhere"
    run.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    env.pop("ALIGNDA_CHECKPOINTS", None)
    return run, env


def test_installed_package_uses_its_own_shipped_files(installed) -> None:
    run, env = installed
    code = "import alignda.paths as p; print(p.PACKAGE_DIR, p.CHECKPOINT_DIR, p.SHIPPED_CASES)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=run, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    package, checkpoints, cases = map(Path, out)
    assert ROOT not in package.parents, "imported the source tree, not the installed package"
    assert checkpoints == package / "_shipped" / "checkpoints" and checkpoints.is_dir()
    assert cases.is_file() and (package / "_shipped" / "assets" / "natural_earth").is_dir()


def test_installed_cli_assimilates(installed) -> None:
    run, env = installed
    out = run / "a.nc"
    argv = ["assimilate", "--case", "0", "--mode", "dps", "--steps", "2", "--out", str(out)]
    subprocess.run(
        [sys.executable, "-m", "alignda", *argv, "--quiet"], cwd=run, env=env, check=True
    )
    with xr.open_dataset(out) as ds:
        assert set(ds.data_vars) >= {"z", "u", "v", "tracer"}


def test_installed_app_builds(installed) -> None:
    run, env = installed
    shutil.copy(ROOT / "app.py", run / "app.py")
    code = "import app, alignda; print(app.demo.title, alignda.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=run, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "Align-DA" in out and str(ROOT / "alignda") not in out


def test_installed_serve_command_starts_the_app(installed) -> None:
    """``python -m alignda serve`` starts the Studio from the installed files."""
    import socket
    import time

    import httpx

    run, env = installed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = run / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "alignda", "serve", "--port", str(port)],
            cwd=run,
            env=env | {"GRADIO_ANALYTICS_ENABLED": "False"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        page = None
        deadline = time.monotonic() + 300
        while page is None and time.monotonic() < deadline and server.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/config", timeout=5)
            except httpx.TransportError:
                time.sleep(1)
        assert page is not None and page.status_code == 200, log.read_text()[-2000:]
        assert "Align-DA Studio" in page.text
        assert f"http://127.0.0.1:{port}" in log.read_text()
    finally:
        server.terminate()
        server.wait(timeout=30)
