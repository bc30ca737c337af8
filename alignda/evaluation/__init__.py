"""Evaluation: verification metrics, score tables, cycled experiments and the paper's tables.

- :mod:`~alignda.evaluation.metrics`: WeatherBench2-style deterministic metrics on xarray
  Datasets (MSE, RMSE, MAE, ACC, area means) and the one normalised MSE;
- :mod:`~alignda.evaluation.ensemble`: ensemble metrics (mean, spread, rank histogram,
  spread/skill, CRPS, the correlation of local spread and error);
- :mod:`~alignda.evaluation.scorecard`: score tables of analyses and their text form;
- :mod:`~alignda.evaluation.checks`: the metrics' input checks and dimension names;
- :mod:`~alignda.evaluation.experiments`: analysis methods run on a case set, scored in the
  paper's layout, over a range of observation networks;
- :mod:`~alignda.evaluation.cycling`: cycled data assimilation on a truth run, the background
  and analysis errors of each method beside a free run;
- :mod:`~alignda.evaluation.tables`: the paper's tables with the reward soup on held-out
  cases, and the reward trade-off over the simplex of user weights.

The names below are the package's public interface. They load on first use (PEP 562), so
that ``alignda.evaluation.metrics`` stays xarray-light instead of pulling the models, torch
and matplotlib through this package.
"""

from __future__ import annotations

from alignda.lazy import lazy_exports

_EXPORTS = {
    "metrics": (
        "acc",
        "mae",
        "mse",
        "normalised_msq",
        "overall_mse",
        "rmse",
        "spatial_mean",
    ),
    "ensemble": (
        "crps",
        "ensemble_mean",
        "rank_histogram",
        "spread",
        "spread_error_correlation",
        "spread_skill",
    ),
    "scorecard": ("format_table", "score_table"),
    "experiments": (
        "FITS_WORSE_COLUMN",
        "NETWORKS",
        "analyse_cases",
        "baseline_table",
        "draw_observations",
        "fits_worse_count",
        "run_methods",
        "scores",
    ),
    "cycling": (
        "FREE_RUN",
        "CycleConfig",
        "CycleStep",
        "cycle",
        "errors_dataset",
        "fits_worse_summary",
        "sawtooth",
    ),
    "tables": ("MODELS", "EvalConfig", "Evaluator", "simplex_points", "tradeoff_figure"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
