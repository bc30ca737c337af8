"""The physics reward against the methods: initialisation shock and balance score per analysis.

For N cases observed as the app's default experiment (1 % random observations, seed = case
index), each state's initialisation shock (rms height tendency over the first forecast hour,
m/h), its balance score (the physics reward, %), its Geo-Score (%) and its analysis MSE:
the truth, the background, 3D-Var, the default mode (hybrid mean), the DPS mean, one DPS
member and the physics-weighted DPS mean. Paired differences of the balance score against
3D-Var with a bootstrap 90 % interval.

    python benchmarks/balance_bench.py --cases assets/test_cases.nc --n 8
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from alignda.alignment.rewards import balance_score, geo_score, normalised_mse
from alignda.alignment.selection import paired_bootstrap
from alignda.bundle import load_bundle
from alignda.experiment import DEFAULT
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases
from alignda.world.shock import height_tendency

#: The guided mode compared with the default one.
GUIDED = "dps"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=str(SHIPPED_CASES))
    ap.add_argument("--n", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    bundle = load_bundle()
    cases = Cases.open(args.cases)
    guided = replace(DEFAULT.method, mode=GUIDED)
    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    for k, t in enumerate(cases.times[: args.n]):
        truth, bg = cases.truth_state(t), cases.background_state(t)
        obs = replace(DEFAULT, seed=k).observe(truth)
        dps = bundle.prior_method(guided).analyse(bg, obs, seed=k)
        states = {
            "truth": truth,
            "background": bg,
            "3D-Var": bundle.variational().analyse(bg, obs).mean,
            "hybrid mean (default)": bundle.prior_method(DEFAULT.method).analyse(bg, obs, k).mean,
            "DPS mean": dps.mean,
            "DPS member": dps.members[0],
            "DPS mean, physics weight": bundle.prior_method(guided, {"physics": 1.0})
            .analyse(bg, obs, seed=k)
            .mean,
        }
        x = np.stack([np.asarray(s) for s in states.values()])
        figures = zip(
            height_tendency(x, world=cases.world),
            balance_score(x, truth, cases.world),
            geo_score(x, truth),
            normalised_mse(x, truth, bundle.stats.std),
            strict=True,
        )
        for name, f in zip(states, figures, strict=True):
            rows.setdefault(name, []).append(tuple(float(v) for v in f))
        print(f"case {k}: " + ", ".join(f"{n} {v[-1][0]:.2f}" for n, v in rows.items()), flush=True)
    print(f"\n{args.n} cases of {args.cases}, the default experiment's observations")
    print(f"{'state':<26}{'shock m/h':>10}{'balance %':>10}{'Geo %':>8}{'MSE':>9}")
    for name, v in rows.items():
        a = np.array(v).mean(0)
        print(f"{name:<26}{a[0]:>10.2f}{100 * a[1]:>10.1f}{100 * a[2]:>8.1f}{a[3]:>9.4f}")
    ref = [r[1] for r in rows["3D-Var"]]
    print("\nbalance score - 3D-Var's (points, 90 % interval):")
    for name, v in rows.items():
        d = paired_bootstrap(ref, [r[1] for r in v], relative=False)
        print(f"  {name:<26}{100 * d['mean']:+6.1f} [{100 * d['lo']:+.1f}, {100 * d['hi']:+.1f}]")


if __name__ == "__main__":
    main()
