"""Sampled-reward evaluation of aligned priors: guided analyses scored on held-out cases.

Model selection and benchmarks judge a prior (or a reward soup) by what a user gets: the
analyses sampled by :func:`alignda.analysis.score.analyse` with the app's guidance on fixed
observations (same networks and seeds for every model: paired comparisons), scored by
the analysis MSE of the ensemble mean, the Geo-Score of that mean and the MSE of its 48 h
forecast. :func:`paired_bootstrap` gives the mean paired difference with a bootstrap interval.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from alignda.alignment.preferences import evenly_spaced
from alignda.alignment.rewards import (
    FORECAST_HOURS,
    Forecaster,
    balance_score,
    geo_score,
    normalised_mse,
)
from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.methods import prior_method
from alignda.analysis.score import SamplerSettings
from alignda.model.codec import LatentCodec
from alignda.model.prior import prior_denoiser
from alignda.obs.operator import observe_case
from alignda.obs.scenario import Scenario
from alignda.world.cases import Cases

#: The figures of an analysis: lower-is-better MSEs, the higher-is-better physics reward (the
#: balance score of the ensemble mean) and the paper's Geo-Scores (of the ensemble mean,
#: capped at 1 and saturated, and the mean over the members).
METRICS = ("mse", "balance", "geo", "geo_members", "fc_mse")
#: The metric each reward's delta is meant to improve, and its sign (+1: higher is better).
TARGET = {"accuracy": ("mse", -1), "forecast": ("fc_mse", -1), "physics": ("balance", 1)}
#: The guidance of the validation analyses deltas are selected on (where they act).
SELECTION_MODE = "dps"
#: Largest relative analysis-MSE increase a delta may cost before its score is penalised.
MSE_TOLERANCE = 0.03


def scenarios(
    cases: Cases, n: int, density: float = 0.01, seed: int = 0, offset: int = 0
) -> list[Scenario]:
    """``n`` evenly spaced cases that have a truth 48 h later, each observed by its own random
    network at ``density`` (seed ``seed + i``). ``offset`` shifts the picks (other cases)."""
    times = [t for t in cases.times if cases.future_truth(t, FORECAST_HOURS) is not None]
    picks = (evenly_spaced(len(times), n) + offset) % len(times)
    out = []
    for i, j in enumerate(picks):
        t = times[j]
        truth = cases.truth_state(t)
        out.append(
            Scenario(
                time=t,
                truth=truth,
                background=cases.background_state(t),
                future_truth=cases.future_truth(t, FORECAST_HOURS),
                obs=observe_case(truth, seed + i, density=density),
            )
        )
    return out


def analysis_figures(
    members: np.ndarray,
    sc: Scenario,
    scale: np.ndarray,
    forecaster: Forecaster,
) -> dict[str, float]:
    """MSE (normalised by ``scale``), balance score, Geo-Score and 48 h forecast MSE of the
    ensemble mean, and the members' mean Geo-Score."""
    mean = members.mean(0, keepdims=True)
    fc = forecaster(mean)
    return {
        "mse": float(normalised_mse(mean, sc.truth, scale)[0]),
        "balance": float(balance_score(mean, sc.truth, forecaster.world)[0]),
        "geo": float(geo_score(mean, sc.truth)[0]),
        "geo_members": float(geo_score(members, sc.truth).mean()),
        "fc_mse": float(normalised_mse(fc, sc.future_truth, scale)[0]),
    }


def evaluate(
    net: nn.Module,
    codec: LatentCodec,
    cases: Sequence[Scenario],
    settings: SamplerSettings,
    scale: np.ndarray,
    forecaster: Forecaster,
    hybrid: HybridEnVar | None = None,
) -> dict[str, list[float]]:
    """Figures per case (lists over ``cases``) of the analyses of ``net`` under ``settings``
    (any mode; the hybrid needs ``hybrid``), case i with seed ``settings.seed + i``."""
    den = prior_denoiser(net)
    out: dict[str, list[float]] = {k: [] for k in METRICS}
    with torch.no_grad():
        for i, sc in enumerate(cases):
            s = SamplerSettings(**{**settings.to_dict(), "seed": settings.seed + i})
            method = prior_method(den, codec, s, hybrid)
            members = method.analyse(sc.background, sc.obs, seed=s.seed).members
            for k, v in analysis_figures(members, sc, scale, forecaster).items():
                out[k].append(v)
    return out


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    relative: bool = True,
    level: float = 0.9,
    n_boot: int = 4000,
    seed: int = 0,
) -> dict[str, float]:
    """Mean paired difference b - a over cases (relative to mean(a) if ``relative``) with a
    bootstrap ``level`` interval (cases resampled); ``neutral`` when it includes 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError("need two equally long 1-D samples of at least 2 paired values")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))

    def stat(i: np.ndarray) -> np.ndarray:
        d = (b[i] - a[i]).mean(-1)
        return d / a[i].mean(-1) if relative else d

    boots = stat(idx)
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    mean = float(stat(np.arange(len(a))[None])[0])
    return {"mean": mean, "lo": float(lo), "hi": float(hi), "neutral": bool(lo <= 0 <= hi)}


def selection_score(
    kind: str, figures: Mapping[str, Sequence[float]], base: Mapping[str, Sequence[float]]
) -> float:
    """Validation score of a delta (higher is better): the relative improvement of its own
    reward's metric over the unaligned prior (for ``multi`` the mean over the three), minus
    ten times any analysis-MSE increase beyond :data:`MSE_TOLERANCE`."""
    kinds = tuple(TARGET) if kind == "multi" else (kind,)
    gains = []
    for k in kinds:
        metric, sign = TARGET[k]
        a, b = np.mean(base[metric]), np.mean(figures[metric])
        gains.append(sign * (b - a) / a)
    cost = np.mean(figures["mse"]) / np.mean(base["mse"]) - 1.0
    return float(np.mean(gains) - 10.0 * max(0.0, cost - MSE_TOLERANCE))


class ResultCache:
    """A JSON file of named results, rewritten after each new entry (resumable runs; runs
    that share the file keep each other's entries)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.data: dict = self._read()

    def _read(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key: str, compute) -> dict:
        """The cached value of ``key``, else ``compute()`` stored under it."""
        if key not in self.data:
            value = compute()
            self.data = {**self._read(), **self.data, key: value}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.data, indent=1))
            tmp.replace(self.path)
        return self.data[key]
