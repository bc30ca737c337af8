"""World v2's backgrounds: 48 h forecasts from the analyses of a cycled 3D-Var of the truth.

This is how observing-system simulation experiments make backgrounds: the truth is observed
every ``cycle_hours`` by ``cycle_density`` random observations, a 3D-Var analyses them on the
imperfect model's forecast from its previous analysis (the *chain*), and each background is
the imperfect model's ``lead_hours`` forecast from the chain's analysis at that time. Its error
is then the error of the day: the analysis error (largest where observations were sparse),
grown by the flow, plus the model error. World v1 started its backgrounds from the truth plus
a random balanced perturbation instead.

A chain that cycles less often than the cases come (48 h cycles, a case every 12 h) runs as
several *staggered* chains, one per offset; when its cycle is the backgrounds' lead, the
backgrounds are the chains' own forecasts (:func:`alignda.world.generation.generate`).

The chain's static B is fitted to its own background errors (:func:`chain_background_error`:
a first pass with a B from perturbed-truth forecasts, as an OSSE tunes its B), on the first
trajectories. Every draw (initial errors, observation networks and noise) is seeded by the
generation's seed, the chain, the trajectory and the time.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from alignda.analysis.threedvar import BackgroundError, ThreeDVar, fit_background_error
from alignda.obs.operator import observe_case
from alignda.world.grid import Grid
from alignda.world.model import ShallowWaterModel
from alignda.world.variables import VARIABLE_NAMES

#: rms wind (m/s) of the balanced perturbation that starts each chain, and of the forecasts
#: the first-pass B is fitted to.
START_WIND = 3.0
#: Trajectories the chain's B is calibrated on (the first ones of the generation).
CALIBRATION_TRAJECTORIES = 8


def network_seed(seed: int, trajectory: int, index: int) -> int:
    """The observation network's seed at one truth state of one trajectory."""
    return int(np.random.SeedSequence([seed, trajectory, index]).generate_state(1)[0])


def run_chain(
    truth: np.ndarray,
    model: ShallowWaterModel,
    var: ThreeDVar,
    cycle_hours: int,
    density: float,
    seed: int,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The cycled 3D-Var of 6-hourly truth states (n, T, C, H, W), all trajectories at once:
    returns its analyses and its backgrounds (n, T, C, H, W; at the times it analysed, every
    ``cycle_hours``, else NaN). The chain starts at the first state from the truth plus a
    balanced perturbation of :data:`START_WIND`."""
    n, nt = truth.shape[:2]
    dev = model.noise_band.device
    every = cycle_hours // 6
    steps = model.config.steps(cycle_hours)
    gen = torch.Generator().manual_seed(seed)
    s = model.from_physical(torch.from_numpy(truth[:, 0]).to(dev))
    s = s + model.perturbation(n, START_WIND, gen)
    analyses = np.full(truth.shape, np.nan, np.float32)
    backgrounds = np.full(truth.shape, np.nan, np.float32)
    analyses[:, 0] = model.to_physical(s).cpu().numpy()
    for k in tqdm(range(every, nt, every), desc="3D-Var chain", disable=not progress):
        s, _ = model.run(s, steps)
        xb = model.to_physical(s).cpu().numpy()
        obs = [
            observe_case(truth[j, k], network_seed(seed, j, k), density=density) for j in range(n)
        ]
        xa = var.analyse_batch(xb, obs)
        backgrounds[:, k], analyses[:, k] = xb, xa
        s = model.from_physical(torch.from_numpy(xa).to(dev))
    return analyses, backgrounds


def chain_background_error(
    truth: np.ndarray,
    model: ShallowWaterModel,
    cycle_hours: int,
    density: float,
    seed: int,
    spinup_steps: int,
    batch: int = 64,
) -> BackgroundError:
    """The chain's B: fitted to 6 h forecasts of perturbed truths (``batch`` at a time), then
    refitted to the background errors of a chain run with that B (after ``spinup_steps``
    6-hourly states), on the first :data:`CALIBRATION_TRAJECTORIES` trajectories of ``truth``
    (n, T, C, H, W)."""
    part = truth[:CALIBRATION_TRAJECTORIES]
    gen = torch.Generator().manual_seed(seed)
    steps = model.config.steps(cycle_hours)
    every = cycle_hours // 6
    starts = part[:, :-every:every].reshape(-1, *part.shape[2:])
    ends = part[:, every::every].reshape(-1, *part.shape[2:])
    s = model.from_physical(torch.from_numpy(starts).to(model.noise_band.device))
    s = s + model.perturbation(len(starts), START_WIND, gen)
    first = np.concatenate(
        [
            model.to_physical(model.run(s[i : i + batch], steps)[0]).cpu().numpy()
            for i in range(0, len(s), batch)
        ]
    )
    var = ThreeDVar(fit_background_error(first, ends)).to(model.noise_band.device)
    _, bgs = run_chain(part, model, var, cycle_hours, density, seed)
    keep = np.isfinite(bgs[:, spinup_steps:, 0, 0, 0])
    return fit_background_error(bgs[:, spinup_steps:][keep], part[:, spinup_steps:][keep])


def chain_seed(seed: int, chain: int) -> int:
    """The seed of one of several staggered chains (the first keeps the generation's)."""
    return seed if chain == 0 else int(np.random.SeedSequence([seed, chain]).generate_state(1)[0])


def chain_analyses(
    truth: np.ndarray,
    model: ShallowWaterModel,
    cycle_hours: int,
    density: float,
    seed: int,
    spinup_steps: int,
    progress: bool = False,
    batch: int = 64,
    chains: int = 1,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """The analyses and backgrounds (n, T, C, H, W; NaN where none) of the chain over 6-hourly
    truth states (n, T, C, H, W), its B calibrated first (:func:`chain_background_error`,
    forecasting ``batch`` states at a time); and its figures: rms analysis and background error
    per variable, area-weighted, after ``spinup_steps`` states. ``chains`` staggered chains
    start evenly spaced within the first cycle, each analysing its own observations."""
    every = cycle_hours // 6
    if every % chains:
        raise ValueError(f"{chains} chains cannot be evenly staggered in a {cycle_hours} h cycle")
    berr = chain_background_error(truth, model, cycle_hours, density, seed + 1, spinup_steps, batch)
    var = ThreeDVar(berr).to(model.noise_band.device)
    analyses = np.full(truth.shape, np.nan, np.float32)
    bgs = np.full(truth.shape, np.nan, np.float32)
    for i in range(chains):
        first = i * every // chains
        a, b = run_chain(
            truth[:, first:], model, var, cycle_hours, density, chain_seed(seed, i), progress
        )
        analyses[:, first::every], bgs[:, first::every] = a[:, ::every], b[:, ::every]
    w = Grid(*truth.shape[-2:]).weights.reshape(-1, 1)
    figures = {}
    for label, x in (("analysis", analyses), ("background", bgs)):
        err = (x - truth)[:, spinup_steps:]
        keep = np.isfinite(err[:, :, 0, 0, 0])
        rms = np.sqrt(np.mean(err[keep] ** 2 * w, axis=(0, 2, 3)))
        figures.update(
            {f"chain_{label}_rmse_{v}": float(r) for v, r in zip(VARIABLE_NAMES, rms, strict=True)}
        )
    return analyses, bgs, figures
