"""A Studio result: its scenario, analyses, baselines and scores; the names of rows and columns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alignda.alignment.rewards import FORECAST_HOURS
from alignda.obs.fit import ObsFit
from alignda.obs.operator import Observations
from alignda.obs.scenario import Scenario
from alignda.studio.request import (
    Request,
)
from alignda.world.grid import Grid
from alignda.world.model import WorldConfig
from alignda.world.variables import VARIABLE_NAMES, VARIABLES

WIND_SPEED = "wind speed"
#: The map of the height tendency in the 6th hour of forecasts from the truth, background,
#: 3D-Var and a score-based analysis (gravity waves of an unbalanced start).
HEIGHT_TENDENCY = "z tendency"


MAP_VARIABLES: tuple[str, ...] = (*VARIABLE_NAMES, WIND_SPEED, HEIGHT_TENDENCY)


BACKGROUND, THREEDVAR, UNALIGNED, ALIGNED_ROW = (
    "background",
    "3D-Var",
    "unaligned prior",
    "aligned prior",
)


ANALYSES: tuple[str, ...] = (ALIGNED_ROW, UNALIGNED, THREEDVAR)


REWARD_COLUMNS = ("accuracy (BT)", f"forecast (-MSE +{FORECAST_HOURS} h)", "physics (balance %)")
#: The paper's physics reward, kept beside the balance score (saturated at 100 % here).
GEO_COLUMN = "Geo-Score % (paper)"


#: RMS of (observation - state) / obs error std: O-B for the background, O-A for analyses.
FIT_COLUMN = "obs misfit (rms / std)"


HISTORY_LENGTH = 20


#: Columns of :func:`display_table`.
TABLE_HEADERS: tuple[str, ...] = (
    "method",
    "MSE",
    "MAE",
    *(f"RMSE {k} [{v['units']}]" for k, v in VARIABLES.items()),
    "ACC",
    "spread/skill",
    "CRPS",
    FIT_COLUMN,
    *REWARD_COLUMNS,
    GEO_COLUMN,
)


# --- results --------------------------------------------------------------------------------------
@dataclass
class Baseline:
    """What the reward weights do not change (cached per scenario and sampler settings)."""

    scenario: Scenario
    analyses: dict[str, np.ndarray]  # 3D-Var (1, C, H, W) and unaligned prior (M, C, H, W)
    forecasts: dict[str, np.ndarray] = field(default_factory=dict)  # name -> 48 h (C, H, W)
    fits: dict[str, ObsFit] = field(default_factory=dict)  # name -> the analysis's O-B, O-A


@dataclass
class Result:
    """Everything a request produced (inputs for maps, tables and downloads)."""

    request: Request
    label: str
    time: np.datetime64
    grid: Grid
    truth: np.ndarray
    background: np.ndarray
    obs: Observations
    analyses: dict[str, np.ndarray]
    table: pd.DataFrame
    notes: list[str]
    seconds: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)
    #: Each analysis's fit to the observations as its method measured it (O-B, O-A).
    fits: dict[str, ObsFit] = field(default_factory=dict)
    #: The truth's world (whose imperfect model forecasts and measures balance; None: v1).
    world: WorldConfig | None = None

    @property
    def main(self) -> str:
        """The score-based analysis to show and download: aligned if computed, else unaligned."""
        return ALIGNED_ROW if ALIGNED_ROW in self.analyses else UNALIGNED

    def mean(self, name: str) -> np.ndarray:
        """Ensemble-mean state (C, H, W) of an analysis or of the background."""
        return self.background if name == BACKGROUND else self.analyses[name].mean(axis=0)


def table_rows(result: Result) -> list[str]:
    """Table rows: the background and the analyses present, in a fixed order."""
    return [BACKGROUND, *(n for n in (THREEDVAR, UNALIGNED, ALIGNED_ROW) if n in result.analyses)]


def weights_text(weights: Mapping[str, float]) -> str:
    active = [f"{k} {v:.2f}" for k, v in weights.items() if v > 0]
    return ", ".join(active) or "all zero"


def unit_header(column: str, units: Mapping[str, str]) -> str:
    if column.startswith("RMSE ") and units.get(column[5:]):
        return f"{column} [{units[column[5:]]}]"
    return column
