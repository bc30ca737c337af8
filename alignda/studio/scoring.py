"""The score table of a Studio result: WeatherBench2 metrics against the truth, the fit to the
observations and the three Align-DA rewards of every row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alignda.alignment.rewards import candidate_rewards, geo_score
from alignda.evaluation.scorecard import score_table
from alignda.studio.result import (
    FIT_COLUMN,
    GEO_COLUMN,
    REWARD_COLUMNS,
    Result,
    table_rows,
    unit_header,
)
from alignda.world.grid import Grid
from alignda.world.state import to_dataset
from alignda.world.stats import WorldStats


def result_table(
    result: Result,
    grid: Grid,
    stats: WorldStats,
    forecasts: dict[str, np.ndarray] | None = None,
    future: np.ndarray | None = None,
) -> pd.DataFrame:
    """Metrics (MSE, MAE, RMSE per variable, ACC, ensemble scores), the fit to the
    observations (O-B, O-A), the three rewards (the forecast one from the rows'
    ``forecasts`` against the ``future`` truth) and the paper's Geo-Score of every row."""
    names = table_rows(result)
    means = np.stack([result.mean(n) for n in names])
    preds = {n: to_dataset(m, grid) for n, m in zip(names, means, strict=True)}
    ensembles = {
        n: to_dataset(m, grid, leading=[("member", np.arange(len(m)))])
        for n, m in result.analyses.items()
    }
    table = score_table(
        preds,
        to_dataset(result.truth, grid),
        stats.scales,
        ensembles=ensembles,
        climatology=stats.climatology_dataset(grid.lon),
    )
    table = table.rename(columns=lambda c: unit_header(c, table.attrs["units"]))
    table[FIT_COLUMN] = [result.obs.misfit(m) for m in means]
    fcs = None if forecasts is None else np.stack([forecasts[n] for n in names])
    r = candidate_rewards(means, result.truth, fcs, future, stats.std, result.world)
    values = (r["accuracy"], r["forecast"], 100 * r["physics"])
    for column, v in zip(REWARD_COLUMNS, values, strict=True):
        table[column] = v
    table[GEO_COLUMN] = 100 * geo_score(means, result.truth)
    table.attrs.clear()
    return table
