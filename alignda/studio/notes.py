"""What the page says beside a result: which deltas are used, what the request's settings
imply, the cost against the budget, and each analysis that made the state worse."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import pandas as pd

from alignda.alignment.rewards import FORECAST_HOURS
from alignda.analysis.score import SamplerSettings
from alignda.obs.fit import ObsFit
from alignda.studio.budget import Budget
from alignda.studio.request import Request
from alignda.studio.result import (
    ANALYSES,
    BACKGROUND,
    THREEDVAR,
)
from alignda.world.reanalysis import OUT_OF_DISTRIBUTION_NOTE


def aligned_note(available: bool, problem: str, folder: Path) -> str:
    """One line on the aligned deltas: mixed by the weights, or why the weights do nothing."""
    if available:
        return "Aligned deltas loaded: the reward weights mix them (rewarded soup)."
    if problem:
        return (
            f"The aligned deltas are not used: {problem}. The reward weights have no effect "
            "and the unaligned prior is used."
        )
    return (
        f"The aligned deltas are not available (no 'aligned' checkpoint in "
        f"{folder / 'manifest.json'}): the reward weights have no effect and the unaligned "
        "prior is used."
    )


def weights_note(
    settings: SamplerSettings,
    aligned_steps: tuple[int, ...],
    measured: dict | None,
    hybrid_tuned: bool = False,
) -> str:
    """What the reward weights do under these sampler settings, said next to the sliders:
    where they act, whether the step count is one they were tuned for, and their measured
    effect on the analysis MSE in this mode (``measured``: the folder's ``alignment.json``;
    ``hybrid_tuned``: the folder has deltas tuned through the hybrid)."""
    if not settings.latent and hybrid_tuned:
        text = (
            f"In the {settings.mode} the weights move the prior's first guess (and its "
            "ensemble); its deltas were tuned through that first guess and the variational "
            "solve."
        )
    elif not settings.latent:
        text = (
            f"In the {settings.mode} the weights only move the prior's first guess and its "
            "ensemble; the deltas were tuned on guided (DPS) analyses."
        )
    elif not settings.observed:
        text = f"{settings.mode} ignores the observations: the weights change the prior alone."
    else:
        text = (
            f"The weights act on the {settings.mode} sampler (its physics delta was tuned on "
            "the Geo-Score)."
        )
    if settings.observed and aligned_steps and settings.steps not in aligned_steps:
        tuned = "/".join(map(str, aligned_steps))
        text += (
            f" They were tuned at {tuned} steps: at {settings.steps} they can make the "
            "analysis worse."
        )
    rows = [
        r
        for r in ((measured or {}).get("tables", {}).get(settings.mode) or [])
        if r.get("metric") == "mse"
    ]
    if not rows:
        return text + " Their effect in this mode was not measured."
    effects = "; ".join(
        f"{r['variant']} {r['change'][0]:+.1f} % [{r['change'][1]:+.1f}, {r['change'][2]:+.1f}]"
        f" ({r['verdict']})"
        for r in rows
    )
    return f"{text} Measured analysis MSE change ({measured.get('cases', '')}): {effects}."


#: What the page says when the cases' twin world is not the one the models were trained on.
OTHER_WORLD_NOTE = (
    "These cases come from another version of the twin world than the models were trained on "
    "(the world recorded in the case file and in the checkpoints' manifest): the prior is "
    "outside its training distribution; forecasts and the balance use the cases' world."
)


def real_fields_note(provenance: str) -> str:
    """What the page says about real cases: out of distribution, and what was derived."""
    said = f" {provenance}." if provenance else ""
    return f"{OUT_OF_DISTRIBUTION_NOTE}{said}"


def request_notes(
    req: Request,
    aligned_available: bool,
    aligned_steps: tuple[int, ...],
    has_future: bool,
    cached: bool,
) -> list[str]:
    """What the request's settings imply: weights unused or outside their tuning, no forecast
    truth, baselines reused."""
    notes = []
    if aligned_available and not req.aligned:
        notes.append("All reward weights are 0: the aligned prior is the unaligned one.")
    elif req.aligned and aligned_steps and req.steps not in aligned_steps:
        notes.append(
            f"The aligned deltas were tuned for {'/'.join(map(str, aligned_steps))} "
            f"sampler steps: at {req.steps} they can be worse than the unaligned prior."
        )
    if req.forecast and not has_future:
        notes.append(f"No truth {FORECAST_HOURS} h after this case: no forecast reward.")
    if cached:
        notes.append("3D-Var and the unaligned prior were reused (same case and settings).")
    return notes


def cost_notes(budget: Budget, cost: float) -> list[str]:
    """The request's estimated cost against the budget (and why it ran when above it)."""
    notes = [f"Estimated cost {cost:.0f} s of the {budget.seconds:g} s compute budget."]
    if cost > budget.seconds:
        d = budget.defaults
        notes.append(
            f"That is more than the budget on this machine, but requests at or below the "
            f"default settings ({d.steps} steps x {d.members} members) always run."
        )
    return notes


#: A variable's RMSE this much above the background's is called worse on its own terms.
WORSE_RMSE_RATIO = 1.1


def _worse_variables(table: pd.DataFrame, row: str, skip: Collection[str]) -> list[str]:
    """'u (RMSE 5.1 > 4.2 m s-1)' for each variable of ``row`` clearly worse than the background."""
    worse = []
    for column in table.columns:
        if not column.startswith("RMSE "):
            continue
        var, _, units = column[5:].partition(" [")
        ours, bg = table.loc[row, column], table.loc[BACKGROUND, column]
        if var not in skip and ours > WORSE_RMSE_RATIO * bg:
            worse.append(f"{var} (RMSE {ours:.3g} > {bg:.3g} {units.rstrip(']')})".rstrip())
    return worse


def quality_notes(
    table: pd.DataFrame,
    req: Request,
    skip: Collection[str] = (),
    fits: Mapping[str, ObsFit] | None = None,
) -> list[str]:
    """A warning for each analysis worse than the background against the known truth (any
    mode): overall, or in some variable on its own terms (RMSE in its units; ``skip`` the
    variables that carry no information, e.g. derived ones); and for each analysis whose own
    ``fits`` (name -> its method's O-B, O-A) say it fits the observations worse than the
    background (O-A > O-B: a guided prior's guidance pulled it away; obsfree, which ignores
    the observations, is not said to)."""
    settings = req.sampler()
    hint = settings.fit_hint()
    mse = table["MSE"]
    notes = []
    for row in ANALYSES[::-1]:
        if row not in mse.index:
            continue
        advice = "" if row == THREEDVAR else f" {hint[0].upper()}{hint[1:]}."
        worse = _worse_variables(table, row, skip)
        if mse[row] > mse[BACKGROUND]:
            notes.append(
                f"The {row} analysis is worse than the background against the truth (MSE "
                f"{mse[row]:.3g} > {mse[BACKGROUND]:.3g}): it made the state worse"
                + (f"; in {', '.join(worse)}." if worse else ".")
                + advice
            )
        elif worse:
            notes.append(
                f"The {row} analysis is worse than the background in {', '.join(worse)}, "
                "although better overall." + advice
            )
    for row in ANALYSES[::-1]:
        fit = (fits or {}).get(row)
        if fit is None or not fit.worse or (row != THREEDVAR and not settings.observed):
            continue
        why = (
            f": the guidance diverged; {hint}."
            if row != THREEDVAR
            else ": its variational solve moved away from them."
        )
        notes.append(
            f"The {row} fits the observations worse than the background (misfit "
            f"{fit.analysis:.2f} > {fit.background:.2f}){why}"
        )
    return notes
