"""Choose the DPS guidance strength on validation cases (never on the test cases).

Run: ``python benchmarks/tune_zeta.py --val data/world/val.nc`` (needs generated data).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from alignda.analysis.score import SamplerSettings
from alignda.bundle import load_bundle
from alignda.evaluation.experiments import (
    FITS_WORSE_COLUMN,
    draw_observations,
    run_methods,
    scores,
)
from alignda.evaluation.scorecard import format_table
from alignda.experiment import DEFAULT
from alignda.world.cases import Cases


def main() -> None:
    """Print a table of DPS skill against zeta on a few validation cases."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--val", default="data/world/val.nc")
    p.add_argument("--n-cases", type=int, default=8)
    p.add_argument("--density", type=float, default=DEFAULT.observing.density)
    p.add_argument("--steps", type=int, default=DEFAULT.method.steps)
    p.add_argument("--zetas", default="0.25,0.5,1,2,4")
    p.add_argument("--gamma", type=float, default=0.0, help="> 0: SDA-normalised DPS")
    args = p.parse_args()
    torch.set_grad_enabled(False)
    cases = Cases.open(args.val)
    pick = np.linspace(0, len(cases) - 1, args.n_cases).astype(int)
    truth = np.stack([cases.truth_state(cases.times[i]) for i in pick])
    bg = np.stack([cases.background_state(cases.times[i]) for i in pick])
    obs = draw_observations(truth, "random", args.density, seed=123)
    bundle = load_bundle()
    methods = [
        bundle.prior_method(
            SamplerSettings(mode="dps", steps=args.steps, zeta=zeta, gamma=args.gamma, members=1),
            name=f"dps zeta={zeta:g}",
        )
        for zeta in map(float, args.zetas.split(","))
    ]
    out, _, worse = run_methods(methods, bg, obs)
    table = scores({"background": bg, **out}, truth, bundle.stats)
    table[FITS_WORSE_COLUMN] = [worse.get(n, 0) for n in table.index]
    print(format_table(table))


if __name__ == "__main__":
    main()
