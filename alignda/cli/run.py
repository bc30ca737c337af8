"""Commands that run analyses: assimilate (one case) and evaluate (the paper tables)."""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import replace
from pathlib import Path

from alignda.analysis.score import ANALYSIS_MODES
from alignda.checkpoints import HUB_ENV
from alignda.cli.common import add_command, add_out, comma_list, out_path
from alignda.cli.flags import (
    add_method_args,
    add_observing_args,
    add_weight_args,
    experiment_from_args,
    method_from_args,
    observing_from_args,
)
from alignda.experiment import DEFAULT
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES
from alignda.world.cases import (
    Cases,
)


def cmd_assimilate(args: argparse.Namespace) -> None:
    """One analysis of a case: write members, mean and spread to netCDF."""

    from alignda.analysis.score import analysis_dataset
    from alignda.bundle import load_bundle
    from alignda.obs.operator import observe_case
    from alignda.runtime import worker_threads
    from alignda.world.grid import Grid

    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if not (math.isfinite(args.noise_scale) and args.noise_scale >= 0):
        raise ValueError(f"--noise-scale must be finite and >= 0, got {args.noise_scale}")
    exp = experiment_from_args(args)
    out = out_path(args)
    cases = Cases.open(args.cases)
    t = cases.time_of(exp.case)
    truth, bg = cases.truth_state(t), cases.background_state(t)
    grid = Grid(*truth.shape[-2:])
    o = exp.observing
    obs = observe_case(
        truth,
        exp.seed,
        pattern=o.pattern,
        density=o.density,
        points=Path(args.points) if args.points else None,
        noise_scale=o.noise_scale,
    )
    folder = None if (args.hub_repo or os.environ.get(HUB_ENV)) else args.checkpoints
    bundle = load_bundle(folder, repo_id=args.hub_repo, prior=args.prior)
    weights = exp.weight_dict
    if bundle.soup is None and not (args.weights or args.preset):  # the default weights
        print(f"no usable aligned deltas in {bundle.folder}: the unaligned prior is used")
        weights = {k: 0.0 for k in weights}
    with worker_threads() as workers:  # groups of members side by side, one thread each
        method = bundle.prior_method(
            exp.sampler,
            weights if any(weights.values()) else None,
            workers=workers,
            progress=not args.quiet,
        )
        analysis = method.analyse(bg, obs, seed=exp.seed)
    if analysis.fits_worse:
        print(f"warning: {analysis.warning}")
    ds = analysis_dataset(
        analysis.members,
        grid,
        t,
        attrs={
            "settings": json.dumps(exp.sampler.to_dict()),
            "pattern": f"csv points {Path(args.points).name}" if args.points else o.pattern,
            "density": o.density,
            "noise_scale": o.noise_scale,
            "reward_weights": json.dumps(weights),
            **analysis.fit.attrs(analysis.method, analysis.observed),
        },
    )
    ds.to_netcdf(out)
    fit = analysis.fit.numbers() if analysis.fit.measured else "no observations"
    print(f"analysis ({exp.method.members} member(s), {exp.method.mode}; {fit}) -> {out}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    """The paper's Tables 1 and 2, the obs density/noise sweep and the trade-off PNG."""
    from alignda.runtime import worker_threads

    with worker_threads() as workers:  # one torch thread per worker: members side by side
        _evaluate(args, workers)


def _evaluate(args: argparse.Namespace, workers: int) -> None:
    import numpy as np

    from alignda.alignment.rewards import Forecaster
    from alignda.bundle import load_bundle
    from alignda.evaluation.experiments import FITS_WORSE_COLUMN
    from alignda.evaluation.scorecard import format_table
    from alignda.evaluation.tables import PAPER_MODE, EvalConfig, Evaluator, tradeoff_figure
    from alignda.viz.maps import save_png

    modes = comma_list(args.modes, ANALYSIS_MODES, "analysis mode", "--modes")
    out = out_path(args)
    cases = Cases.open(args.cases)
    forecaster = Forecaster(cases.world, workers=workers)  # the cases' world
    ev = Evaluator(load_bundle(args.checkpoints), forecaster, not args.quiet, workers)
    times = [t for t in cases.times if cases.future_truth(t, 48) is not None][: args.n_cases]
    truth = np.stack([cases.truth_state(t) for t in times])
    bg = np.stack([cases.background_state(t) for t in times])
    future = np.stack([cases.future_truth(t, 48) for t in times])
    sampler = method_from_args(args, mode=PAPER_MODE, seed=args.seed)
    o = observing_from_args(args)
    cfg = EvalConfig(o.density, o.noise_scale, o.pattern, sampler=sampler)
    out.mkdir(exist_ok=True)
    head = (
        f"{len(times)} cases of {args.cases}, {args.density:.0%} {args.pattern} obs, "
        f"{args.steps} steps, mean of {args.members} members, seed {args.seed}"
    )
    report = [f"# Align-DA evaluation\n\n{head}\n"]
    if not args.skip_tables:
        t1, t2 = ev.tables(truth, bg, future, cfg, modes)
        report += [
            "## Table 1: analyses\n",
            format_table(t1),
            "\n## Table 2: 48 h forecasts\n",
            format_table(t2),
        ]
        worse = t1[FITS_WORSE_COLUMN][t1[FITS_WORSE_COLUMN] > 0]
        if len(worse):
            said = ", ".join(f"{n} {int(k)} of {len(times)}" for n, k in worse.items())
            report.append(
                f"\nWarning: analyses that fit the observations worse than the background "
                f"(O-A > O-B): {said}."
            )
    n_small = min(args.sweep_cases, len(times))
    small = replace(cfg, sampler=replace(sampler, members=args.sweep_members))
    if args.densities:
        dens = [float(x) for x in args.densities.split(",")]
        noise = [float(x) for x in args.noise.split(",")]
        sw = ev.sweep(truth[:n_small], bg[:n_small], small, dens, noise)
        report += [f"\n## Sweep: analysis MSE, {n_small} cases, dps\n", sw.round(5).to_string()]
    if not args.skip_tradeoff:
        tr = ev.tradeoff(truth[:n_small], bg[:n_small], future[:n_small], small)
        report += [
            f"\n## Trade-off over the weight simplex, {n_small} cases\n",
            tr.round(4).to_string(),
        ]
        print(save_png(tradeoff_figure(tr), out / "tradeoff.png"))
    text = "\n".join(report) + "\n"
    (out / "tables.md").write_text(text)
    print(text)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser's subcommands."""
    a = add_command(sub, "assimilate", "analyse one case with the latent prior -> netCDF")
    a.add_argument(
        "--cases", default=str(SHIPPED_CASES), help="cases file (netCDF of truth and backgrounds)"
    )
    a.add_argument("--case", default="0", help="index or analysis time (e.g. 2000-07-04T00)")
    add_observing_args(a, "observation network drawn from the truth (unless --points)")
    a.add_argument(
        "--points", help="CSV of observed points: lat, lon[, variable, value] (replaces --pattern)"
    )
    add_method_args(a, members="ensemble members (mean = analysis)")
    a.add_argument(
        "--seed",
        type=int,
        default=DEFAULT.seed,
        help="seed of the observation network, its noise and the members",
    )
    a.add_argument("--prior", default="prior", help="checkpoint name in the manifest")
    add_weight_args(a)
    a.add_argument(
        "--checkpoints",
        default=str(CHECKPOINT_DIR),
        help=f"checkpoint folder (not used with --hub-repo or ${HUB_ENV})",
    )
    a.add_argument("--hub-repo", dest="hub_repo", help=f"Hub repo id (or env {HUB_ENV})")
    add_out(a, "analysis netCDF to write (members, mean, spread)", default="out/analysis.nc")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_assimilate)

    e = add_command(sub, "evaluate", "paper tables, obs sweep and reward trade-off")
    e.add_argument("--cases", default=str(SHIPPED_CASES), help="held-out cases file (netCDF)")
    e.add_argument(
        "--n-cases",
        dest="n_cases",
        type=int,
        help="use the first N cases with a truth 48 h later (default: all)",
    )
    e.add_argument(
        "--checkpoints",
        default=str(CHECKPOINT_DIR),
        help="checkpoint folder (prior, aligned deltas, 3D-Var B)",
    )
    add_observing_args(e, "observation network of every analysis")
    e.add_argument(
        "--modes",
        default="obsfree,repaint,dps",
        help=f"comma list of the table's analysis modes, of: {', '.join(ANALYSIS_MODES)}",
    )
    add_method_args(e, modes=False, members="ensemble members per analysis (mean is scored)")
    e.add_argument(
        "--seed", type=int, default=DEFAULT.seed, help="seed of the members (case i: seed + i)"
    )
    e.add_argument(
        "--densities",
        default="0.01,0.03,0.05,0.1",
        help="comma list of observed fractions of the sweep, 0..1 ('' to skip the sweep)",
    )
    e.add_argument(
        "--noise",
        default="1,3",
        help="comma list of obs error multipliers of the sweep (at --density)",
    )
    e.add_argument(
        "--sweep-cases",
        dest="sweep_cases",
        type=int,
        default=8,
        help="cases of the sweep and the trade-off (the first N)",
    )
    e.add_argument(
        "--sweep-members",
        dest="sweep_members",
        type=int,
        default=DEFAULT.method.members,
        help="ensemble members per analysis of the sweep and the trade-off",
    )
    e.add_argument(
        "--skip-tables", dest="skip_tables", action="store_true", help="no Tables 1 and 2"
    )
    e.add_argument(
        "--skip-tradeoff",
        dest="skip_tradeoff",
        action="store_true",
        help="no trade-off over the reward weights (and no tradeoff.png)",
    )
    add_out(e, "folder to write tables.md and tradeoff.png into", default="out/eval")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=cmd_evaluate)
