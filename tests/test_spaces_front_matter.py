"""README.md's Hugging Face Spaces front matter pins what the app needs, consistently with the
requirements the Space installs and with pyproject.toml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from huggingface_hub import SpaceHardware
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def front() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, flags=re.S)
    assert match, "README.md must start with a YAML front-matter block"
    data = yaml.safe_load(match.group(1))
    assert isinstance(data, dict)
    return data


def requirements(name: str) -> list[Requirement]:
    reqs = []
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            reqs.append(Requirement(line))
    return reqs


def test_gradio_sdk_version_is_the_pinned_gradio(front):
    assert front["sdk"] == "gradio"
    (gradio,) = [r for r in requirements("requirements.txt") if r.name.lower() == "gradio"]
    pins = [s for s in gradio.specifier if s.operator == "=="]
    assert len(pins) == 1, (
        f"requirements.txt must pin gradio exactly (gradio=={front['sdk_version']})"
    )
    assert str(front["sdk_version"]) == pins[0].version


def test_python_version_is_allowed_by_pyproject(front):
    version = front["python_version"]
    assert isinstance(version, str), "quote python_version (YAML reads 3.10 as the float 3.1)"
    assert re.fullmatch(r"3\.\d+(\.\d+)?", version)
    pyproject = (ROOT / "pyproject.toml").read_text()
    allowed = SpecifierSet(re.search(r'requires-python\s*=\s*"([^"]+)"', pyproject).group(1))
    assert allowed.contains(version + (".0" if version.count(".") == 1 else ""))


def test_app_file_hardware_and_licence(front):
    assert (ROOT / front["app_file"]).is_file()
    assert front["suggested_hardware"] in {h.value for h in SpaceHardware}
    assert front["license"] == "mit"


def test_models_name_the_configured_hub_repo(front):
    """``models:`` lists the Hub repo of the checkpoints when the Space loads them from one
    (``ALIGNDA_HUB_REPO`` in the Space's variables); with the shipped checkpoints, none."""
    models = front.get("models")
    if models is None:
        return
    assert isinstance(models, list) and models, "models: must be a non-empty list of repo ids"
    for repo in models:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", repo), repo


def test_the_pinned_gradio_is_the_installed_one(front):
    from importlib.metadata import version

    assert version("gradio") == str(front["sdk_version"]), (
        f"installed gradio {version('gradio')} but the Space runs {front['sdk_version']}: "
        "pip install -r requirements.txt"
    )
