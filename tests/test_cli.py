"""The command line explains itself: every option has a help text, defaults show in --help,
options of a fixed set of values take the package's own set, --out refuses a missing folder
unless --mkdir, and ``--version`` answers."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from alignda import __version__
from alignda.analysis.score import ANALYSIS_MODES
from alignda.cli import build_parser, main
from alignda.obs.networks import PATTERNS
from alignda.paths import SHIPPED_CASES

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = (argparse._HelpAction, argparse._VersionAction)


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


COMMANDS = subcommands()


def options(command: str) -> list[argparse.Action]:
    return [a for a in COMMANDS[command]._actions if not isinstance(a, SKIPPED)]


def test_every_command_is_there() -> None:
    expected = {"generate", "ship", "fit-b", "plot", "cases-from-reanalysis", "train-vae"}
    expected |= {"train-prior", "finetune-decoder", "rebuild", "upload", "preferences"}
    expected |= {"align", "align-select", "assimilate", "evaluate", "serve"}
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_and_positional_has_a_help_text(command: str) -> None:
    parser = COMMANDS[command]
    assert (parser.description or "").strip(), f"{command} has no description"
    missing = [a.option_strings or a.dest for a in options(command) if not (a.help or "").strip()]
    assert not missing, f"{command}: no help for {missing}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_every_default(command: str) -> None:
    parser = COMMANDS[command]
    text = "".join(parser.format_help().split())  # no spaces: wrapping does not matter
    for action in options(command):
        shown = "".join(parser._get_formatter()._expand_help(action).split())  # its help
        assert shown in text
        if action.default is not None and action.default is not False:
            assert "(default:" in shown, f"{command} {action.option_strings}: {shown!r}"


def test_mode_choices_are_the_packages_modes() -> None:
    def choices(command: str, flag: str) -> tuple:
        return next(a for a in options(command) if flag in a.option_strings).choices

    assert tuple(choices("assimilate", "--mode")) == ANALYSIS_MODES
    assert tuple(choices("align-select", "--mode")) == ANALYSIS_MODES  # the hybrid's own deltas
    assert tuple(choices("align-select", "--tune-mode")) == ANALYSIS_MODES
    for command in ("assimilate", "evaluate", "plot"):
        assert tuple(choices(command, "--pattern")) == PATTERNS


def test_a_value_outside_the_choices_is_one_clear_line(capsys) -> None:
    assert main(["assimilate", "--mode", "magic"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("alignda assimilate: error: unknown guidance mode")
    assert all(m in err[0] for m in ANALYSIS_MODES)


@pytest.mark.slow
def test_out_in_a_missing_folder_needs_mkdir(tmp_path, capsys) -> None:
    # a file --out (ship) and a folder --out (plot: the rule is on the folder's parent)
    commands = {
        "ship": ["--source", str(SHIPPED_CASES), "--per-trajectory", "1"],
        "plot": ["--cases", str(SHIPPED_CASES)],
    }
    for command, argv in commands.items():
        missing = tmp_path / f"{command}_new"
        out = missing / ("cases.nc" if command == "ship" else "maps")
        assert main([command, *argv, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert err.startswith(f"alignda {command}: error:")
        assert str(missing) in err and "--mkdir" in err
        assert not missing.exists()
        assert main([command, *argv, "--out", str(out), "--mkdir"]) == 0
        assert missing.is_dir() and out.exists()
    assert any((tmp_path / "plot_new" / "maps").glob("*.png"))


@pytest.mark.slow
def test_default_out_may_be_created(tmp_path, monkeypatch) -> None:
    """On a fresh clone out/ does not exist: the default location is created."""
    monkeypatch.chdir(tmp_path)
    assert main(["plot", "--cases", str(SHIPPED_CASES)]) == 0
    assert any((tmp_path / "out" / "maps").glob("*.png"))


def test_upload_dry_run_needs_no_repo(monkeypatch, capsys, tmp_path) -> None:
    import alignda.cli.train as train

    calls = []

    def fake_upload(folder, repo_id, dry_run=False):
        calls.append((folder, repo_id, dry_run))
        return "would upload: manifest.json"

    monkeypatch.setattr(train, "upload", fake_upload)
    assert main(["upload", "--dry-run", "--folder", str(tmp_path)]) == 0
    assert calls == [(str(tmp_path), None, True)]
    assert "would upload: manifest.json" in capsys.readouterr().out
    assert main(["upload", "--folder", str(tmp_path)]) == 2  # no --repo-id, no --dry-run
    assert "--repo-id" in capsys.readouterr().err
    assert len(calls) == 1


@pytest.mark.slow
def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alignda", "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"alignda {__version__}"
