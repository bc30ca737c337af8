"""The command that cycles analysis methods on a truth run: ``alignda cycle``."""

from __future__ import annotations

import argparse

from alignda.alignment.soup import PRESETS
from alignda.analysis.score import ANALYSIS_MODES
from alignda.cli.common import add_choice, add_command, add_out, comma_list, out_path
from alignda.obs.networks import PATTERNS
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES

#: The name of 3D-Var in --methods (the other names are the analysis modes).
THREEDVAR = "3dvar"


def cmd_cycle(args: argparse.Namespace) -> None:
    """Cycle the chosen methods from a case's truth; print and write the per-cycle errors."""
    from alignda.analysis.score import SamplerSettings
    from alignda.bundle import load_bundle
    from alignda.evaluation.cycling import CycleConfig, cycle
    from alignda.world.cases import Cases

    names = comma_list(args.methods, (THREEDVAR, *ANALYSIS_MODES), "method", "--methods")
    out = out_path(args)
    config = CycleConfig(
        cycles=args.cycles,
        hours=args.hours,
        pattern=args.pattern,
        density=args.density,
        noise_scale=args.noise_scale,
        seed=args.seed,
    )
    cases = Cases.open(args.cases)
    truth0 = cases.truth_state(cases.time_of(args.case))
    bundle = load_bundle(args.checkpoints)
    weights = PRESETS[args.preset] if args.preset != "unaligned" else None
    methods = {
        ("3D-Var" if name == THREEDVAR else name): bundle.variational()
        if name == THREEDVAR
        else bundle.prior_method(
            SamplerSettings(mode=name, steps=args.steps, members=args.members), weights
        )
        for name in names
    }

    def show(step) -> None:
        if not args.quiet:
            print(
                f"cycle {step.cycle + 1:>3}/{config.cycles} {step.method:<10} background MSE "
                f"{step.background_mse:.4f} -> analysis {step.analysis_mse:.4f} "
                f"({step.seconds:.1f} s)",
                flush=True,
            )

    ds = cycle(methods, truth0, bundle.stats.std, config, on_step=show)
    ds.attrs["cases"] = f"{args.cases}, case {args.case}"
    ds.to_netcdf(out)
    last = ds.isel(cycle=slice(len(ds.cycle) // 2, None))
    print(f"mean over the last {len(last.cycle)} cycles (normalised MSE):")
    for name in ds.experiment.values:
        part = last.sel(experiment=name)
        print(
            f"  {name:<10} background {float(part.background_mse.mean()):.4f}, analysis "
            f"{float(part.analysis_mse.mean()):.4f}"
        )
    print(f"per-cycle errors -> {out}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command to the parser's subcommands."""
    c = add_command(
        sub,
        "cycle",
        "cycled DA: analysis methods through N forecast-analysis cycles on a truth run -> netCDF",
    )
    c.add_argument("--cases", default=str(SHIPPED_CASES), help="cases file whose truth starts")
    c.add_argument("--case", default="0", help="index or analysis time of the starting truth")
    c.add_argument(
        "--methods",
        default=f"{THREEDVAR},hybrid",
        help=f"comma list of {THREEDVAR} and the analysis modes ({', '.join(ANALYSIS_MODES)}); "
        "a free run is always added",
    )
    c.add_argument("--cycles", type=int, default=10, help="number of cycles")
    c.add_argument("--hours", type=int, default=48, help="forecast length of a cycle (h)")
    add_choice(
        c,
        "--pattern",
        choices=PATTERNS,
        what="observation pattern",
        default="random",
        help="observation network, drawn afresh every cycle",
    )
    c.add_argument(
        "--density", type=float, default=0.01, help="observed fraction of the grid, 0..1"
    )
    c.add_argument(
        "--noise-scale",
        dest="noise_scale",
        type=float,
        default=1.0,
        help="obs error std as a multiple of z 10 m, u/v 1 m/s, tracer 0.02",
    )
    c.add_argument("--steps", type=int, default=32, help="prior methods: diffusion steps")
    c.add_argument("--members", type=int, default=4, help="prior methods: ensemble members")
    add_choice(
        c,
        "--preset",
        choices=("unaligned", *PRESETS),
        what="preset",
        default="unaligned",
        help="reward weights of the prior methods",
    )
    c.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the truth's forcing, the initial error, the networks and the samplers",
    )
    c.add_argument("--checkpoints", default=str(CHECKPOINT_DIR), help="checkpoint folder")
    add_out(c, "per-cycle errors (netCDF)", default="out/cycle.nc")
    c.add_argument("--quiet", action="store_true", help="no line per cycle")
    c.set_defaults(func=cmd_cycle)
