"""What the prior can add to a variational analysis: diagnostics of its members and mean.

Run: ``python benchmarks/hybrid_diagnostics.py [--cases data/cpu2/val.nc] [--train
data/cpu2/train.nc]`` (prints figures, asserts nothing). On ``--n-cases`` cases it prints:

- the prior's obsfree members (``--members``, 32 steps): their spread over the background
  error per variable, and the correlation of the smoothed local spread with the smoothed
  local squared error once zonal means are removed (does the prior know *where* the
  background is wrong?);
- an oracle ensemble: forecasts of the imperfect model from the truth 48 h earlier,
  perturbed as the backgrounds are (needs the cases' truth 48 h before each analysis time):
  its spread ratio, and the hybrid with it as the ensemble at 1 % random observations;
- the default hybrid (4 members, the prior-mean first guess) and the same with the
  background as first guess;
- how much of the background error a pointwise linear regression on the background (per
  latitude and variable, fitted on ``--train``) removes.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np
import torch
from scipy.ndimage import uniform_filter

from alignda.analysis.hybrid import HybridEnVar
from alignda.bundle import load_bundle
from alignda.experiment import DEFAULT
from alignda.obs.operator import observe_case
from alignda.world.cases import Cases
from alignda.world.generation import GenerateConfig
from alignda.world.grid import Grid
from alignda.world.model import HOUR, ShallowWaterModel


def oracle_ensemble(cases: Cases, times: np.ndarray, members: int, seed: int) -> np.ndarray:
    """(cases, members, C, nlat, nlon) forecasts as the backgrounds are made, from the truth."""
    cfg = GenerateConfig.from_dict(json.loads(cases.attrs["generate_config"]))
    model = ShallowWaterModel(cfg.world.imperfect())
    steps = int(round(cases.lead_hours * HOUR / model.config.dt))
    gen = torch.Generator().manual_seed(seed)
    out = []
    for t in times:
        x0 = cases.truth_state(t - np.timedelta64(cases.lead_hours, "h"))
        s0 = model.from_physical(torch.from_numpy(np.repeat(x0[None], members, 0)))
        s0 = s0 + model.perturbation(members, cfg.perturbation_wind, gen)
        out.append(model.to_physical(model.run(s0, steps)[0]).numpy())
    return np.stack(out)


def regression_features(x: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Per point: the normalised state, its departure from the zonal mean, and 1."""
    a = x / std.reshape(1, -1, 1, 1)
    return np.concatenate([a, a - a.mean(-1, keepdims=True), np.ones_like(a[:, :1])], 1)


def main() -> None:
    """Print the diagnostics (see module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="data/cpu2/val.nc")
    p.add_argument("--train", default="data/cpu2/train.nc")
    p.add_argument("--n-cases", dest="n_cases", type=int, default=8)
    p.add_argument("--members", type=int, default=16)
    args = p.parse_args()
    torch.set_num_threads(1)
    bundle = load_bundle()
    std = np.asarray(bundle.stats.std, dtype=np.float64)
    cases = Cases.open(args.cases)
    times = cases.times[np.linspace(0, len(cases) - 1, args.n_cases).astype(int)]
    truth = np.stack([cases.truth_state(t) for t in times]).astype(np.float64)
    bg = np.stack([cases.background_state(t) for t in times]).astype(np.float64)
    w = Grid(*truth.shape[-2:]).weights.reshape(-1, 1)

    def mse(x: np.ndarray, t: np.ndarray) -> float:
        return float(np.mean(((x - t) ** 2 * w).mean(axis=(-2, -1)) / std**2))

    err2 = ((bg - truth) ** 2 * w).mean(axis=(0, -2, -1))
    method = bundle.prior_method(replace(DEFAULT.method, mode="obsfree", members=args.members))
    prior = np.stack([method.analyse(b, None, seed=k).members for k, b in enumerate(bg)])
    oracle = oracle_ensemble(cases, times, args.members, seed=1234)
    print(f"# {args.cases}: {len(times)} cases, {args.members} members")
    for name, ens in (("prior", prior), ("oracle", oracle)):
        spread2 = (ens.var(1, ddof=1) * w).mean(axis=(0, -2, -1))
        corr = []
        for v in range(4):
            c = []
            for k in range(len(bg)):
                e = uniform_filter((bg[k, v] - truth[k, v]) ** 2, 9, mode="wrap")
                s = uniform_filter(ens[k].var(0, ddof=1)[v], 9, mode="wrap")
                e, s = e - e.mean(1, keepdims=True), s - s.mean(1, keepdims=True)
                c.append(np.corrcoef(e.ravel(), s.ravel())[0, 1])
            corr.append(f"{min(c):+.2f}..{max(c):+.2f}")
        ratio = " ".join(f"{r:.2f}" for r in np.sqrt(spread2 / err2))
        print(f"{name}: spread / background error (z u v q) {ratio}; eddy correlation {corr}")

    obs = [observe_case(t, k, density=DEFAULT.observing.density) for k, t in enumerate(truth)]
    ref = np.mean(
        [mse(bundle.threedvar.analyse(b, o), t) for b, o, t in zip(bg, obs, truth, strict=True)]
    )
    for name, ens in (("prior", prior), ("oracle", oracle)):
        for beta, loc in ((0.02, 1500.0), (0.1, 1500.0), (0.3, 3000.0), (0.6, 3000.0)):
            h = HybridEnVar(bundle.threedvar, beta=beta, localisation_km=loc)
            r = np.mean(
                [mse(h.centre(e, o, b), t) for e, o, b, t in zip(ens, obs, bg, truth, strict=True)]
            )
            print(f"hybrid, {name} members, beta {beta} loc {loc:g} km: {r / ref:.3f} x 3D-Var")

    for guess in ("prior-mean", "background"):
        hybrid = bundle.prior_method(replace(DEFAULT.method, first_guess=guess))
        out = [
            hybrid.analyse(b, o, seed=k).members.mean(0)
            for k, (b, o) in enumerate(zip(bg, obs, strict=True))
        ]
        r = np.mean([mse(a, t) for a, t in zip(out, truth, strict=True)])
        print(f"default hybrid, {guess} first guess: {r / ref:.3f} x 3D-Var")

    train_bg, train_truth = Cases.open(args.train).pairs()
    f_train = regression_features(train_bg.astype(np.float64), std)
    f_test = regression_features(bg, std)
    err = train_truth.astype(np.float64) - train_bg
    corrected = bg.copy()
    nf = f_train.shape[1]
    for c in range(4):
        for j in range(bg.shape[-2]):
            a = f_train[:, :, j].transpose(0, 2, 1).reshape(-1, nf)
            g = a.T @ a
            ridge = 1e-3 * np.trace(g) / nf * np.eye(nf)
            coef = np.linalg.solve(g + ridge, a.T @ err[:, c, j].ravel())
            corrected[:, c, j] += f_test[:, :, j].transpose(0, 2, 1) @ coef
    before = np.mean([mse(b, t) for b, t in zip(bg, truth, strict=True)])
    after = np.mean([mse(b, t) for b, t in zip(corrected, truth, strict=True)])
    print(f"background MSE {before:.4f}; after a pointwise linear regression {after:.4f}")


if __name__ == "__main__":
    main()
