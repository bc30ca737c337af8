"""The command that cycles analysis methods on a truth run: ``alignda cycle``."""

from __future__ import annotations

import argparse

from alignda.analysis.score import ANALYSIS_MODES
from alignda.cli.common import add_command, add_out, comma_list, out_path
from alignda.cli.flags import (
    add_method_args,
    add_observing_args,
    add_weight_args,
    method_from_args,
    observing_from_args,
    weights_from_args,
)
from alignda.experiment import DEFAULT
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES

#: The name of 3D-Var in --methods (the other names are the analysis modes).
THREEDVAR = "3dvar"


def cmd_cycle(args: argparse.Namespace) -> None:
    """Cycle the chosen methods from a case's truth; print and write the per-cycle errors
    (and a warning for each analysis that fits the observations worse than its background)."""
    from alignda.bundle import load_bundle
    from alignda.evaluation.cycling import CycleConfig, cycle, fits_worse_summary
    from alignda.world.cases import Cases

    names = comma_list(args.methods, (THREEDVAR, *ANALYSIS_MODES), "method", "--methods")
    out = out_path(args)
    o = observing_from_args(args)
    cases = Cases.open(args.cases)
    truth0 = cases.truth_state(cases.time_of(args.case))
    bundle = load_bundle(args.checkpoints)
    config = CycleConfig(
        cycles=args.cycles,
        hours=args.hours,
        pattern=o.pattern,
        density=o.density,
        noise_scale=o.noise_scale,
        seed=args.seed,
        world=cases.world,
    )
    weights = weights_from_args(args)
    methods = {
        ("3D-Var" if name == THREEDVAR else name): bundle.variational()
        if name == THREEDVAR
        else bundle.prior_method(method_from_args(args, mode=name), weights)
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
        if step.fits_worse:  # said even with --quiet
            print(f"warning: {step.warning}", flush=True)

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
    worse = fits_worse_summary(ds)
    if worse:
        print(f"analyses that fit the observations worse than their background: {worse}")
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
        default=f"{THREEDVAR},{DEFAULT.method.mode}",
        help=f"comma list of {THREEDVAR} and the analysis modes ({', '.join(ANALYSIS_MODES)}); "
        "a free run is always added",
    )
    c.add_argument("--cycles", type=int, default=10, help="number of cycles")
    c.add_argument("--hours", type=int, default=48, help="forecast length of a cycle (h)")
    add_observing_args(c, "observation network, drawn afresh every cycle")
    add_method_args(c, modes=False, members="prior methods: ensemble members")
    add_weight_args(c)
    c.add_argument(
        "--seed",
        type=int,
        default=DEFAULT.seed,
        help="seed of the truth's forcing, the initial error, the networks and the samplers",
    )
    c.add_argument("--checkpoints", default=str(CHECKPOINT_DIR), help="checkpoint folder")
    add_out(c, "per-cycle errors (netCDF)", default="out/cycle.nc")
    c.add_argument("--quiet", action="store_true", help="no line per cycle")
    c.set_defaults(func=cmd_cycle)
