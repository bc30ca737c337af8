"""The paper's evaluation on held-out cases, with our reward soup.

- Table 1: analyses of every guidance mode with the unaligned, -P (physics) and -M priors,
  beside the background and 3D-Var (MSE, MAE, RMSE per variable) plus the mean rewards and
  how many analyses fit the observations worse than their backgrounds (O-A > O-B);
- Table 2: the same for the 48 h forecasts started from each analysis;
- a sweep over observation density and noise;
- the reward trade-off as the user weights move over the simplex (PNG).

Every prior row uses the same observations and the same sampler seed per case (common
random numbers), so differences between rows come from the priors, not from sampling luck.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from alignda.alignment.rewards import REWARDS, Forecaster, candidate_rewards, geo_score
from alignda.alignment.soup import PRESETS
from alignda.analysis.methods import Analysis
from alignda.analysis.score import SamplerSettings
from alignda.bundle import ModelBundle
from alignda.evaluation.experiments import (
    FITS_WORSE_COLUMN,
    analyse_cases,
    draw_observations,
    fits_worse_count,
    run_methods,
    scores,
)
from alignda.experiment import DEFAULT
from alignda.obs.operator import Observations, scaled_noise_std

#: The paper's prior rows: unaligned, physics-aligned (-P) and multi-reward aligned (-M).
MODELS: dict[str, dict[str, float]] = {
    "unaligned": PRESETS["unaligned"],
    "-P": PRESETS["physics"],
    "-M": PRESETS["paper -M"],
}


#: The guidance of the paper's tables, the sweep and the trade-off: DPS.
PAPER_MODE = "dps"


@dataclass(frozen=True)
class EvalConfig:
    """Observation network and sampler settings of an evaluation (the project's defaults,
    under the paper's guidance)."""

    density: float = DEFAULT.observing.density
    noise_scale: float = DEFAULT.observing.noise_scale
    pattern: str = DEFAULT.observing.pattern
    sampler: SamplerSettings = replace(DEFAULT.method, mode=PAPER_MODE)
    obs_seed: int = 0

    def noise_std(self) -> dict[str, float]:
        """Observation error std per variable (the defaults times ``noise_scale``)."""
        return scaled_noise_std(self.noise_scale)


class Evaluator:
    """Runs analyses, forecasts and rewards for stacks of held-out cases (forecasts by
    ``forecaster``; default: the imperfect model of the bundle's world)."""

    def __init__(
        self,
        bundle: ModelBundle,
        forecaster: Forecaster | None = None,
        progress: bool = True,
        workers: int = 1,
    ) -> None:
        self.bundle, self.stats = bundle, bundle.stats
        self.forecaster = forecaster or Forecaster(bundle.world, workers=workers)
        self.progress = progress
        self.workers = workers  # members (and forecasts) split over this many threads

    def observations(self, truth: np.ndarray, cfg: EvalConfig) -> list[Observations]:
        """The observations of every case."""
        return draw_observations(truth, cfg.pattern, cfg.density, cfg.obs_seed, cfg.noise_std())

    def prior_analyses(
        self,
        background: np.ndarray,
        obs: list[Observations],
        weights: Mapping[str, float] | Sequence[float],
        settings: SamplerSettings,
    ) -> np.ndarray:
        """Ensemble-mean analyses (N, C, H, W) with the prior of ``weights``."""
        return np.stack([a.mean for a in self.prior_analysed(background, obs, weights, settings)])

    def prior_analysed(
        self,
        background: np.ndarray,
        obs: list[Observations],
        weights: Mapping[str, float] | Sequence[float],
        settings: SamplerSettings,
    ) -> list[Analysis]:
        """The analysis of every case (case i: seed ``settings.seed`` + i) with the prior of
        ``weights``, each with its fit to the observations."""
        method = self.bundle.prior_method(settings, weights, workers=self.workers)
        return analyse_cases(method, background, obs, settings.seed)

    def analysed(
        self,
        truth: np.ndarray,
        background: np.ndarray,
        cfg: EvalConfig,
        modes: Sequence[str],
        models: Mapping[str, Mapping[str, float]] = MODELS,
    ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """Background, 3D-Var and every ``<mode><model>`` row, e.g. ``dps-M`` (ensemble means
        (N, C, H, W)), and per row how many analyses fit the observations worse than the
        background."""
        obs = self.observations(truth, cfg)
        rows, worse = {"background": background}, {"background": 0}
        means, _, counts = run_methods([self.bundle.variational()], background, obs)
        rows["3D-Var"], worse["3D-Var"] = means["3D-Var"], counts["3D-Var"]
        jobs = [(m, k) for m in modes for k in models]
        for mode, model in tqdm(jobs, desc="analyses", disable=not self.progress):
            name = mode if model == "unaligned" else f"{mode}{model}"
            s = replace(cfg.sampler, mode=mode)
            done = self.prior_analysed(background, obs, models[model], s)
            rows[name] = np.stack([a.mean for a in done])
            worse[name] = fits_worse_count(done)
        return rows, worse

    def analyses(
        self,
        truth: np.ndarray,
        background: np.ndarray,
        cfg: EvalConfig,
        modes: Sequence[str],
        models: Mapping[str, Mapping[str, float]] = MODELS,
    ) -> dict[str, np.ndarray]:
        """Background, 3D-Var and every ``<mode><model>`` row (see :meth:`analysed`)."""
        return self.analysed(truth, background, cfg, modes, models)[0]

    def forecasts(self, rows: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """48 h forecasts from every row's analyses."""
        names = list(rows)
        stacked = np.concatenate([rows[k] for k in names])
        fc = self.forecaster(stacked)
        n = len(rows[names[0]])
        return {k: fc[i * n : (i + 1) * n] for i, k in enumerate(names)}

    def reward_means(
        self,
        rows: Mapping[str, np.ndarray],
        forecasts: Mapping[str, np.ndarray],
        truth: np.ndarray,
        future: np.ndarray,
    ) -> pd.DataFrame:
        """Mean rewards per row: accuracy (Bradley-Terry among the rows, per case), forecast
        (minus normalised MSE at +48 h), physics (balance score, %) and the paper's Geo-Score
        (%)."""
        names = list(rows)
        states = [np.stack([rows[k][i] for k in names]) for i in range(len(truth))]
        per_case = [
            candidate_rewards(
                x,
                truth[i],
                np.stack([forecasts[k][i] for k in names]),
                future[i],
                self.stats.std,
                self.forecaster.world,
            )
            for i, x in enumerate(states)
        ]
        mean = {k: np.mean([r[k] for r in per_case], axis=0) for k in REWARDS}
        geo = np.mean([geo_score(x, truth[i]) for i, x in enumerate(states)], axis=0)
        return pd.DataFrame(
            {
                "accuracy": mean["accuracy"],
                "forecast": mean["forecast"],
                "balance %": 100 * mean["physics"],
                "Geo-Score %": 100 * geo,
            },
            index=pd.Index(names, name="method"),
        )

    def tables(
        self,
        truth: np.ndarray,
        background: np.ndarray,
        future: np.ndarray,
        cfg: EvalConfig,
        modes: Sequence[str] = ("obsfree", "repaint", "dps"),
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(Table 1 with mean rewards and the count of analyses that fit the observations
        worse than the background, :data:`FITS_WORSE_COLUMN`; Table 2) of the paper's layout."""
        rows, worse = self.analysed(truth, background, cfg, modes)
        fcs = self.forecasts(rows)
        t1 = scores(rows, truth, self.stats).join(self.reward_means(rows, fcs, truth, future))
        t1[FITS_WORSE_COLUMN] = [worse[n] for n in t1.index]
        t2 = scores(fcs, future, self.stats)
        return t1, t2

    def sweep(
        self,
        truth: np.ndarray,
        background: np.ndarray,
        cfg: EvalConfig,
        densities: Sequence[float],
        noise_scales: Sequence[float],
        mode: str = PAPER_MODE,
        models: Mapping[str, Mapping[str, float]] | None = None,
    ) -> pd.DataFrame:
        """Analysis MSE of background, 3D-Var and the ``mode`` rows per (density, noise)."""
        models = models or {k: MODELS[k] for k in ("unaligned", "-M")}
        out = {}
        settings = [(d, cfg.noise_scale) for d in densities]
        settings += [(cfg.density, s) for s in noise_scales if s != cfg.noise_scale]
        for d, s in settings:
            c = replace(cfg, density=d, noise_scale=s)
            rows = self.analyses(truth, background, c, [mode], models)
            out[(f"{d:.0%}", s)] = scores(rows, truth, self.stats)["MSE"]
        df = pd.DataFrame(out).T
        df.index.names = ["density", "noise x"]
        return df

    def tradeoff(
        self,
        truth: np.ndarray,
        background: np.ndarray,
        future: np.ndarray,
        cfg: EvalConfig,
        points: Sequence[Sequence[float]] | None = None,
    ) -> pd.DataFrame:
        """Mean rewards of the ``cfg.sampler`` mode along weights (accuracy, forecast,
        physics) over the simplex (default: unaligned, vertices, edge midpoints, centre)."""
        points = points or simplex_points()
        obs = self.observations(truth, cfg)
        rows = {
            label(w): self.prior_analyses(background, obs, w, cfg.sampler)
            for w in tqdm(points, desc="trade-off", disable=not self.progress)
        }
        df = self.reward_means(rows, self.forecasts(rows), truth, future)
        for j, k in enumerate(REWARDS):
            df[f"w_{k}"] = [float(p[j]) / max(sum(p), 1e-12) for p in points]
        return df


def simplex_points() -> list[tuple[float, float, float]]:
    """Zero (unaligned), the three vertices, the three edge midpoints and the centre."""
    return [
        (0, 0, 0),
        (1, 0, 0),
        (0, 1, 0),
        (0, 0, 1),
        (1, 1, 0),
        (1, 0, 1),
        (0, 1, 1),
        (1, 1, 1),
    ]


def label(w: Sequence[float]) -> str:
    """Short name of a weight vector, e.g. ``a1 f0 p1``."""
    return " ".join(f"{k[0]}{x:g}" for k, x in zip(REWARDS, w, strict=True))


def tradeoff_figure(df: pd.DataFrame) -> Figure:
    """Three simplex panels (weights -> barycentric position) coloured by each reward mean."""
    fig = Figure(figsize=(12, 3.8), dpi=100)
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])  # acc, fc, phys
    w = df[[f"w_{k}" for k in REWARDS]].to_numpy()
    aligned = w.sum(1) > 0
    xy = w[aligned] @ corners
    for j, col in enumerate(("accuracy", "forecast", "Geo-Score %")):
        ax = fig.add_subplot(1, 3, j + 1)
        ax.fill(*corners.T, facecolor="none", edgecolor="0.6")
        for c, name in zip(corners, ("accuracy", "forecast", "physics"), strict=True):
            ax.annotate(
                name,
                c,
                textcoords="offset points",
                xytext=(0, -12 if c[1] == 0 else 6),
                ha="center",
                fontsize=8,
            )
        vals = df[col].to_numpy()
        sc = ax.scatter(*xy.T, c=vals[aligned], s=260, cmap="viridis", edgecolors="k")
        for (x, y), v in zip(xy, vals[aligned], strict=True):
            ax.annotate(
                f"{v:.3g}",
                (x, y),
                textcoords="offset points",
                xytext=(0, 11),
                ha="center",
                fontsize=7,
            )
        if (~aligned).any():
            ax.set_title(f"{col} (unaligned {vals[~aligned][0]:.3g})", fontsize=9)
        else:
            ax.set_title(col, fontsize=9)
        fig.colorbar(sc, ax=ax, shrink=0.8)
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.set_xlim(-0.15, 1.15)
        ax.set_ylim(-0.15, 1.0)
    fig.suptitle("Mean rewards as the reward weights move over the simplex (higher is better)")
    return fig
