"""Error budget of the 48 h backgrounds: where their error comes from, and whether an ensemble
could know it (asserts nothing; prints a table per world configuration).

For each configuration (``--noise``: the truth's stochastic forcing as a multiple of the
shipped world's; ``--init``: what the backgrounds start from) it runs ``--trajectories`` truth
trajectories of a fresh world seed through ``--cycles`` cycles of 48 h and, after the first
``--spinup-cycles``, takes every cycle as a case:

- ``perturbed`` (world v1): the background is a 48 h imperfect-model forecast from the truth
  plus a balanced random perturbation (1.5 m/s rms wind);
- ``cycled``: it is a forecast from the previous cycle's 3D-Var analysis of 1 % random
  observations (the shipped static B), as a data assimilation system's backgrounds are.

Per case it splits the background error e_b = M_imp(x_a) - x_t(48 h) into the grown initial
error M_imp(x_a) - M_imp(x_t), the model error M_imp(x_t) - M_true(x_t) and the truth's
unpredictable forcing M_true(x_t) - x_t(48 h) (M_true: the truth's equations with its forcing
at the start decaying, no new noise), as shares of the background's MSE (normalised variables,
area-weighted; the shares need not add to 1: the parts correlate). An oracle ensemble of
``--members`` forecasts from x_a plus balanced perturbations of the initial error's size gives
spread / error (of its mean) and the correlation of its local spread with the local error
(per variable, zonal means removed); the error-doubling time comes from the initial error's
growth under the truth's deterministic model; 3D-Var and an EnVar with the oracle ensemble
(``--beta``) analyse 1 % random observations of the cases. The truth's climate: rms wind, the
largest zonal-mean wind (the jets), eddy kinetic energy.

``--world`` changes the world's parameters (:class:`alignda.world.model.WorldConfig`; the
backgrounds' imperfect model follows from it), e.g. less dissipation for faster error growth:

    python benchmarks/error_budget.py --noise 1,0.3,0.1 --init perturbed,cycled --seed 99
    python benchmarks/error_budget.py --noise 0.3 --world drag_days=30,hyperdiff_hours=12
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # alignda from the clone

from alignda.analysis.hybrid import HybridEnVar  # noqa: E402
from alignda.analysis.threedvar import ThreeDVar, fit_background_error  # noqa: E402
from alignda.bundle import load_bundle  # noqa: E402
from alignda.evaluation.ensemble import spread_error_correlation  # noqa: E402
from alignda.experiment import DEFAULT  # noqa: E402
from alignda.obs.operator import observe_case  # noqa: E402
from alignda.paths import CHECKPOINT_DIR  # noqa: E402
from alignda.world.grid import Grid  # noqa: E402
from alignda.world.model import HOUR, ShallowWaterModel, WorldConfig  # noqa: E402
from alignda.world.state import to_dataset  # noqa: E402

LEAD_H = 48
INIT_WIND = 1.5  # m/s, world v1's initial perturbation


@dataclass
class Case:
    """One analysis time of one trajectory (physical states, C x nlat x nlon)."""

    truth0: np.ndarray  # truth at the start of the forecast
    forcing0: torch.Tensor | None  # the truth's forcing then (spectral)
    start: np.ndarray  # what the background starts from (analysis or perturbed truth)
    prior: np.ndarray | None  # the background that analysis came from (cycled only)
    obs: object | None  # the observations it used (cycled only)
    background: np.ndarray
    truth: np.ndarray  # truth at the analysis time (48 h later)
    members0: np.ndarray | None = None  # a cycled EDA's analyses at the start (eda-cycled)


def weighted_mse(a: np.ndarray, b: np.ndarray, std: np.ndarray, w: np.ndarray) -> float:
    """Area-weighted MSE of normalised variables, mean over variables (and leading dims)."""
    d = (a - b) / std.reshape(-1, 1, 1)
    return float((d**2 * w.reshape(-1, 1)).mean())


def wind_rms(x: np.ndarray, w: np.ndarray) -> float:
    """Area-weighted rms wind speed (m/s) of a state (C, nlat, nlon) or its error."""
    return math.sqrt(float(((x[1] ** 2 + x[2] ** 2) * w.reshape(-1, 1)).mean()))


def world_models(
    args: argparse.Namespace, noise: float
) -> tuple[ShallowWaterModel, ShallowWaterModel]:
    """The truth's model (the shipped world with ``--world`` overrides, its forcing scaled)
    and the backgrounds' imperfect model that follows from it."""
    base = replace(WorldConfig(), **args.world)
    world = replace(base, noise_amplitude=base.noise_amplitude * noise)
    return ShallowWaterModel(world), ShallowWaterModel(world.imperfect())


def run_cases(
    args: argparse.Namespace, models, init: str, chain: ThreeDVar, ensemble: int = 0
) -> tuple[list[Case], list[tuple[np.ndarray, np.ndarray]]]:
    """The cases of one configuration (see the module docstring), and the (background,
    truth) pairs of its analysis chain (``cycled``: a 3D-Var, ``chain``, every
    ``--cycle-hours`` of ``--cycle-density`` random observations). ``ensemble`` (cycled):
    members of an ensemble of data assimilations cycled beside the chain, each analysing its
    own perturbed copy of the chain's observations (its own draws: the chain is unchanged)."""
    truth_model, fc = models
    world = truth_model.config
    gen = torch.Generator().manual_seed(args.seed)
    n = args.trajectories
    s, forcing = truth_model.random_state(n, gen), truth_model.new_forcing(n, gen)
    s, forcing = truth_model.run(s, int(args.spinup_days * 24 * HOUR / world.dt), forcing, gen)
    steps = int(LEAD_H * HOUR / world.dt)
    sub = int(args.cycle_hours * HOUR / world.dt)
    # the first cycle starts from a perturbed truth, whatever the configuration
    start = fc.to_physical(s + fc.perturbation(n, INIT_WIND, gen)).numpy()
    prior, used = [None] * n, [None] * n
    cases, pairs = [], []
    ens = None
    if ensemble and init == "cycled":
        egen = torch.Generator().manual_seed(args.seed + 2)
        flat = fc.from_physical(torch.from_numpy(np.repeat(start, ensemble, axis=0)))
        flat = flat + fc.perturbation(len(flat), INIT_WIND, egen)
        ens = fc.to_physical(flat).numpy().reshape(n, ensemble, *start.shape[1:])
    for c in range(args.cycles):
        truth0, forcing0 = truth_model.to_physical(s).numpy(), forcing
        prior0, used0, ens0 = prior, used, ens  # what made this case's initial state(s)
        if init == "perturbed":  # world v1: from the truth plus a balanced perturbation
            x0 = fc.from_physical(torch.from_numpy(truth0)) + fc.perturbation(n, INIT_WIND, gen)
            start = fc.to_physical(x0).numpy()
        sb, _ = fc.run(fc.from_physical(torch.from_numpy(start)), steps)
        background = fc.to_physical(sb).numpy()
        if init == "perturbed":
            s, forcing = truth_model.run(s, steps, forcing, gen)
        else:  # the analysis chain over the window; its last analysis starts the next case
            xa = start
            for k in range(steps // sub):
                sc, _ = fc.run(fc.from_physical(torch.from_numpy(xa)), sub)
                prior = list(fc.to_physical(sc).numpy())
                s, forcing = truth_model.run(s, sub, forcing, gen)
                truth_k = truth_model.to_physical(s).numpy()
                used = [
                    observe_case(
                        truth_k[j],
                        1000 * (c * 100 + k) + j,
                        pattern=args.cycle_pattern,
                        density=args.cycle_density,
                    )
                    for j in range(n)
                ]
                xa = chain.analyse_batch(np.stack(prior), used)
                if ens is not None:
                    flat = torch.from_numpy(ens.reshape(-1, *ens.shape[2:]))
                    fe = fc.to_physical(fc.run(fc.from_physical(flat), sub)[0]).numpy()
                    rng = np.random.default_rng([args.seed, c, k])
                    sets = [used[j].perturbed(rng) for j in range(n) for _ in range(ensemble)]
                    ens = chain.analyse_batch(fe, sets).reshape(ens.shape)
                if c >= args.spinup_cycles:
                    pairs.append((np.stack(prior), truth_k))
        truth = truth_model.to_physical(s).numpy()
        if c >= args.spinup_cycles:
            for j in range(n):
                f0 = None if forcing0 is None else forcing0[j : j + 1]
                m0 = None if ens0 is None else ens0[j]
                cases.append(
                    Case(truth0[j], f0, start[j], prior0[j], used0[j], background[j], truth[j], m0)
                )
        if init == "cycled":
            start = xa
    return cases, pairs


def refit(backgrounds: np.ndarray, truths: np.ndarray) -> ThreeDVar:
    """A 3D-Var whose B is fitted to these background errors (as an OSSE tunes its B)."""
    return ThreeDVar(fit_background_error(backgrounds, truths))


def eda_starts(var: ThreeDVar, case: Case, m: int, gen: torch.Generator) -> np.ndarray:
    """Initial states of an ensemble of data assimilations: 3D-Var analyses of the case's
    prior background plus B-distributed perturbations, against perturbed observations. Their
    spread samples the analysis error (I - KH) e_b + K e_o, small near observations."""
    starts, sets = [], []
    for _ in range(m):
        xi = torch.randn(var.control_shape, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            starts.append(case.prior + var.increment(xi).numpy())
        noise = np.random.default_rng(int(torch.randint(2**31, (1,), generator=gen)))
        sets.append(case.obs.perturbed(noise))
    return var.analyse_batch(np.stack(starts), sets)


def budget(
    args: argparse.Namespace,
    cases: list[Case],
    models,
    var: ThreeDVar,
    chain: ThreeDVar,
    std,
    bundle=None,
) -> dict:
    """The figures of one configuration's cases (``var``: their 3D-Var; ``chain``: the one
    that made their initial states)."""
    truth_model, fc = models
    world = truth_model.config
    grid = Grid()
    w = grid.weights
    steps = int(LEAD_H * HOUR / world.dt)
    gen = torch.Generator().manual_seed(args.seed + 1)
    hybrid = {
        (b, km): HybridEnVar(var, beta=b, localisation_km=km)
        for km in args.loc_km
        for b in args.beta
    }
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    for k, case in enumerate(cases):
        x_t0 = torch.from_numpy(case.truth0[None])
        x_a = torch.from_numpy(case.start[None])
        m_imp_t = fc.to_physical(fc.run(fc.from_physical(x_t0), steps)[0]).numpy()[0]
        m_true_t = _decay_run(truth_model, x_t0, case.forcing0, steps)
        m_true_a = _decay_run(truth_model, x_a, case.forcing0, steps)
        eb = weighted_mse(case.background, case.truth, std, w)
        add("background MSE", eb)
        add("initial share", weighted_mse(case.background, m_imp_t, std, w) / eb)
        add("model share", weighted_mse(m_imp_t, m_true_t, std, w) / eb)
        add("forcing share", weighted_mse(m_true_t, case.truth, std, w) / eb)
        e0 = wind_rms(case.start - case.truth0, w)
        e48 = wind_rms(m_true_a - m_true_t, w)
        add("initial error wind rms", e0)
        if e48 > e0:
            add("doubling time h", LEAD_H * math.log(2) / math.log(e48 / e0))
        # the oracle ensemble: forecasts from the analysis plus perturbations of its error size
        m = args.members
        if case.members0 is not None:  # eda-cycled
            s0 = fc.from_physical(torch.from_numpy(case.members0))
        elif case.prior is not None and args.oracle == "eda":
            s0 = fc.from_physical(torch.from_numpy(eda_starts(chain, case, m, gen)))
        else:
            s0 = fc.from_physical(x_a.expand(m, -1, -1, -1)) + fc.perturbation(m, e0, gen)
        sm, _ = fc.run(s0, steps)
        members = fc.to_physical(sm).numpy()
        mean = members.mean(0)
        spread2 = (members.var(0, ddof=1) / std.reshape(-1, 1, 1) ** 2 * w.reshape(-1, 1)).mean()
        add("spread/error", math.sqrt(float(spread2) / weighted_mse(mean, case.truth, std, w)))
        ens = to_dataset(members, leading=[("member", np.arange(m))])
        where = spread_error_correlation(ens, to_dataset(case.truth))
        add("local corr", float(where.to_array().mean()))
        obs = observe_case(case.truth, 7919 + k, density=args.density)
        var3d = weighted_mse(var.analyse(case.background, obs), case.truth, std, w)
        add("3D-Var MSE", var3d)
        for (b, km), h in hybrid.items():
            env = h.centre(members, obs, case.background)
            where_km = f" {km:g} km" if len(args.loc_km) > 1 else ""
            add(f"EnVar b{b:g}{where_km} / 3D-Var", weighted_mse(env, case.truth, std, w) / var3d)
        u = case.truth[1]
        add("truth rms wind", wind_rms(case.truth, w))
        add("truth max zonal-mean u", float(np.abs(u.mean(-1)).max()))
        eddies = case.truth[1:3] - case.truth[1:3].mean(-1, keepdims=True)
        add("truth eddy KE", float(0.5 * ((eddies**2).sum(0) * w.reshape(-1, 1)).mean()))
        if bundle is not None:  # can the shipped VAE represent this world's truths?
            with torch.no_grad():
                x = torch.from_numpy(case.truth[None])
                rec = bundle.codec.decode(bundle.codec.encode(x)).numpy()[0]
            add(
                "shipped VAE round-trip z RMSE (m)",
                float(np.sqrt(((rec - case.truth)[0] ** 2 * w.reshape(-1, 1)).mean())),
            )
            add("shipped VAE round-trip wind RMSE (m/s)", wind_rms(rec - case.truth, w))
        spectrum = kinetic_energy_spectrum(fc, case.truth, w)
        for lo, hi in SPECTRUM_BANDS:
            add(f"truth KE share l {lo}-{hi}", float(spectrum[lo : hi + 1].sum() / spectrum.sum()))
        ell = np.arange(8, 31)
        add("truth KE slope l 8-30", float(np.polyfit(np.log(ell), np.log(spectrum[ell]), 1)[0]))
    return {k: (float(np.mean(v)), len(v)) for k, v in rows.items()}


SPECTRUM_BANDS = ((1, 5), (6, 10), (11, 20), (21, 42))


def kinetic_energy_spectrum(model: ShallowWaterModel, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Area-mean kinetic energy (m2/s2) of a state's wind per total wavenumber l (index l)."""
    sp = model.sphere
    spec = model.from_physical(torch.from_numpy(x[None]))[0]
    out = np.zeros(sp.lmax)
    for n in range(1, sp.lmax):
        keep = sp.ell == n
        u, v = sp.uv(spec[1] * keep, spec[2] * keep)
        out[n] = float((0.5 * (u**2 + v**2) * torch.from_numpy(w).reshape(-1, 1)).mean())
    return out


def _decay_run(model: ShallowWaterModel, x: torch.Tensor, forcing, steps: int) -> np.ndarray:
    """The truth's deterministic forecast: its forcing at the start, decaying (no new noise)."""
    s = model.from_physical(x)
    if forcing is None:
        return model.to_physical(model.run(s, steps)[0]).numpy()[0]
    a = math.exp(-model.config.dt / (model.config.noise_hours * HOUR))
    f = forcing.clone()
    with torch.no_grad():
        for _ in range(steps):
            s = model.step(s, f)
            f = a * f
    return model.to_physical(s).numpy()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise", default="1,0.3,0.1", help="truth forcing, x the shipped world's")
    ap.add_argument("--init", default="perturbed,cycled", help="perturbed (v1) and/or cycled")
    ap.add_argument("--trajectories", type=int, default=4)
    ap.add_argument("--cycles", type=int, default=8, help="48 h cycles per trajectory")
    ap.add_argument("--spinup-cycles", type=int, default=4, help="cycles before cases count")
    ap.add_argument("--spinup-days", type=float, default=15.0, help="truth spin-up")
    ap.add_argument("--members", type=int, default=8, help="oracle ensemble size")
    ap.add_argument(
        "--density", type=float, default=DEFAULT.observing.density, help="random observations"
    )
    ap.add_argument("--beta", default="0.5,0.9", help="EnVar ensemble weights")
    ap.add_argument(
        "--loc-km", dest="loc_km", default="1500", help="EnVar localisation lengths (comma list)"
    )
    ap.add_argument(
        "--cycle-hours", type=int, default=48, help="cycled: hours between the chain's analyses"
    )
    ap.add_argument(
        "--cycle-pattern", default="random", help="cycled: the chain's observation network"
    )
    ap.add_argument(
        "--cycle-density", type=float, help="cycled: the chain's random observations (--density)"
    )
    ap.add_argument(
        "--oracle",
        choices=("balanced", "eda", "eda-cycled"),
        default="balanced",
        help="oracle members from balanced perturbations, or (cycled) perturbed 3D-Var analyses "
        "of B-perturbed backgrounds (eda), or the members of an ensemble of data assimilations "
        "cycled beside the chain (eda-cycled, its own perturbed observations)",
    )
    ap.add_argument(
        "--refit-b",
        action="store_true",
        help="cycle once more with a B fitted to the first pass's background errors",
    )
    ap.add_argument("--seed", type=int, default=99, help="a world seed never trained on")
    ap.add_argument(
        "--world", default="", help="world parameters to change, e.g. drag_days=30,jet_speed=60"
    )
    args = ap.parse_args()
    args.world = {
        k: int(v) if v.isdigit() else float(v)
        for k, v in (kv.split("=") for kv in args.world.split(",") if kv)
    }
    if args.cycle_density is None:
        args.cycle_density = args.density
    if LEAD_H % args.cycle_hours:
        ap.error(f"--cycle-hours must divide {LEAD_H}")
    args.beta = [float(b) for b in args.beta.split(",")]
    args.loc_km = [float(km) for km in args.loc_km.split(",")]
    torch.set_num_threads(1)
    bundle = load_bundle(CHECKPOINT_DIR)
    results = {}
    for noise in (float(x) for x in args.noise.split(",")):
        for init in args.init.split(","):
            t0 = time.perf_counter()
            models = world_models(args, noise)
            var = chain = bundle.threedvar
            ensemble = args.members if args.oracle == "eda-cycled" else 0
            cases, pairs = run_cases(args, models, init, chain, 0 if args.refit_b else ensemble)
            if args.refit_b and pairs:  # the chain's B from its own background errors
                chain = refit(*(np.concatenate(x) for x in zip(*pairs, strict=True)))
                cases, pairs = run_cases(args, models, init, chain, ensemble)
            if args.refit_b:  # the cases' B from theirs
                var = refit(
                    *(
                        np.stack(x)
                        for x in zip(*[(c.background, c.truth) for c in cases], strict=True)
                    )
                )
            std = np.asarray(bundle.stats.std, dtype=np.float64)
            results[(noise, init)] = budget(args, cases, models, var, chain, std, bundle)
            print(
                f"noise x{noise:g}, {init}: {len(cases)} cases, {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
    names = list(next(iter(results.values())))
    head = [f"x{n:g} {i}" for n, i in results]
    print("\n| figure | " + " | ".join(head) + " |\n|---|" + "---:|" * len(head))
    for name in names:
        cells = [f"{r[name][0]:.3g}" if name in r else "-" for r in results.values()]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
