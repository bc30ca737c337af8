"""The command that starts the Studio web app: ``alignda serve`` (or ``python -m alignda serve``).

It serves the same page as ``python app.py`` in a clone, from the installed package's files.
"""

from __future__ import annotations

import argparse
import os

from alignda.cli.common import add_command
from alignda.studio.request import BUDGET_ENV, CASES_ENV, CHECKPOINTS_ENV, DEFAULT_BUDGET_S


def cmd_serve(args: argparse.Namespace) -> None:
    """Start the Studio page on ``--host``:``--port`` and serve until interrupted."""
    for env, value in ((CHECKPOINTS_ENV, args.checkpoints), (CASES_ENV, args.cases)):
        if value:
            os.environ[env] = str(value)
    if args.budget is not None:
        os.environ[BUDGET_ENV] = str(args.budget)
    from alignda.app import serve  # gradio: only this command needs it

    print(f"Align-DA Studio: loading the models, then http://{args.host}:{args.port}", flush=True)
    serve(server_name=args.host, server_port=args.port)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command to the parser's subcommands."""
    s = add_command(
        sub, "serve", "start the Studio web app (the page of app.py) from the installed package"
    )
    s.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)"
    )
    s.add_argument("--port", type=int, default=7860, help="port to listen on")
    s.add_argument("--checkpoints", help=f"checkpoint folder [${CHECKPOINTS_ENV}, else shipped]")
    s.add_argument("--cases", help=f"cases netCDF [${CASES_ENV}, else the shipped cases]")
    s.add_argument(
        "--budget",
        type=float,
        help=f"compute budget of a request, s [${BUDGET_ENV}, else {DEFAULT_BUDGET_S:g}]",
    )
    s.set_defaults(func=cmd_serve)
