"""Evaluation: verification metrics, score tables, cycled experiments and the paper's tables.

- :mod:`~alignda.evaluation.metrics`: WeatherBench2-style metrics on xarray Datasets (MSE,
  RMSE, MAE, ACC, spread, CRPS, rank histograms) and score tables;
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

import importlib

_EXPORTS = {
    "metrics": (
        "acc",
        "crps",
        "ensemble_mean",
        "format_table",
        "mae",
        "mse",
        "rank_histogram",
        "rmse",
        "score_table",
        "spatial_mean",
        "spread",
        "spread_skill",
    ),
    "experiments": ("NETWORKS", "baseline_table", "draw_observations", "run_methods", "scores"),
    "cycling": ("FREE_RUN", "CycleConfig", "CycleStep", "cycle", "errors_dataset", "sawtooth"),
    "tables": ("MODELS", "EvalConfig", "Evaluator", "simplex_points", "tradeoff_figure"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
