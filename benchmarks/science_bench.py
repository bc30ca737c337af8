"""Science benchmark: the latent space and the analysis skill against 3D-Var, per network.

Run: ``python benchmarks/science_bench.py [--cases assets/test_cases.nc] [--n-cases 8]``
(prints figures, asserts nothing). For each case set and observation network it prints, per
method (background, 3D-Var and every guidance mode): the normalised MSE of the analysis
(ensemble mean), its ratio to 3D-Var's with a paired bootstrap 90 % interval over cases, the
RMSE of z (m) and u (m/s), the Geo-Score (%), the ensemble spread/skill ratio, whether its
spread knows where the error is (``where``: the correlation of local spread and local error,
zonal means removed, mean over variables) and CRPS (normalised, mean over variables), the
observation misfit O-A beside O-B (rms of
innovations / obs std), and how many cases diverged (non-finite, or O-A > O-B).
Also prints decode(encode(truth)): RMSE per variable and Geo-Score.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from alignda.alignment.rewards import geo_score
from alignda.alignment.soup import PRESETS
from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.score import DivergenceError, SamplerSettings
from alignda.bundle import load_bundle
from alignda.evaluation import ensemble
from alignda.evaluation.experiments import NETWORKS
from alignda.experiment import DEFAULT
from alignda.modelcard import write_benchmark
from alignda.obs.operator import observe_case
from alignda.paths import CHECKPOINT_DIR
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.state import to_dataset


def weighted_mean(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Area-weighted mean over the last two axes."""
    return (a * w).mean(axis=(-2, -1))


def ensemble_figures(
    members: np.ndarray, truth: np.ndarray, std: np.ndarray, w: np.ndarray
) -> dict[str, float]:
    """Normalised MSE of the mean, per-variable RMSE, spread and CRPS of one case (the
    ensemble scores from :mod:`alignda.evaluation.ensemble`)."""
    mean = members.mean(0)
    err2 = weighted_mean((mean - truth) ** 2, w)  # (C,)
    out = {"mse": float(np.mean(err2 / std**2)), "rmse_z": err2[0] ** 0.5, "rmse_u": err2[1] ** 0.5}
    m = len(members)
    if m > 1:
        ens = to_dataset(members, leading=[("member", np.arange(m))])
        ref = to_dataset(truth)
        spread = ensemble.spread(ens).to_array().values
        out["spread2"] = float(np.mean((spread / std) ** 2)) * (m + 1) / m
        out["crps"] = float(np.mean(ensemble.crps(ens, ref).to_array().values / std))
        out["where"] = float(ensemble.spread_error_correlation(ens, ref).to_array().mean())
    return out


def bootstrap_ratio(a: np.ndarray, b: np.ndarray, n: int = 2000, seed: int = 0) -> tuple:
    """mean(a)/mean(b) and its paired bootstrap 90 % interval over cases."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(len(a), size=(n, len(a)))
    r = a[idx].mean(1) / b[idx].mean(1)
    return float(a.mean() / b.mean()), float(np.quantile(r, 0.05)), float(np.quantile(r, 0.95))


def main() -> None:
    """Print the tables (see module docstring)."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", default="assets/test_cases.nc")
    p.add_argument("--n-cases", dest="n_cases", type=int, default=8)
    p.add_argument("--checkpoints", default=str(CHECKPOINT_DIR))
    p.add_argument("--modes", default="dps")
    p.add_argument("--members", type=int, default=DEFAULT.method.members)
    p.add_argument("--steps", type=int, default=DEFAULT.method.steps)
    p.add_argument("--zeta", type=float)
    p.add_argument("--gamma", type=float)
    p.add_argument("--beta", type=float, default=0.02, help="hybrid: ensemble weight")
    p.add_argument(
        "--first-guess",
        dest="first_guess",
        default=DEFAULT.method.first_guess,
        help="hybrid: or background",
    )
    p.add_argument("--loc-km", dest="loc_km", type=float, default=1500.0)
    p.add_argument("--networks", help="e.g. random:0.01,stations:0.05 (default: all)")
    p.add_argument(
        "--preset", default="unaligned", help="reward weights of the prior (app: balanced)"
    )
    p.add_argument("--json", help="also write the table here (the model card reads skill.json)")
    args = p.parse_args()
    table: list[dict] = []
    torch.set_num_threads(1)
    folder = args.checkpoints
    bundle = load_bundle(folder)
    stats, codec, var = bundle.stats, bundle.codec, bundle.threedvar
    bundle.hybrid = HybridEnVar(var, beta=args.beta, localisation_km=args.loc_km)
    cases = Cases.open(args.cases)
    times = cases.times[np.linspace(0, len(cases) - 1, args.n_cases).astype(int)]
    truth = np.stack([cases.truth_state(t) for t in times])
    bg = np.stack([cases.background_state(t) for t in times])
    grid = Grid(*truth.shape[-2:])
    w = grid.weights.reshape(-1, 1)
    std = np.asarray(stats.std, dtype=np.float64)

    with torch.no_grad():
        rec = codec.decode(codec.encode(torch.from_numpy(truth))).numpy()
    r2 = weighted_mean((rec - truth) ** 2, w).mean(0) ** 0.5
    geo = np.mean([geo_score(rec[i : i + 1], truth[i])[0] for i in range(len(truth))])
    print(f"# {args.cases}: {len(times)} cases; checkpoints {folder}; weights {args.preset}")
    print(
        f"decode(encode(truth)): RMSE z {r2[0]:.2f} m, u {r2[1]:.3f} m/s, v {r2[2]:.3f} m/s, "
        f"tracer {r2[3]:.4f}; Geo-Score {100 * geo:.1f} %"
    )
    networks = NETWORKS
    if args.networks:
        networks = tuple(
            (n.split(":")[0], float(n.split(":")[1])) for n in args.networks.split(",")
        )
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    header = (
        f"{'network':<15}{'method':<10}{'MSE':>8}{'x3DVar':>8}{'90% CI':>14}{'z m':>7}"
        f"{'u m/s':>7}{'Geo%':>6}{'ss':>6}{'where':>6}{'CRPS':>7}{'O-A':>6}{'O-B':>6}{'div':>4}"
        f"{'s':>6}"
    )
    print(header)
    for pattern, density in networks:
        obs = [observe_case(x, k, pattern=pattern, density=density) for k, x in enumerate(truth)]
        rows: dict[str, list[dict]] = {}
        t0 = time.perf_counter()
        rows["background"] = [
            ensemble_figures(b[None], x, std, w) | {"oa": o.misfit(b), "geo": 1.0}
            for b, x, o in zip(bg, truth, obs, strict=True)
        ]
        secs = {"background": 0.0}
        kw = {k: getattr(args, k) for k in ("zeta", "gamma") if getattr(args, k) is not None}
        methods = [bundle.variational()] + [
            bundle.prior_method(
                SamplerSettings(
                    mode, args.steps, members=args.members, first_guess=args.first_guess, **kw
                ),
                PRESETS[args.preset],
            )
            for mode in modes
        ]
        for method in methods:  # every method through the one interface, case k with seed k
            t0 = time.perf_counter()
            out = []
            for k, (b, x, o) in enumerate(zip(bg, truth, obs, strict=True)):
                try:
                    a = method.analyse(b, o, seed=k)
                except DivergenceError:
                    out.append({"mse": np.nan, "diverged": True})
                    continue
                f = ensemble_figures(a.members, x, std, w)
                f |= {"oa": a.fit.analysis, "geo": geo_score(a.mean[None], x)[0]}
                f |= {"diverged": a.fits_worse}  # O-A > O-B: it says so itself
                out.append(f)
            secs[method.name] = (time.perf_counter() - t0) / len(truth)
            rows[method.name] = out
        ob = np.array([o.misfit(b) for b, o in zip(bg, obs, strict=True)])
        ref = np.array([r["mse"] for r in rows["3D-Var"]])
        for name, rs in rows.items():
            mse = np.array([r.get("mse", np.nan) for r in rs])
            oa = np.array([r.get("oa", np.nan) for r in rs])
            div = int(sum(r.get("diverged", False) for r in rs))
            ok = np.isfinite(mse)
            ratio, lo, hi = bootstrap_ratio(mse[ok], ref[ok]) if ok.any() else (np.nan,) * 3

            def mean(key: str, rs: list[dict] = rs) -> float:
                v = [r[key] for r in rs if key in r]
                return float(np.mean(v)) if v else np.nan

            ss = np.sqrt(mean("spread2") / mean("mse")) if "spread2" in rs[0] else np.nan
            table.append(
                {
                    "network": f"{pattern} {density:.1%}",
                    "method": name,
                    "mse": float(np.nanmean(mse)),
                    "x3dvar": [ratio, lo, hi],
                    "rmse_z_m": mean("rmse_z"),
                    "geo_score_pct": 100 * mean("geo"),
                    "spread_skill": float(ss) if np.isfinite(ss) else None,
                    "spread_error_correlation": mean("where"),
                    "o_minus_a": float(np.nanmean(oa)),
                    "o_minus_b": float(ob.mean()),
                    "diverged": div,
                }
            )
            print(
                f"{pattern + f' {density:.1%}':<15}{name:<10}{np.nanmean(mse):>8.4f}{ratio:>8.2f}"
                f"{f'[{lo:.2f},{hi:.2f}]':>14}{mean('rmse_z'):>7.2f}{mean('rmse_u'):>7.3f}"
                f"{100 * mean('geo'):>6.1f}{ss:>6.2f}{mean('where'):>6.2f}{mean('crps'):>7.4f}"
                f"{np.nanmean(oa):>6.2f}"
                f"{ob.mean():>6.2f}{div:>4}{secs[name]:>6.1f}"
            )
    if args.json:
        write_benchmark(
            args.json,
            "benchmarks/science_bench.py",
            f"{len(times)} cases of {args.cases}",
            f"{args.steps} steps, {args.members} members, weights {args.preset}",
            rows=table,
        )


if __name__ == "__main__":
    main()
