"""Latent-prior benchmark: skill of every guidance mode vs background and 3D-Var, speed, RSS.

Run: ``python benchmarks/prior_bench.py`` (2-core CPU; prints figures, asserts nothing).
Writes PNG maps of one case to ``out/prior_maps``.
"""

from __future__ import annotations

import argparse
import resource
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from alignda.analysis.score import SamplerSettings, analyse
from alignda.bundle import load_bundle
from alignda.evaluation.experiments import (
    FITS_WORSE_COLUMN,
    case_arrays,
    draw_observations,
    run_methods,
    scores,
)
from alignda.evaluation.scorecard import format_table
from alignda.experiment import DEFAULT
from alignda.model.prior import prior_denoiser
from alignda.paths import SHIPPED_CASES
from alignda.viz.maps import map_panel, save_png
from alignda.world.cases import Cases
from alignda.world.grid import Grid


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Print the skill table, speed figures and peak RSS; write maps."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--density", type=float, default=DEFAULT.observing.density)
    p.add_argument("--steps", type=int, default=DEFAULT.method.steps)
    p.add_argument("--zeta", type=float, default=DEFAULT.method.zeta)
    p.add_argument("--n-cases", type=int, default=None)
    p.add_argument("--modes", default="obsfree,repaint,dps,mmps")
    p.add_argument(
        "--members", type=int, default=DEFAULT.method.members, help="ensemble size (mean: analysis)"
    )
    args = p.parse_args()
    torch.set_grad_enabled(False)

    cases = Cases.open(SHIPPED_CASES)
    bundle = load_bundle()
    stats, codec = bundle.stats, bundle.codec
    den = prior_denoiser(bundle.prior)
    truth, bg = case_arrays(cases, args.n_cases)
    obs = draw_observations(truth, "random", args.density, seed=0)

    methods = [bundle.variational()] + [
        bundle.prior_method(
            SamplerSettings(mode=mode, steps=args.steps, zeta=args.zeta, members=args.members)
        )
        for mode in args.modes.split(",")
    ]
    out, seconds, worse = run_methods(methods, bg, obs)
    table = scores({"background": bg, **out}, truth, stats)
    table[FITS_WORSE_COLUMN] = [worse.get(n, 0) for n in table.index]
    print(
        f"{len(truth)} shipped cases, {args.density:.0%} random obs, {args.steps} steps x 1 "
        f"correction, zeta {args.zeta}, mean of {args.members} members"
    )
    print(format_table(table))
    print("seconds per analysis:", {k: round(v, 2) for k, v in seconds.items()})

    # Speed at the default steps and at the paper's 128 x 2 settings, one member.
    for steps, corr in ((args.steps, 1), (128, 2)):
        for mode in ("obsfree", "dps"):
            s = SamplerSettings(mode=mode, steps=steps, corrections=corr, zeta=args.zeta, members=1)
            run = partial(analyse, den, codec, bg[0], obs[0], s)
            run()
            t0 = time.perf_counter()
            run()
            print(
                f"{mode:8s} {steps:3d} steps x {corr} corrections: {time.perf_counter() - t0:.2f} s"
            )
    print(f"peak RSS {peak_rss_mb():.0f} MB, torch threads {torch.get_num_threads()}")

    grid = Grid()
    Path("out/prior_maps").mkdir(parents=True, exist_ok=True)
    i = 0
    for v, name in enumerate(("z", "u")):
        fig = map_panel(
            {
                "truth": truth[i, v],
                "background": bg[i, v],
                "DPS analysis": out["dps"][i, v],
                "background - truth": bg[i, v] - truth[i, v],
                "DPS - truth": out["dps"][i, v] - truth[i, v],
                "3D-Var - truth": out["3D-Var"][i, v] - truth[i, v],
            },
            grid.lat,
            grid.lon,
            units="m" if name == "z" else "m s-1",
            diverging_keys=["background - truth", "DPS - truth", "3D-Var - truth"],
            obs=(
                grid.lat[np.nonzero(obs[i].mask[v])[0]],
                grid.lon[np.nonzero(obs[i].mask[v])[1]],
                obs[i].values[v][obs[i].mask[v]],
            ),
            obs_keys=["truth"],
            title=f"{name}: case {np.datetime_as_string(cases.times[i], unit='h')}, "
            f"{args.density:.0%} random obs",
        )
        print(save_png(fig, f"out/prior_maps/case{i}_{name}.png"))


if __name__ == "__main__":
    main()
