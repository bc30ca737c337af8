"""pyproject lists every third-party module the package and the app import, and
requirements.txt (what the quick start and Hugging Face Spaces install) agrees with it."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+


ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: Import name -> distribution name, where they differ.
DISTRIBUTIONS = {"huggingface_hub": "huggingface-hub", "torch_harmonics": "torch-harmonics"}
DISTRIBUTIONS |= {"xarray_regrid": "xarray-regrid"}
#: Imported only where present, behind an ImportError guard (Hugging Face Spaces' own package).
OPTIONAL = {"spaces"}


def requirement_names(lines: list[str]) -> dict[str, str]:
    """name -> full requirement of requirement strings (comments and options skipped)."""
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out[re.split(r"[=<>\[ ]", line, maxsplit=1)[0].lower()] = line
    return out


def third_party_imports(paths: list[Path]) -> set[str]:
    mods = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods.add(node.module.split(".")[0])
    return {m for m in mods if m not in sys.stdlib_module_names and m != "alignda"}


def test_pyproject_lists_every_direct_import() -> None:
    imported = third_party_imports([*(ROOT / "alignda").rglob("*.py"), ROOT / "app.py"])
    deps = requirement_names(PYPROJECT["dependencies"])
    missing = {m for m in imported - OPTIONAL if DISTRIBUTIONS.get(m, m).lower() not in deps}
    assert not missing, f"imported by alignda or app.py, not in pyproject dependencies: {missing}"


def test_requirements_agree_with_pyproject() -> None:
    req = requirement_names((ROOT / "requirements.txt").read_text().splitlines())
    wanted = requirement_names(PYPROJECT["dependencies"])
    assert not wanted.keys() - req.keys(), f"not in requirements.txt: {wanted.keys() - req.keys()}"
    pins = {k: v for k, v in wanted.items() if "==" in v}
    assert pins and all(req[k] == v for k, v in pins.items()), "pins differ"  # torch, gradio...


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_constraints_lock_every_requirement_at_the_pinned_versions() -> None:
    """Every install from the requirements files takes the versions CI tested."""
    assert "-c constraints.txt" in (ROOT / "requirements.txt").read_text().splitlines()
    locked = {
        normalised(k): v.split("==", 1)[1]
        for k, v in requirement_names((ROOT / "constraints.txt").read_text().splitlines()).items()
    }
    for name in ("requirements.txt", "requirements-dev.txt"):
        for dist, spec in requirement_names((ROOT / name).read_text().splitlines()).items():
            assert normalised(dist) in locked, f"{name}: {dist} is not in constraints.txt"
            if "==" in spec:
                assert spec.split("==", 1)[1] == locked[normalised(dist)], f"{name}: {spec}"
    for dist in ("numpy", "scipy", "xarray", "pandas", "torch-harmonics", "azula"):
        assert dist in locked, dist


def test_binary_files_are_marked_for_lfs_in_gitattributes():
    """A Hub push (Space or model repo) needs every binary file in LFS/Xet: each tracked file
    that is not text (or is over 1 MB) has the lfs filter in .gitattributes."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    binary = []
    for name in filter(None, files):
        if (root / name).is_symlink() or not (root / name).is_file():
            continue
        data = (root / name).read_bytes()
        if b"\0" in data[:8192] or len(data) > 1_000_000:
            binary.append(name)
    assert any(n.endswith(".safetensors") for n in binary)
    attrs = subprocess.run(
        ["git", "check-attr", "filter", "--", *binary], cwd=root, capture_output=True, text=True
    ).stdout.splitlines()
    unmarked = [line for line in attrs if not line.endswith(": filter: lfs")]
    assert not unmarked, unmarked
