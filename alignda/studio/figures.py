"""What a result shows: the map panels, the trade-off figure, the score table and the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from alignda.alignment.rewards import FORECAST_HOURS
from alignda.studio.request import (
    CSV_PATTERN,
    checked_choice,
)
from alignda.studio.result import (
    ALIGNED_ROW,
    BACKGROUND,
    HEIGHT_TENDENCY,
    HISTORY_LENGTH,
    MAP_VARIABLES,
    REWARD_COLUMNS,
    THREEDVAR,
    UNALIGNED,
    WIND_SPEED,
    Result,
    weights_text,
)
from alignda.viz.maps import map_panel, save_png
from alignda.world.shock import SHOCK_HOURS, WAVE_HOURS, height_tendency_field
from alignda.world.variables import VARIABLE_NAMES, VARIABLES


def display_table(table: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """The score table with a ``method`` column and values rounded to significant digits."""
    rounded = table.map(lambda v: float(f"{v:.{digits}g}") if np.isfinite(v) else None)
    return rounded.reset_index(names="method")


# --- maps -----------------------------------------------------------------------------------------
def _variable(states: np.ndarray, variable: str) -> np.ndarray:
    """One variable of states (..., C, H, W); ``wind speed`` is derived from u and v."""
    if variable == WIND_SPEED:
        u, v = (states[..., VARIABLE_NAMES.index(k), :, :] for k in ("u", "v"))
        return np.hypot(u, v)
    return states[..., VARIABLE_NAMES.index(variable), :, :]


def _obs_points(result: Result, variable: str) -> tuple[np.ndarray, ...]:
    names = ("u", "v") if variable == WIND_SPEED else (variable,)
    idx = [VARIABLE_NAMES.index(k) for k in names]
    mask = result.obs.mask[idx].all(axis=0)
    ii, jj = np.nonzero(mask)
    values = _variable(result.obs.values, variable)[ii, jj]
    return result.grid.lat[ii], result.grid.lon[jj], values


def _units(variable: str) -> str:
    return VARIABLES["u" if variable == WIND_SPEED else variable]["units"]


def map_fields(result: Result, variable: str, analysis: str) -> dict[str, np.ndarray]:
    """The eight panels of the maps figure for one variable and analysis (for
    ``z tendency`` the four of :func:`tendency_fields`)."""
    checked_choice(variable, "variable", MAP_VARIABLES)
    if variable == HEIGHT_TENDENCY:
        return tendency_fields(result, analysis)
    name = analysis if analysis in result.analyses else result.main
    members = _variable(result.analyses[name], variable)
    xa, truth, bg = (
        members.mean(axis=0),
        _variable(result.truth, variable),
        _variable(result.background, variable),
    )
    spread = members.std(axis=0, ddof=1) if len(members) > 1 else np.full_like(xa, np.nan)
    label = f"{name}, mean of {len(members)}" if len(members) > 1 else name
    return {
        "truth": truth,
        "background": bg,
        "observations": np.full_like(truth, np.nan),
        f"analysis ({label})": xa,
        "analysis - truth": xa - truth,
        "background - truth": bg - truth,
        "increment (analysis - background)": xa - bg,
        "ensemble spread" + ("" if len(members) > 1 else " (n/a: one member)"): spread,
    }


def _where(result: Result) -> str:
    req = result.request
    return "CSV points" if req.pattern == CSV_PATTERN else f"{100 * req.density:g} % {req.pattern}"


def tendency_fields(result: Result, analysis: str = ALIGNED_ROW) -> dict[str, np.ndarray]:
    """Height tendency (m/h) over the 6th hour of forecasts by the forecaster's model from the
    truth, the background, 3D-Var and a score-based analysis (``analysis``, else the main
    one; ensemble means), each titled with its area-weighted rms."""
    prior = analysis if analysis in result.analyses and analysis != THREEDVAR else result.main
    names = [n for n in (BACKGROUND, THREEDVAR, prior) if n == BACKGROUND or n in result.analyses]
    states = np.stack([result.truth, *(result.mean(n) for n in names)])
    start = WAVE_HOURS - SHOCK_HOURS
    fields = height_tendency_field(states, SHOCK_HOURS, start=start, world=result.world)
    label, members = prior, len(result.analyses[prior])
    if prior == ALIGNED_ROW:
        label += f" ({weights_text(result.request.weight_dict)})"
    labels = ["truth", *names[:-1], f"{label}, mean of {members}" if members > 1 else label]
    rms = np.sqrt(result.grid.area_mean(fields**2))
    return {f"{label}: rms {r:.2f} m/h": f for label, r, f in zip(labels, rms, fields, strict=True)}


def tendency_figure(result: Result, analysis: str = ALIGNED_ROW) -> Figure:
    """Maps of :func:`tendency_fields` side by side, on one colour scale symmetric about 0."""
    panels = tendency_fields(result, analysis)
    hour = f"{WAVE_HOURS - SHOCK_HOURS:g}-{WAVE_HOURS:g} h"
    return map_panel(
        panels,
        result.grid.lat,
        result.grid.lon,
        units="m/h",
        ncols=len(panels),
        diverging_keys=list(panels),
        title=f"height tendency dz/dt over {hour} of a forecast by the forecaster's model, "
        f"case {result.label}: gravity waves ring where an analysis is unbalanced "
        f"({_where(result)} obs, {result.request.mode} guidance)",
    )


def maps_figure(result: Result, variable: str = "z", analysis: str = ALIGNED_ROW) -> Figure:
    """Cartopy maps (Robinson, coastlines, colourbars with units) of one variable; for
    ``z tendency`` the :func:`tendency_figure`."""
    if variable == HEIGHT_TENDENCY:
        return tendency_figure(result, analysis)
    panels = map_fields(result, variable, analysis)
    keys = list(panels)
    long_name = "wind speed" if variable == WIND_SPEED else VARIABLES[variable]["long_name"]
    req, where = result.request, _where(result)
    points = _obs_points(result, variable)
    return map_panel(
        panels,
        result.grid.lat,
        result.grid.lon,
        units=_units(variable),
        ncols=4,
        diverging_keys=keys[4:7],
        shared_limits_keys=keys[:4],
        obs=points,
        obs_keys=["observations"],
        title=f"{long_name} [{_units(variable)}], case {result.label}: "
        f"{len(points[0])} obs ({where}), {req.mode} guidance",
    )


def render_maps(result: Result, variable: str, analysis: str, path: str | Path) -> Path:
    """Write the maps figure as PNG (the figure is cleared afterwards)."""
    return save_png(maps_figure(result, variable, analysis), path)


# --- the trade-off plot ---------------------------------------------------------------------------
def tradeoff_point(result: Result) -> dict[str, Any]:
    """This run's aligned (or unaligned) prior on the trade-off axes, for the history."""
    row = result.table.loc[result.main]
    return {
        "scenario": hash(result.request.baseline()),  # same case, obs and sampler settings
        "label": weights_text(result.request.weight_dict) if result.main == ALIGNED_ROW else "",
        "mse": float(row["MSE"]),
        "physics": float(row[REWARD_COLUMNS[2]]),
        "forecast": float(row[REWARD_COLUMNS[1]]),
    }


def extend_history(history: list[dict] | None, result: Result) -> list[dict]:
    """Earlier runs of the same scenario (different weights) plus this one, newest last."""
    point = tradeoff_point(result)
    kept = [p for p in history or [] if p["scenario"] == point["scenario"]]
    return [*kept, point][-HISTORY_LENGTH:]


_STYLE = {
    BACKGROUND: ("s", "0.5"),
    THREEDVAR: ("^", "black"),
    UNALIGNED: ("o", "tab:blue"),
    ALIGNED_ROW: ("*", "tab:red"),
}


def tradeoff_figure(result: Result, earlier: list[dict] | None = None) -> Figure:
    """Analysis MSE against the balance score (and the 48 h forecast MSE when computed).

    ``earlier``: trade-off points of earlier runs (:func:`extend_history`); those of the same
    scenario with other weights are drawn faded.
    """
    scenario = tradeoff_point(result)["scenario"]
    past = [p for p in earlier or [] if p["label"] and p["scenario"] == scenario]
    axes = [("physics", REWARD_COLUMNS[2], "physics: balance (%), higher is better")]
    if np.isfinite(result.table[REWARD_COLUMNS[1]]).all():
        axes.append(("forecast", REWARD_COLUMNS[1], f"forecast: -MSE at +{FORECAST_HOURS} h"))
    fig = Figure(figsize=(3.6 * len(axes), 3.0), dpi=100)
    FigureCanvasAgg(fig)
    for i, (key, column, xlabel) in enumerate(axes):
        ax = fig.add_subplot(1, len(axes), i + 1)
        if past:
            x, y = [p[key] for p in past], [p["mse"] for p in past]
            ax.scatter(x, y, s=18, c="tab:red", alpha=0.3, label="earlier weights")
        for name, row in result.table.iterrows():
            marker, colour = _STYLE[str(name)]
            ax.scatter(row[column], row["MSE"], marker=marker, c=colour, s=70, label=name)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("analysis MSE (normalised), lower is better", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("reward trade-off", fontsize=9)
    fig.tight_layout()
    return fig


def figure_array(fig: Figure) -> np.ndarray:
    """RGB pixels of a figure; the figure is cleared afterwards."""
    try:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()
    finally:
        fig.clear()


def summary(result: Result) -> str:
    """Markdown notes of a run: messages, observations, timings."""
    obs = result.obs
    counts = ", ".join(f"{k} {v}" for k, v in obs.counts.items())
    timing = " · ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    lines = [
        *result.notes,
        f"Observations: {counts} ({100 * obs.fraction:.2g} % of all values).",
        f"Timings: {timing}.",
    ]
    return "\n\n".join(lines)
