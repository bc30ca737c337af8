"""Evaluation of analyses on a case set: score tables in the paper's layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alignda.analysis.methods import Analysis, AnalysisMethod, VariationalMethod
from alignda.analysis.threedvar import ThreeDVar
from alignda.evaluation.scorecard import score_table
from alignda.obs.networks import make_mask
from alignda.obs.operator import Observations, observe
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.state import to_dataset
from alignda.world.stats import WorldStats

#: The observation networks the science benchmark and the no-divergence test cover:
#: (pattern, density) from very sparse to dense random, and stations, swaths, tracks.
NETWORKS = (
    ("random", 0.001),
    ("random", 0.01),
    ("random", 0.05),
    ("random", 0.10),
    ("random", 0.20),
    ("stations", 0.05),
    ("swaths", 0.05),
    ("tracks", 0.02),
)

#: An analysis method: (background (C,H,W), observations) -> analysis (C,H,W).


def case_arrays(cases: Cases, n_cases: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(truth, background) stacks (N, C, H, W) of the first n analysis cases."""
    times = cases.times[:n_cases]
    truth = np.stack([cases.truth_state(t) for t in times])
    return truth, np.stack([cases.background_state(t) for t in times])


def draw_observations(
    truth: np.ndarray,
    pattern: str,
    density: float,
    seed: int = 0,
    noise_std: Mapping[str, float] | float | None = None,
) -> list[Observations]:
    """Observations of each truth state, from ``default_rng(seed)`` case after case.

    ``noise_std`` as in :func:`alignda.obs.operator.observe` (None: the default errors).
    """
    grid = Grid(*truth.shape[-2:])
    rng = np.random.default_rng(seed)
    return [
        observe(x, make_mask(pattern, grid, rng, density=density), rng, noise_std) for x in truth
    ]


#: The column of the number of analyses that fit the observations worse than the background.
FITS_WORSE_COLUMN = "fits obs worse (O-A > O-B)"


def analyse_cases(
    method: AnalysisMethod, background: np.ndarray, obs: Sequence[Observations], seed: int = 0
) -> list[Analysis]:
    """The method's analysis of every case (case i with seed ``seed`` + i)."""
    return [
        method.analyse(xb, o, seed=seed + i)
        for i, (xb, o) in enumerate(zip(background, obs, strict=True))
    ]


def fits_worse_count(analyses: Sequence[Analysis]) -> int:
    """How many of the analyses fit their observations worse than their backgrounds."""
    return sum(a.fits_worse for a in analyses)


def run_methods(
    methods: Sequence[AnalysisMethod], background: np.ndarray, obs: list[Observations]
) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, int]]:
    """Analyses (ensemble means, N x (C, H, W)) of every method for every case (case i with
    seed i), the mean seconds per analysis and how many analyses fit the observations worse
    than the background (:func:`fits_worse_count`), keyed by the methods' names."""
    out, seconds, worse = {}, {}, {}
    for method in methods:
        done = analyse_cases(method, background, obs)
        out[method.name] = np.stack([a.mean for a in done])
        seconds[method.name] = float(np.mean([a.seconds for a in done]))
        worse[method.name] = fits_worse_count(done)
    return out, seconds, worse


def scores(
    predictions: dict[str, np.ndarray], truth: np.ndarray, stats: WorldStats
) -> pd.DataFrame:
    """Score table (MSE, MAE normalised; RMSE per variable) of stacked predictions."""
    grid = Grid(*truth.shape[-2:])
    lead = [("case", np.arange(len(truth)))]
    preds = {k: to_dataset(v, grid, leading=lead) for k, v in predictions.items()}
    return score_table(preds, to_dataset(truth, grid, leading=lead), stats.scales)


def baseline_table(
    cases: Cases,
    stats: WorldStats,
    threedvar: ThreeDVar,
    densities: list[float],
    *,
    pattern: str = "random",
    seed: int = 0,
    n_cases: int | None = None,
) -> tuple[pd.DataFrame, float]:
    """Background vs 3D-Var scores at several obs densities; also mean seconds per 3D-Var."""
    truth, bg = case_arrays(cases, n_cases)
    preds = {"background": bg}
    seconds = []
    for density in densities:
        obs = draw_observations(truth, pattern, density, seed)
        out, secs, _ = run_methods([VariationalMethod(threedvar)], bg, obs)
        preds[f"3D-Var {density:.0%}"] = out["3D-Var"]
        seconds.append(secs["3D-Var"])
    return scores(preds, truth, stats), float(np.mean(seconds))
