"""Alignment benchmark: unaligned vs aligned reward weights on held-out cases (asserts nothing).

Each case is observed by its own 1 % random network (same for every variant); analyses use
the app's defaults otherwise (32 steps, 4 members, zeta 1) with DPS, and the default mode
(hybrid) for unaligned vs -M. Figures of the ensemble mean: analysis MSE (normalised by the
world's std), Geo-Score, 48 h forecast MSE; paired differences vs unaligned over the cases
with a bootstrap 90 % interval ("neutral" when it includes 0). ``--curves``: the mean of each
reward's metric against its own weight (the others at 1) on validation cases.

    python benchmarks/alignment_bench.py --cases data/heldout99/test.nc --n 8 --out runs/bench
    python benchmarks/alignment_bench.py --cases assets/test_cases.nc --n 16 --out runs/bench
    python benchmarks/alignment_bench.py --curves --cases data/cpu2/val.nc --n 4 --out runs/bench
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
from alignda.alignment.soup import DELTAS, RewardSoup, delta_digest, load_deltas
from alignda.analysis.first_guess import FirstGuessSettings
from alignda.analysis.score import SamplerSettings
from alignda.bundle import load_bundle
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
HYBRID_VARIANTS = ("unaligned", "-M")
CURVE_WEIGHTS = (0.0, 0.25, 0.5, 1.0, LIMITS["weight"][1])
CURVE_METRIC = {"accuracy": "mse", "forecast": "fc_mse", "physics": "balance"}


def read_deltas(source: str) -> dict[str, dict[str, torch.Tensor]]:
    """Deltas from a checkpoint folder (registered, sha-checked) or a safetensors file."""
    path = Path(source)
    if path.is_dir():
        return load_deltas(directory=path)
    with safe_open(str(path), "pt") as f:
        names = json.loads(f.metadata()["deltas"])
    out: dict[str, dict[str, torch.Tensor]] = {n: {} for n in names}
    for key, v in load_file(str(path)).items():
        n, _, k = key.partition(".")
        out[n][k] = v.float()
    return out


def table(results: dict[str, dict], names: list[str], title: str) -> list[dict]:
    """Print means and paired differences vs unaligned with bootstrap 90 % intervals; return
    them as rows (MSEs: relative %, geo: points)."""
    rows = []
    print(f"\n## {title}")
    base = results["unaligned"]
    print(f"{'variant':<12}" + "".join(f"{m:>13}" for m in METRICS))
    for n in names:
        print(f"{n:<12}" + "".join(f"{np.mean(results[n][m]):>13.5f}" for m in METRICS))
    print("paired difference vs unaligned (MSEs: relative %, geo: points), 90 % interval")
    for n in names[1:]:
        cells = []
        for m in METRICS:
            rel = not m.startswith("geo")
            b = paired_bootstrap(base[m], results[n][m], relative=rel)
            f = 100.0
            tag = (
                "neutral"
                if b["neutral"]
                else ("better" if (b["mean"] > 0) == m.startswith("geo") else "worse")
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
    ap.add_argument("--no-hybrid", dest="hybrid", action="store_false")
    ap.add_argument("--curves", action="store_true")
    ap.add_argument("--out", default="runs/bench", help="cache folder")
    args = ap.parse_args()
    torch.set_num_threads(1)
    folder = Path(args.checkpoints)
    bundle = load_bundle(folder)
    ref, codec, scale = bundle.prior, bundle.codec, bundle.stats.std
    deltas = read_deltas(args.deltas)
    soup = RewardSoup(ref, deltas)
    cases = scenarios(Cases.open(args.cases), args.n, args.density / 100.0)
    forecaster = Forecaster()
    # cached per case set, deltas content and sampler (a new export is judged afresh)
    digest = delta_digest({f"{n}.{k}": v for n, d in deltas.items() for k, v in d.items()})
    tag = f"{Path(args.cases).parent.name}_{Path(args.cases).stem}_n{args.n}_{digest}"
    tag += f"_s{args.steps}_m{args.members}_d{args.density:g}"
    if args.hybrid:  # the hybrid's results also depend on its weight and first guess
        fg = FirstGuessSettings()
        tag += f"_hb{bundle.hybrid.beta:g}_{DEFAULT.method.first_guess}"
        tag += f"_t{fg.t:g}d{fg.draws}l{fg.lmax}"
    cache = ResultCache(Path(args.out) / f"{tag}.json")
    print(f"{args.cases}: {len(cases)} cases, {args.density:g} % random obs, deltas {args.deltas}")

    def run(key: str, weights: dict, mode: str, hybrid=None) -> dict:
        settings = SamplerSettings(mode=mode, steps=args.steps, members=args.members)

        def compute() -> dict:
            t0 = time.perf_counter()
            net = soup.network(weights)
            figs = evaluate(net, codec, cases, settings, scale, forecaster, hybrid)
            return {**figs, "seconds": time.perf_counter() - t0}

        out = cache.get(key, compute)
        print(f"  {key}: {out['seconds']:.0f} s", flush=True)
        return out

    if args.curves:
        names = [n for n in DELTAS if n != "multi"]
        for k, metric in CURVE_METRIC.items():
            rows = []
            for w in CURVE_WEIGHTS:
                weights = {n: (w if n == k else 1.0) for n in names}
                res = run(f"curve/{k}/w{w:g}", weights, "dps")
                rows.append((w, np.mean(res[metric]), np.isfinite(res["mse"]).all()))
            vals = [r[1] for r in rows]
            sign = 1 if metric.startswith("geo") else -1
            mono = all(sign * (b - a) >= 0 for a, b in zip(vals, vals[1:], strict=False))
            print(f"\n{k} weight -> mean {metric} (others at 1): monotonic={mono}")
            for w, v, ok in rows:
                print(f"  w={w:<5g} {metric}={v:.5f} finite={ok}")
        return
    results = {n: run(f"dps/{n}", w, "dps") for n, w in VARIANTS.items()}
    tables = {"dps": table(results, list(VARIANTS), f"DPS, {args.cases}")}
    if args.hybrid:
        hyb = bundle.hybrid
        hres = {n: run(f"hybrid/{n}", VARIANTS[n], "hybrid", hyb) for n in HYBRID_VARIANTS}
        tables["hybrid"] = table(
            hres, list(HYBRID_VARIANTS), f"hybrid (default mode), {args.cases}"
        )
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
