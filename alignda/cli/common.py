"""Shared pieces of the command line: how a command is registered (help with defaults), the
``--out`` that refuses a missing folder, options of a fixed set of values, and the arguments
every training command takes."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from alignda.paths import CHECKPOINT_DIR
from alignda.training.loop import TrainConfig


class ChoiceError(ValueError):
    """A value outside an option's choices; ``prog`` is the (sub)command that refused it
    (:func:`alignda.cli.main` prints it on one line and returns exit status 2)."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An argument parser whose options of a fixed set of values (``choices``) refuse another
    value with the package's one-line error (:class:`ChoiceError`), e.g. "unknown guidance
    mode 'magic'; choose one of ...", instead of argparse's usage message and exit."""

    def _check_value(self, action: argparse.Action, value: object) -> None:
        if isinstance(action, argparse._SubParsersAction) or action.choices is None:
            super()._check_value(action, value)
        elif value not in action.choices:
            what = getattr(action, "what", None) or action.dest.replace("_", " ")
            option = "/".join(action.option_strings) or action.dest
            raise ChoiceError(
                self.prog,
                f"unknown {what} {value!r}; choose one of {', '.join(map(str, action.choices))} "
                f"({option})",
            )


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows each option's default (where it has one) and keeps line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        # identity, not ==: a default of 0 (== False) is shown
        if any(action.default is x for x in (None, False, argparse.SUPPRESS)):
            return help_text
        if "%(default)" in help_text:
            return help_text
        return super()._get_help_string(action)


def add_command(
    sub: argparse._SubParsersAction, name: str, help_text: str
) -> argparse.ArgumentParser:
    """A subcommand whose --help shows ``help_text`` and every option's default."""
    return sub.add_parser(
        name, help=help_text, description=help_text, formatter_class=HelpFormatter
    )


def add_choice(
    p: argparse.ArgumentParser, *flags: str, choices: Iterable[str], what: str, **kwargs
) -> argparse.Action:
    """An option taking one of ``choices`` (pass the package's own tuple of them); ``what``
    names a value in the error for another one ("unknown <what> 'x'; choose one of ...")."""
    action = p.add_argument(*flags, choices=tuple(choices), **kwargs)
    action.what = what  # read by Parser._check_value
    return action


def comma_list(text: str, allowed: Iterable[str], what: str, option: str) -> list[str]:
    """The items of a comma-separated option value, each required to be one of ``allowed``."""
    allowed = tuple(allowed)
    items = [x.strip() for x in text.split(",") if x.strip()]
    for x in items:
        if x not in allowed:
            raise ValueError(f"unknown {what} {x!r} in {option}; choose from {', '.join(allowed)}")
    return items


def add_out(
    p: argparse.ArgumentParser, help_text: str, default: str | None = None, required: bool = False
) -> None:
    """``--out`` (a file or folder to write) and ``--mkdir`` (create missing parent folders).

    The default location may be created (``out/`` or ``data/`` on a fresh clone): it is kept
    as ``args.out_default`` for :func:`out_path`."""
    p.add_argument("--out", default=default, required=required, help=help_text)
    p.add_argument(
        "--mkdir", action="store_true", help="create the parent folders of --out if missing"
    )
    p.set_defaults(out_default=default)


def checked_out(path: str | Path, mkdir: bool, default: str | Path | None = None) -> Path:
    """``path`` to write, its parent folder created with ``mkdir``, else required to exist.

    ``path`` equal to ``default`` (the option's default location) may have its parent
    created too. For a folder to write, the rule applies to the folder's parent."""
    path = Path(path)
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"--out {path}: {parent} is a file, not a folder")
    if not parent.is_dir():
        if not (mkdir or (default is not None and path == Path(default))):
            raise ValueError(
                f"--out {path}: the folder {parent} does not exist (create it, or pass --mkdir)"
            )
        parent.mkdir(parents=True, exist_ok=True)
    return path


def out_path(args: argparse.Namespace) -> Path:
    """The ``--out`` of a command line (see :func:`add_out`), checked by :func:`checked_out`."""
    return checked_out(args.out, args.mkdir, getattr(args, "out_default", None))


def train_config(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default: TrainConfig()) with the options given on the command line."""
    keys = ("steps", "batch", "lr", "seed", "val_every", "save_every")
    given = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    return replace(base or TrainConfig(), **given)


def add_train_args(
    p: argparse.ArgumentParser, base: TrainConfig, out_help: str, train_help: str | None = None
) -> None:
    """The options every training command takes; ``base``: the configuration the command
    trains with where an option is not given (named in the help)."""
    p.add_argument(
        "--train", default="data/world/train.nc", help=train_help or "training cases (netCDF)"
    )
    p.add_argument("--val", default="data/world/val.nc", help="validation cases (netCDF)")
    p.add_argument(
        "--workdir", required=True, help="folder of the resumable training state and its log"
    )
    add_out(p, out_help, default=str(CHECKPOINT_DIR))
    p.add_argument("--steps", type=int, help=f"optimiser steps (default: {base.steps})")
    p.add_argument("--batch", type=int, help=f"cases per optimiser step (default: {base.batch})")
    p.add_argument(
        "--lr",
        type=float,
        help=f"peak learning rate (warm-up, then cosine decay; default: {base.lr:g})",
    )
    p.add_argument("--seed", type=int, help=f"seed of the training run (default: {base.seed})")
    p.add_argument(
        "--val-every",
        dest="val_every",
        type=int,
        help=f"validate every this many steps (default: {base.val_every})",
    )
    p.add_argument(
        "--save-every",
        dest="save_every",
        type=int,
        help=f"save the resumable state every this many steps (default: {base.save_every})",
    )
    p.add_argument("--no-export", action="store_true", help="train only: write nothing to --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
