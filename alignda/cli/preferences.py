"""The command of the preference data: preferences (candidates sampled and scored)."""

from __future__ import annotations

import argparse

from alignda.alignment.preferences import GUIDANCES
from alignda.cli.common import add_choice, add_command, add_out, out_path
from alignda.experiment import DEFAULT
from alignda.paths import CHECKPOINT_DIR
from alignda.world.cases import Cases


def cmd_preferences(args: argparse.Namespace) -> None:
    """Sample and score candidates for the preference data (safetensors)."""
    from alignda.alignment.preferences import PreferenceConfig, generate_preferences
    from alignda.bundle import load_bundle

    out = out_path(args)
    cfg = PreferenceConfig(
        candidates=args.candidates,
        backgrounds=args.backgrounds,
        steps=args.steps,
        corrections=args.corrections,
        seed=args.seed,
        guidance=args.guidance,
        groups=args.groups,
        densities=tuple(float(d) / 100.0 for d in args.densities.split(",")),
        zetas=tuple(float(z) for z in args.zetas.split(",")),
    )
    bundle = load_bundle(args.checkpoints)
    prefs = generate_preferences(
        Cases.open(args.cases),
        bundle.codec,
        bundle.prior,
        bundle.stats.std,
        cfg,
        progress=not args.quiet,
        partial=args.partial,
        budget_s=60.0 * args.budget_minutes,
    )
    prefs.config["cases"] = str(args.cases)
    path = prefs.save(out)
    means = {k: round(float(v.mean()), 4) for k, v in prefs.rewards.items()}
    print(
        f"{prefs.z.shape[0]} backgrounds x {prefs.z.shape[1]} candidates -> {path}; {means}; "
        f"{prefs.config['seconds_per_background']:.1f} s per background"
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command to the parser's subcommands."""
    pr = add_command(sub, "preferences", "sample and score candidates for DPO")
    pr.add_argument(
        "--cases", default="data/world/train.nc", help="cases the backgrounds are taken from"
    )
    add_out(pr, "preference file to write (safetensors)", required=True)
    pr.add_argument("--candidates", type=int, default=16, help="candidates sampled per background")
    pr.add_argument(
        "--backgrounds",
        type=int,
        default=32,
        help="backgrounds used (evenly spaced over the cases with a truth 48 h later)",
    )
    pr.add_argument(
        "--steps", type=int, default=DEFAULT.method.steps, help="diffusion steps per candidate"
    )
    pr.add_argument("--corrections", type=int, default=1, help="corrector steps per sampling step")
    pr.add_argument(
        "--seed", type=int, default=0, help="seed of the sampling: order, noise, dps networks"
    )
    add_choice(
        pr,
        "--guidance",
        choices=GUIDANCES,
        what="guidance",
        default="obsfree",
        help="obsfree: prior samples; dps: analyses guided by random observation networks",
    )
    pr.add_argument(
        "--groups",
        type=int,
        default=4,
        help="dps: observation networks per background (the candidates split among them)",
    )
    pr.add_argument(
        "--densities",
        default="0.5,1,2,5",
        help="dps: comma list of random-network densities drawn from, in percent of grid points",
    )
    pr.add_argument(
        "--zetas", default="0.5,1,2", help="dps: comma list of guidance strengths drawn from"
    )
    pr.add_argument(
        "--partial", help="file rewritten after each background and resumed from (same config)"
    )
    pr.add_argument(
        "--budget-minutes",
        dest="budget_minutes",
        type=float,
        default=float("inf"),
        help="stop (with what is done) after the background that ends past this many minutes",
    )
    pr.add_argument(
        "--checkpoints",
        default=str(CHECKPOINT_DIR),
        help="checkpoint folder of the reference prior (and its VAE)",
    )
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=cmd_preferences)
