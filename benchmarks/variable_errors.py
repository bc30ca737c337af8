"""Where the analysis error sits: per-variable error of analyses and of their 48 h forecasts
(asserts nothing).

For held-out cases at 1 % random obs (``scenarios``, as the alignment benchmark): the
normalised MSE per variable of the background, 3D-Var, DPS with the unaligned prior and with
aligned weights (ensemble mean, app defaults otherwise), and of 48 h forecasts from each (and
from the truth itself: the model error floor).

    python benchmarks/variable_errors.py --cases data/heldout99/test.nc --n 8
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from alignda.alignment.rewards import Forecaster
from alignda.alignment.selection import scenarios
from alignda.analysis.score import SamplerSettings
from alignda.bundle import load_bundle
from alignda.experiment import DEFAULT
from alignda.world.cases import Cases
from alignda.world.variables import VARIABLE_NAMES

WEIGHTS = {
    "dps unaligned": {},
    "dps accuracy": {"accuracy": 1.0},
    "dps forecast": {"forecast": 1.0},
    "dps -M": {"multi": 1.0},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="data/heldout99/test.nc")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--checkpoints", default=None, help="folder (default: the shipped one)")
    ap.add_argument(
        "--density", type=float, default=DEFAULT.observing.density, help="random obs, fraction"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    bundle = load_bundle(args.checkpoints)
    scale = bundle.stats.std
    opened = Cases.open(args.cases)
    cases = scenarios(opened, args.n, args.density)
    forecast = Forecaster(opened.world)

    def per_variable(x: np.ndarray, truth: np.ndarray) -> np.ndarray:
        return ((x - truth) ** 2).mean(axis=(-2, -1)) / scale**2

    rows: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for i, sc in enumerate(cases):
        states = {
            "truth": sc.truth,
            "background": sc.background,
            "3D-Var": bundle.variational().analyse(sc.background, sc.obs).mean,
        }
        for name, w in WEIGHTS.items():
            method = bundle.prior_method(SamplerSettings(mode="dps", seed=i, members=1), w)
            states[name] = method.analyse(sc.background, sc.obs).mean
        for name, x in states.items():
            fc = forecast(np.asarray(x)[None])[0]
            pair = (per_variable(np.asarray(x), sc.truth), per_variable(fc, sc.future_truth))
            rows.setdefault(name, []).append(pair)
        print(f"case {i + 1}/{len(cases)}", flush=True)
    head = "".join(f"{v:>9}" for v in VARIABLE_NAMES)
    print(f"\n{args.cases}, {len(cases)} cases, {args.density:g} % random obs: normalised MSE")
    print(f"{'':<16}{'analysis':<{9 * len(VARIABLE_NAMES)}}  48 h forecast")
    print(f"{'':<16}{head}  {head}")
    for name, pairs in rows.items():
        a, f = (np.mean([p[j] for p in pairs], 0) for j in (0, 1))
        cells = "".join(f"{v:9.4f}" for v in a) + "  " + "".join(f"{v:9.4f}" for v in f)
        print(f"{name:<16}{cells}")


if __name__ == "__main__":
    main()
