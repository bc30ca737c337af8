"""The trade-off front of one scenario: the aligned prior across reward-weight presets.

For the request's case and observations, the prior mixed with each preset's weights
(:data:`FRONT_PRESETS`) analyses the scenario ``seeds`` times with different sampler seeds;
each point is the mean over those seeds of the analysis (ensemble-mean) MSE and of its
physics reward (the balance score, %: how calmly a forecast starts from it, against the
truth), with their standard deviation as error bars (seed noise). The first seed is the
request's, so the point of the request's own weights matches the main result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from alignda.alignment.rewards import balance_score, normalised_mse
from alignda.alignment.soup import PRESETS, normalise_weights
from alignda.analysis.score import Cancelled
from alignda.obs.scenario import Scenario
from alignda.runtime import parallel_workers
from alignda.studio.budget import Budget
from alignda.studio.request import OverBudget, Request, StudioError
from alignda.studio.result import ALIGNED_ROW, THREEDVAR, UNALIGNED, Result
from alignda.world.model import WorldConfig
from alignda.world.stats import WorldStats


class FrontStudio(Protocol):
    """What the front needs of a studio (:class:`alignda.studio.service.Studio` is one; the
    service imports this module, so the front names only this protocol)."""

    aligned_available: bool
    budget: Budget
    stats: WorldStats
    world: WorldConfig

    def scenario(self, req: Request) -> Scenario:
        """The request's case observed."""
        ...

    def analyse(
        self,
        req: Request,
        weights: Mapping[str, float] | None,
        sc: Scenario,
        progress: bool = True,
        workers: int = 1,
        cancelled: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Members of the prior with ``weights`` under the request's guidance."""
        ...


#: Weight presets that span the simplex of the deltas, and the unaligned reference.
FRONT_PRESETS: tuple[str, ...] = (
    "unaligned",
    "accuracy",
    "forecast",
    "physics",
    "balanced",
    "paper -M",
)
DEFAULT_SEEDS = 2


@dataclass(frozen=True)
class FrontPoint:
    """One preset on the front: mean and seed standard deviation of the analysis MSE
    (normalised) and of its balance score (%)."""

    preset: str
    weights: dict[str, float]
    mse: float
    mse_std: float
    physics: float
    physics_std: float


def physics_score(
    members: np.ndarray, truth: np.ndarray, world: WorldConfig | None = None
) -> float:
    """The physics reward (balance score, %) of an ensemble's mean (members (M, C, H, W)) in
    the truth's ``world``."""
    return 100.0 * float(balance_score(members.mean(0)[None], truth, world)[0])


def front_seconds(studio: FrontStudio, req: Request, seeds: int = DEFAULT_SEEDS) -> float:
    """Nominal seconds of the front of a request (one analysis per preset and seed)."""
    return len(FRONT_PRESETS) * seeds * studio.budget.analysis_seconds(req)


def tradeoff_front(
    studio: FrontStudio,
    req: Request,
    seeds: int = DEFAULT_SEEDS,
    stage: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[FrontPoint]:
    """The front of the request's scenario (see the module docstring). Refused with
    :class:`OverBudget` when its estimate exceeds the studio's compute budget, unless the
    request is at or below the default settings (those always run)."""
    if not studio.aligned_available:
        raise StudioError("the aligned deltas are not available: there is no front to draw")
    if not 1 <= seeds <= 8:
        raise StudioError(f"seeds must be in 1..8, got {seeds}")
    cost, budget = front_seconds(studio, req, seeds), studio.budget
    if cost > budget.seconds and not budget.guaranteed(req):
        d = budget.defaults
        raise OverBudget(
            f"the front needs about {cost:.0f} s > budget {budget.seconds:g} s "
            f"({len(FRONT_PRESETS)} presets x {seeds} seeds at {req.steps} steps x "
            f"{req.members} members): lower steps and members to {d.steps} x {d.members} or "
            "below (those always run)"
        )
    sc = studio.scenario(req)
    scale = studio.stats.std
    points = []
    for i, preset in enumerate(FRONT_PRESETS):
        weights = normalise_weights(PRESETS[preset])
        mse, physics = [], []
        for k in range(seeds):
            if cancelled is not None and cancelled():
                raise Cancelled("the front was cancelled")
            if stage is not None:
                stage((i * seeds + k) / (len(FRONT_PRESETS) * seeds), f"front: {preset}")
            run = replace(req, seed=req.seed + k)  # the sampler's seed; the obs stay
            members = studio.analyse(
                run, weights, sc, progress=False, workers=parallel_workers(), cancelled=cancelled
            ).members
            mse.append(float(normalised_mse(members.mean(0)[None], sc.truth, scale)[0]))
            physics.append(physics_score(members, sc.truth, studio.world))
        points.append(
            FrontPoint(
                preset, weights, np.mean(mse), np.std(mse), np.mean(physics), np.std(physics)
            )
        )
    return points


def on_scale(points: list[FrontPoint], factor: float = 3.0) -> tuple[list, list]:
    """The points drawn, and those left off the scale: an MSE above ``factor`` times the
    median (e.g. a delta that diverges at few steps) would squash every other point."""
    limit = factor * float(np.median([p.mse for p in points]))
    return [p for p in points if p.mse <= limit], [p for p in points if p.mse > limit]


def front_figure(points: list[FrontPoint], result: Result | None = None) -> Figure:
    """The front (analysis MSE against the balance score, seed-noise error bars, one label a
    preset); with ``result``, its 3D-Var and the user's current weights (a red star)."""
    fig = Figure(figsize=(5.0, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    inside, off = on_scale(points)
    for i, p in enumerate(inside):
        colour = "tab:blue" if p.preset == "unaligned" else "tab:orange"
        ax.errorbar(
            p.physics, p.mse, xerr=p.physics_std, yerr=p.mse_std, fmt="o", c=colour, ms=5, capsize=2
        )
        offset = (4, 3 if i % 2 == 0 else -9)  # alternate, so that close labels stay readable
        ax.annotate(
            p.preset, (p.physics, p.mse), fontsize=7, xytext=offset, textcoords="offset points"
        )
    if off:
        text = "off the scale: " + ", ".join(
            f"{p.preset} (MSE {p.mse:.3g}, balance {p.physics:.0f} %)" for p in off
        )
        ax.text(0.01, 0.01, text, transform=ax.transAxes, va="bottom", fontsize=6, color="0.3")
    if result is not None:
        table = result.table
        if THREEDVAR in table.index:
            x = physics_score(result.analyses[THREEDVAR], result.truth, result.world)
            ax.scatter(x, table.loc[THREEDVAR, "MSE"], marker="^", c="black", s=50, label="3D-Var")
        mine = ALIGNED_ROW if ALIGNED_ROW in table.index else UNALIGNED
        x = physics_score(result.analyses[mine], result.truth, result.world)
        ax.scatter(
            x,
            table.loc[mine, "MSE"],
            marker="*",
            c="tab:red",
            s=160,
            zorder=5,
            label="your weights",
        )
        ax.legend(fontsize=7, loc="upper left")
    ax.set_xlabel("physics: balance score of the analysis (%), higher is calmer", fontsize=8)
    ax.set_ylabel("analysis MSE (normalised), lower is better", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.set_title("trade-off front (error bars: sampler seeds)", fontsize=9)
    fig.tight_layout()
    return fig
