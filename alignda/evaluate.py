"""Evaluation of analyses on a case set: score tables in the paper's layout."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from alignda.cases import Cases
from alignda.climate import WorldStats
from alignda.grid import Grid
from alignda.metrics import score_table
from alignda.obs import make_mask, observe
from alignda.state import to_dataset
from alignda.threedvar import ThreeDVar


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
    """Background vs 3D-Var scores at several obs densities; also mean seconds per 3D-Var.

    Observation masks and noise are drawn from ``default_rng(seed)`` afresh for each
    density, case after case, so the table is reproducible.
    """
    times = cases.times[:n_cases]
    truth = np.stack([cases.truth_state(t) for t in times])
    bg = np.stack([cases.background_state(t) for t in times])
    grid = Grid(*truth.shape[-2:])
    lead = [("case", np.arange(len(times)))]
    preds = {"background": to_dataset(bg, grid, leading=lead)}
    seconds = []
    for density in densities:
        rng = np.random.default_rng(seed)
        analyses = []
        for xb, xt in zip(bg, truth, strict=True):
            obs = observe(xt, make_mask(pattern, grid, rng, density=density), rng)
            t0 = time.perf_counter()
            analyses.append(threedvar.analyse(xb, obs))
            seconds.append(time.perf_counter() - t0)
        preds[f"3D-Var {density:.0%}"] = to_dataset(np.stack(analyses), grid, leading=lead)
    table = score_table(preds, to_dataset(truth, grid, leading=lead), stats.scales)
    return table, float(np.mean(seconds))
