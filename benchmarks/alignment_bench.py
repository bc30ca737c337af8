"""Alignment benchmark: unaligned vs aligned reward weights on held-out cases (asserts nothing).

Each case is observed by its own 1 % random network (same for every variant); analyses use
the app's defaults otherwise (32 steps, 4 members, zeta 1) with DPS and the default mode
(hybrid), each with its own deltas (the hybrid's: ``aligned_hybrid`` where the folder has
them). Figures of the ensemble mean: analysis MSE (normalised by the world's std), balance
score, Geo-Score, 48 h forecast MSE; paired differences vs unaligned over the cases with a
bootstrap 90 % interval ("neutral" when it includes 0). ``--curves``: the mean of each
reward's metric against its own weight (the others at 1), with the interval of the paired
difference to weight 0, in the first of ``--modes``.

    python benchmarks/alignment_bench.py --cases data/heldout99/test.nc --n 8 --out runs/bench
    python benchmarks/alignment_bench.py --cases assets/test_cases.nc --n 16 --out runs/bench
    python benchmarks/alignment_bench.py --curves --modes hybrid --cases data/cpu2/val.nc --n 4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from alignda.alignment.rewards import Forecaster
from alignda.alignment.selection import METRICS, ResultCache, evaluate, paired_bootstrap, scenarios
from alignda.alignment.soup import (
    ALIGNED,
    DELTAS,
    RewardSoup,
    delta_digest,
    delta_set,
    load_deltas,
)
from alignda.analysis.first_guess import FirstGuessSettings
from alignda.analysis.score import SamplerSettings
from alignda.bundle import load_bundle
from alignda.checkpoints import read_manifest
from alignda.experiment import DEFAULT
from alignda.modelcard import write_benchmark
from alignda.paths import CHECKPOINT_DIR
from alignda.studio.request import LIMITS
from alignda.world.cases import Cases

VARIANTS = {
    "unaligned": {},
    "physics": {"physics": 1.0},
    "accuracy": {"accuracy": 1.0},
    "forecast": {"forecast": 1.0},
    "-M": {"multi": 1.0},
    "balanced": {"accuracy": 1.0, "forecast": 1.0, "physics": 1.0},
}
CURVE_WEIGHTS = (0.0, 0.25, 0.5, 1.0, LIMITS["weight"][1])
CURVE_METRIC = {"accuracy": "mse", "forecast": "fc_mse", "physics": "balance"}
#: Figures where higher is better (scores in [0, 1], differences in points).
HIGHER_IS_BETTER = ("balance", "geo", "geo_members")


def read_deltas(source: str, name: str = ALIGNED) -> dict[str, dict[str, torch.Tensor]]:
    """Deltas from a checkpoint folder (registered ``name``, sha-checked; the latent
    sampler's where it has no ``name``) or a safetensors file."""
    path = Path(source)
    if path.is_dir():
        return load_deltas(name if name in read_manifest(path) else ALIGNED, path)
    with safe_open(str(path), "pt") as f:
        names = json.loads(f.metadata()["deltas"])
    out: dict[str, dict[str, torch.Tensor]] = {n: {} for n in names}
    for key, v in load_file(str(path)).items():
        n, _, k = key.partition(".")
        out[n][k] = v.float()
    return out


def table(results: dict[str, dict], names: list[str], title: str) -> list[dict]:
    """Print means and paired differences vs unaligned with bootstrap 90 % intervals; return
    them as rows (MSEs: relative %, the balance and Geo-Scores: points)."""
    rows = []
    print(f"\n## {title}")
    base = results["unaligned"]
    print(f"{'variant':<12}" + "".join(f"{m:>13}" for m in METRICS))
    for n in names:
        print(f"{n:<12}" + "".join(f"{np.mean(results[n][m]):>13.5f}" for m in METRICS))
    print("paired difference vs unaligned (MSEs: relative %, scores: points), 90 % interval")
    for n in names[1:]:
        cells = []
        for m in METRICS:
            higher = m in HIGHER_IS_BETTER
            rel = not higher
            b = paired_bootstrap(base[m], results[n][m], relative=rel)
            f = 100.0
            tag = (
                "neutral" if b["neutral"] else ("better" if (b["mean"] > 0) == higher else "worse")
            )
            cells.append(f"{m} {f * b['mean']:+.2f} [{f * b['lo']:+.2f}, {f * b['hi']:+.2f}] {tag}")
            rows.append(
                {"variant": n, "metric": m, "change": [f * b[k] for k in ("mean", "lo", "hi")]}
                | {"verdict": tag}
            )
        print(f"  {n:<10} " + "; ".join(cells))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="data/heldout99/test.nc")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--deltas", default=str(CHECKPOINT_DIR), help="folder or safetensors file")
    ap.add_argument("--checkpoints", default=str(CHECKPOINT_DIR))
    ap.add_argument("--json", help="also write the tables here (the model card reads it)")
    ap.add_argument("--members", type=int, default=DEFAULT.method.members)
    ap.add_argument("--steps", type=int, default=DEFAULT.method.steps)
    ap.add_argument("--density", type=float, default=1.0, help="random obs density, in %%")
    ap.add_argument("--modes", default="dps,hybrid", help="comma list: dps and/or hybrid")
    ap.add_argument("--curves", action="store_true")
    ap.add_argument("--out", default="runs/bench", help="cache folder")
    args = ap.parse_args()
    torch.set_num_threads(1)
    folder = Path(args.checkpoints)
    bundle = load_bundle(folder)
    ref, codec, scale = bundle.prior, bundle.codec, bundle.stats.std
    modes = args.modes.split(",")
    settings = {m: SamplerSettings(mode=m, steps=args.steps, members=args.members) for m in modes}
    deltas = {m: read_deltas(args.deltas, delta_set(s.latent)) for m, s in settings.items()}
    soups = {m: RewardSoup(ref, d) for m, d in deltas.items()}
    opened = Cases.open(args.cases)
    cases = scenarios(opened, args.n, args.density / 100.0)
    forecaster = Forecaster(opened.world)
    # cached per case set, deltas content and sampler (a new export is judged afresh)
    tag = f"{Path(args.cases).parent.name}_{Path(args.cases).stem}_n{args.n}"
    tag += f"_s{args.steps}_m{args.members}_d{args.density:g}"
    fg = FirstGuessSettings()  # the hybrid's results also depend on its weight and first guess
    hybrid_tag = f"_hb{bundle.hybrid.beta:g}_{DEFAULT.method.first_guess}"
    hybrid_tag += f"_t{fg.t:g}d{fg.draws}l{fg.lmax}"
    cache = ResultCache(Path(args.out) / f"{tag}.json")
    print(f"{args.cases}: {len(cases)} cases, {args.density:g} % random obs, deltas {args.deltas}")

    def run(key: str, weights: dict, mode: str) -> dict:
        s = settings[mode]
        # cached per deltas content (a new export is judged afresh) and hybrid settings
        d = deltas[mode]
        key += "/" + delta_digest({f"{n}.{k}": v for n, x in d.items() for k, v in x.items()})
        key += "" if s.latent else hybrid_tag

        def compute() -> dict:
            t0 = time.perf_counter()
            net = soups[mode].network(weights)
            figs = evaluate(net, codec, cases, s, scale, forecaster, bundle.hybrid)
            return {**figs, "seconds": time.perf_counter() - t0}

        out = cache.get(key, compute)
        print(f"  {key}: {out['seconds']:.0f} s", flush=True)
        return out

    if args.curves:
        names = [n for n in DELTAS if n != "multi"]
        mode = modes[0]
        for k, metric in CURVE_METRIC.items():
            runs = []
            for w in CURVE_WEIGHTS:
                weights = {n: (w if n == k else 1.0) for n in names}
                runs.append((w, run(f"{mode}/curve/{k}/w{w:g}", weights, mode)))
            vals = [np.mean(r[metric]) for _, r in runs]
            higher = metric in HIGHER_IS_BETTER
            sign = 1 if higher else -1
            mono = all(sign * (b - a) >= 0 for a, b in zip(vals, vals[1:], strict=False))
            print(f"\n{mode}: {k} weight -> mean {metric} (others at 1): monotonic={mono}")
            for w, r in runs:
                b = paired_bootstrap(runs[0][1][metric], r[metric], relative=not higher)
                f = 100.0
                print(
                    f"  w={w:<5g} {metric}={np.mean(r[metric]):.5f} vs w=0: {f * b['mean']:+.2f} "
                    f"[{f * b['lo']:+.2f}, {f * b['hi']:+.2f}] finite={np.isfinite(r['mse']).all()}"
                )
        return
    titles = {"dps": "DPS", "hybrid": "hybrid (default mode)"}
    tables = {}
    for mode in modes:
        results = {n: run(f"{mode}/{n}", w, mode) for n, w in VARIANTS.items()}
        tables[mode] = table(results, list(VARIANTS), f"{titles.get(mode, mode)}, {args.cases}")
    if args.json:
        write_benchmark(
            args.json,
            "benchmarks/alignment_bench.py",
            f"{len(cases)} cases of {args.cases}, {args.density:g} % random obs",
            f"{args.steps} steps, {args.members} members",
            tables=tables,
        )


if __name__ == "__main__":
    main()
