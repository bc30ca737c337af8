"""Choose the DPS guidance strength on validation cases (never on the test cases).

Run: ``python benchmarks/tune_zeta.py --val data/world/val.nc`` (needs generated data).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from alignda.analysis.score import SamplerSettings, analyse
from alignda.checkpoints import resolve
from alignda.evaluation.experiments import draw_observations, run_methods, scores
from alignda.evaluation.metrics import format_table
from alignda.model.codec import load_codec
from alignda.model.prior import load_prior, prior_denoiser
from alignda.world.cases import Cases
from alignda.world.stats import WorldStats


def main() -> None:
    """Print a table of DPS skill against zeta on a few validation cases."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--val", default="data/world/val.nc")
    p.add_argument("--n-cases", type=int, default=8)
    p.add_argument("--density", type=float, default=0.01)
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--zetas", default="0.25,0.5,1,2,4")
    p.add_argument("--gamma", type=float, default=0.0, help="> 0: SDA-normalised DPS")
    args = p.parse_args()
    torch.set_grad_enabled(False)
    cases = Cases.open(args.val)
    pick = np.linspace(0, len(cases) - 1, args.n_cases).astype(int)
    truth = np.stack([cases.truth_state(cases.times[i]) for i in pick])
    bg = np.stack([cases.background_state(cases.times[i]) for i in pick])
    obs = draw_observations(truth, "random", args.density, seed=123)
    codec, den = load_codec(), prior_denoiser(load_prior())
    methods = {}
    for zeta in map(float, args.zetas.split(",")):
        s = SamplerSettings(mode="dps", steps=args.steps, zeta=zeta, gamma=args.gamma)
        methods[f"dps zeta={zeta:g}"] = lambda xb, o, s=s: analyse(den, codec, xb, o, s)[0]
    out, _ = run_methods(methods, bg, obs)
    stats = WorldStats.load(resolve("world_stats"))
    print(format_table(scores({"background": bg, **out}, truth, stats)))


if __name__ == "__main__":
    main()
