"""The one command line: ``python -m alignda <command>`` (or the ``alignda`` console script).

Commands are grouped by what they do: :mod:`~alignda.cli.data` (generate, ship, fit-b, plot),
:mod:`~alignda.cli.train` (train-vae, train-prior, finetune-decoder, rebuild, upload),
:mod:`~alignda.cli.preferences` (preferences), :mod:`~alignda.cli.align` (align,
align-select), :mod:`~alignda.cli.run` (assimilate, evaluate), :mod:`~alignda.cli.cycle`
(cycle) and :mod:`~alignda.cli.serve` (serve: the web app).
"""

from __future__ import annotations

import argparse
import sys

from alignda import __version__
from alignda.cli import align, cycle, data, preferences, run, serve, train
from alignda.cli.common import ChoiceError, Parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    p = Parser(prog="alignda", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=f"alignda {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (data, train, preferences, align, run, cycle, serve):
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (errors print one clear line)."""
    try:
        args = build_parser().parse_args(argv)
    except ChoiceError as err:  # a value outside an option's choices
        print(f"{err.prog}: error: {err}", file=sys.stderr)
        return 2
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, KeyError, IndexError) as err:
        # str(KeyError) is the repr of its message: print the message itself
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"alignda {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0
