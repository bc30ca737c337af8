"""Experiments as data: the app's request, the command line, the reproduction command, the
lessons and the benchmarks share one set of defaults, and only ``alignda.analysis`` knows the
analysis modes by name."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from alignda import studio as st
from alignda.alignment.soup import PRESETS
from alignda.analysis.score import ANALYSIS_MODES
from alignda.cli import build_parser
from alignda.cli.flags import experiment_from_args, method_from_args, observing_from_args
from alignda.experiment import DEFAULT, DEFAULT_PRESET, Experiment, Observing, preset_weights
from alignda.learn_tab import LESSON_MODE, lesson_rows
from alignda.obs.networks import PATTERNS
from alignda.studio.classroom import CLASSROOM_REQUEST
from alignda.studio.reproduction import assimilate_command

ROOT = Path(__file__).resolve().parent.parent


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_the_app_request_defaults_are_the_default_experiment() -> None:
    assert st.Request().experiment() == DEFAULT
    assert st.Request().sampler() == DEFAULT.sampler
    assert DEFAULT.weights == preset_weights(DEFAULT_PRESET)
    assert 0 < DEFAULT.observing.density < 1  # a fraction, everywhere


def test_the_command_line_defaults_are_the_default_experiment() -> None:
    assert experiment_from_args(parse("assimilate")) == DEFAULT
    cycle = parse("cycle")
    assert method_from_args(cycle, mode=DEFAULT.method.mode) == DEFAULT.method
    assert observing_from_args(cycle) == DEFAULT.observing
    evaluate = parse("evaluate")
    assert method_from_args(evaluate, mode=DEFAULT.method.mode) == DEFAULT.method
    assert observing_from_args(evaluate) == DEFAULT.observing
    assert evaluate.sweep_members == DEFAULT.method.members


EXPERIMENTS = {
    **{
        f"mode {m}": replace(DEFAULT, method=replace(DEFAULT.method, mode=m))
        for m in ANALYSIS_MODES
    },
    **{f"pattern {p}": replace(DEFAULT, observing=Observing(p, 0.05, 0.0)) for p in PATTERNS},
    **{f"preset {k}": replace(DEFAULT, weights=preset_weights(k)) for k in PRESETS},
    "extremes": Experiment(
        case="2000-07-04T00",
        observing=Observing("random", 1.0, 10.0),
        method=replace(
            DEFAULT.method, steps=256, members=16, zeta=20.0, gamma=0.0, first_guess="background"
        ),
        weights=(10.0, 0.0, 0.5, 0.0),
        seed=2**31 - 1,
    ),
}


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_an_experiment_round_trips_through_its_command_line(name: str) -> None:
    exp = EXPERIMENTS[name]
    assert experiment_from_args(parse("assimilate", *exp.argv())) == exp
    unaligned = experiment_from_args(parse("assimilate", *exp.argv(aligned=False)))
    assert unaligned == replace(exp, weights=preset_weights("unaligned"))


def test_the_reproduction_command_is_the_experiments() -> None:
    """The app's settings.json command line parses back to the request's experiment."""
    req = st.Request(mode="dps", steps=8, members=2, density=0.03, seed=5, weights=(0, 1, 0, 0))
    args = assimilate_command(req, "0", Path("x"), Path("y"), aligned=True)
    assert args[:4] == ["python", "-m", "alignda", "assimilate"]
    assert experiment_from_args(parse(*args[3:])) == req.experiment()


def test_lessons_and_classroom_build_on_the_default() -> None:
    _, rows = lesson_rows(["0"])
    base = rows[0]
    o, m = DEFAULT.observing, DEFAULT.method
    assert base[1:6] == [o.pattern, 100 * o.density, o.noise_scale, LESSON_MODE, m.zeta]
    assert base[6:9] == [m.steps, m.members, DEFAULT.seed]
    assert CLASSROOM_REQUEST.mode == DEFAULT.method.mode


# --- written once -------------------------------------------------------------------------------
DEFAULTS = {
    "steps": DEFAULT.method.steps,
    "members": DEFAULT.method.members,
    "zeta": DEFAULT.method.zeta,
    "density": DEFAULT.observing.density,
    "mode": DEFAULT.method.mode,
}
#: Where a default may be written as a literal: its one home.
HOMES = {"alignda/analysis/score.py", "alignda/obs/networks.py", "alignda/experiment.py"}


def sources() -> list[Path]:
    files = [*(ROOT / "alignda").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]
    return [p for p in files if "_shipped" not in p.parts]


def literal_defaults(tree: ast.AST) -> list[str]:
    """Keyword arguments (``steps=32``, ``default=32`` of ``--steps``) and dataclass fields
    (``steps: int = 32``) that write a default's value out."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            flag = next((a.value for a in node.args[:1] if isinstance(a, ast.Constant)), None)
            for kw in node.keywords:
                name = kw.arg
                if name == "default" and isinstance(flag, str):
                    name = flag.lstrip("-").replace("-", "_")
                value = kw.value
                if name in DEFAULTS and isinstance(value, ast.Constant):
                    if value.value == DEFAULTS[name] and type(value.value) is type(DEFAULTS[name]):
                        found.append(f"line {node.lineno}: {name}={value.value!r}")
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, value = node.target.id, node.value
            if name in DEFAULTS and isinstance(value, ast.Constant):
                if value.value == DEFAULTS[name]:
                    found.append(f"line {node.lineno}: {name} = {value.value!r}")
    return found


def test_each_default_is_written_once() -> None:
    written = {
        str(p.relative_to(ROOT)): hits
        for p in sources()
        if str(p.relative_to(ROOT)) not in HOMES
        and (hits := literal_defaults(ast.parse(p.read_text())))
    }
    assert not written, f"defaults written out instead of taken from alignda.experiment: {written}"


def test_the_scan_finds_a_written_default() -> None:
    bad = "p.add_argument('--steps', type=int, default=32)\nx = Request(members=4)\n"
    assert len(literal_defaults(ast.parse(bad))) == 2


def mode_comparisons(tree: ast.AST) -> list[str]:
    """Comparisons (==, !=, in) of anything with an analysis mode's name."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for side in (node.left, *node.comparators):
            items = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
            names = [e.value for e in items if isinstance(e, ast.Constant)]
            if any(n in ANALYSIS_MODES for n in names):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_only_the_analysis_package_compares_mode_names() -> None:
    outside = {
        str(p.relative_to(ROOT)): hits
        for p in sources()
        if "analysis" not in p.relative_to(ROOT).parts[:2]
        and (hits := mode_comparisons(ast.parse(p.read_text())))
    }
    assert not outside, f"mode names compared outside alignda/analysis: {outside}"


def test_the_scan_finds_a_mode_comparison() -> None:
    code = "if s.mode == 'hybrid': pass\nif m in ('dps', 'x'): pass\nif m == 'other': pass\n"
    assert len(mode_comparisons(ast.parse(code))) == 2
