"""The README stands alone: its module map matches the package tree, it points nowhere outside
the repository, and its quick start uses one virtual environment."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def tree_modules() -> set[str]:
    pkg = ROOT / "alignda"
    return {
        str(p.relative_to(ROOT).with_suffix(""))
        for p in pkg.rglob("*.py")
        if p.name != "__init__.py" and "_shipped" not in p.parts
    }


def map_modules() -> set[str]:
    out = set()
    for line in README.splitlines():
        m = re.match(r"\| `(alignda/[\w/]*)` \| ((?:`[\w/]+` ?)+) \|", line)
        if m:
            out |= {m.group(1) + name for name in re.findall(r"`([\w/]+)`", m.group(2))}
    return out


def test_module_map_matches_the_tree() -> None:
    listed, present = map_modules(), tree_modules()
    assert listed, "no module map found in the README"
    assert not present - listed, f"modules missing from the README map: {present - listed}"
    assert not listed - present, f"README map names modules that do not exist: {listed - present}"


def test_readme_points_nowhere_outside_the_repository() -> None:
    assert "../" not in README and "DESIGN.md" not in README
    assert not re.search(r"\bissue \d+|closing note", README, re.IGNORECASE)
    for target in re.findall(r"\]\(((?!https?://)[^)#]+)\)", README):  # local links resolve
        assert (ROOT / target).exists(), target
    for path in re.findall(r"\b(?:alignda|benchmarks|tests)/[\w/]+\.py\b", README):
        assert (ROOT / path).exists(), f"the README names {path}, which does not exist"


def test_quick_start_uses_one_virtual_environment() -> None:
    start = README.split("```bash", 1)[1].split("```", 1)[0]
    assert start.count("python3 -m venv") == 1
    assert "python app.py" in start and "python -m pytest" in start


def test_docs_links_resolve() -> None:
    """The pages under docs/ link only to files that exist (relative to docs/)."""
    for page in (ROOT / "docs").glob("*.md"):
        text = page.read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, page.name
        for target in re.findall(r"\]\(((?!https?://)[^)#]+)\)", text):
            assert (page.parent / target).exists(), (page.name, target)


def test_readme_is_a_front_door() -> None:
    """At most 200 lines: what it is, the two commands, the app, the CLI, headline figures;
    the rest lives in docs/."""
    assert len(README.splitlines()) <= 200
    for page in ("docs/app.md", "docs/results.md", "docs/rebuild.md", "docs/real_fields.md"):
        assert f"]({page})" in README, page


def slow_and_fast_tests() -> tuple[set[str], set[str]]:
    """The test functions under tests/ marked ``slow`` (by a decorator or the module's
    ``pytestmark``) and the rest: what ``-m "not slow"`` leaves out and what it runs."""
    slow, fast = set(), set()
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        marked = any(
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
            and "pytest.mark.slow" in ast.unparse(node.value)
            for node in tree.body
        )
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                decorated = any(ast.unparse(d) == "pytest.mark.slow" for d in node.decorator_list)
                (slow if marked or decorated else fast).add(f"{path.stem}::{node.name}")
    return slow, fast


def test_the_fast_lane_leaves_out_the_slow_tests_and_keeps_every_area() -> None:
    """The README's development command runs a real subset: some tests are marked ``slow``
    (the marker pyproject.toml declares), and each area of the package keeps fast tests."""
    assert '-m "not slow"' in README
    assert '"slow:' in (ROOT / "pyproject.toml").read_text()
    slow, fast = slow_and_fast_tests()
    assert slow and fast
    areas = {
        "world": "test_world",
        "obs": "test_obs",
        "analysis": "test_threedvar",
        "model": "test_nn",
        "alignment": "test_alignment",
        "evaluation": "test_metrics",
        "studio": "test_classroom",
        "cli": "test_cli",
        "app API": "test_app",
    }
    for area, module in areas.items():
        assert any(name.startswith(f"{module}::") for name in fast), f"no fast {area} test"
