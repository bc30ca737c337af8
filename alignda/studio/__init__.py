"""The Studio: one app request from its settings to the maps and scores the page shows.

- :mod:`~alignda.studio.request`: a :class:`Request`, checked against :data:`LIMITS`;
  uploaded CSV points;
- :mod:`~alignda.studio.models`: :class:`StudioModels`, the model bundle placed on a device,
  the cases, and a request's analysis methods on them;
- :mod:`~alignda.studio.service`: the :class:`Studio`, which runs a request into a
  :class:`Result` within the budget, caching the baselines;
- :mod:`~alignda.studio.budget`: the compute :class:`Budget` (nominal cost of a request on
  this machine, what always runs, the machine's load);
- :mod:`~alignda.studio.result`: the result, the names of its rows and columns;
- :mod:`~alignda.studio.scoring`: the result's score table (metrics, obs fit, rewards);
- :mod:`~alignda.studio.notes`: what the page says beside a result;
- :mod:`~alignda.studio.figures`: map panels (the height tendency's too), the trade-off
  figure, the table and summary;
- :mod:`~alignda.studio.front`: the trade-off front of a scenario across weight presets;
- :mod:`~alignda.studio.reproduction`: command lines that reproduce a result, its files;
- :mod:`~alignda.studio.placement`: the prior and codec placed on the sampler's device.

The names below are the package's public interface (what :mod:`alignda.app` uses).
"""

from alignda.studio.budget import Budget, Speeds
from alignda.studio.figures import (
    display_table,
    extend_history,
    figure_array,
    map_fields,
    maps_figure,
    render_maps,
    summary,
    tendency_fields,
    tendency_figure,
    tradeoff_figure,
    tradeoff_point,
)
from alignda.studio.front import FRONT_PRESETS, FrontPoint, front_figure, front_seconds
from alignda.studio.models import StudioModels
from alignda.studio.notes import quality_notes
from alignda.studio.reproduction import analysis_netcdf, reproduction, settings_json
from alignda.studio.request import (
    BUDGET_ENV,
    CASES_ENV,
    CHECKPOINTS_ENV,
    CSV_PATTERN,
    DEFAULT_BUDGET_S,
    LIMITS,
    MAX_UPLOAD_BYTES,
    OBS_PATTERNS,
    OVERHEAD_S,
    POINTS_FILE,
    OverBudget,
    Request,
    StudioError,
    budget_seconds,
    checkpoints_folder,
    preset_weights,
    read_upload,
)
from alignda.studio.result import (
    ALIGNED_ROW,
    ANALYSES,
    BACKGROUND,
    FIT_COLUMN,
    HEIGHT_TENDENCY,
    MAP_VARIABLES,
    REWARD_COLUMNS,
    TABLE_HEADERS,
    THREEDVAR,
    UNALIGNED,
    WIND_SPEED,
    Result,
    table_rows,
)
from alignda.studio.scoring import result_table
from alignda.studio.service import Studio, default_studio, reproduce

__all__ = [
    "FRONT_PRESETS",
    "FrontPoint",
    "front_figure",
    "front_seconds",
    "ALIGNED_ROW",
    "ANALYSES",
    "BACKGROUND",
    "BUDGET_ENV",
    "CASES_ENV",
    "CHECKPOINTS_ENV",
    "CSV_PATTERN",
    "DEFAULT_BUDGET_S",
    "FIT_COLUMN",
    "HEIGHT_TENDENCY",
    "LIMITS",
    "MAP_VARIABLES",
    "MAX_UPLOAD_BYTES",
    "OBS_PATTERNS",
    "OVERHEAD_S",
    "POINTS_FILE",
    "REWARD_COLUMNS",
    "TABLE_HEADERS",
    "THREEDVAR",
    "UNALIGNED",
    "WIND_SPEED",
    "Budget",
    "OverBudget",
    "Request",
    "Result",
    "Speeds",
    "Studio",
    "StudioModels",
    "StudioError",
    "analysis_netcdf",
    "budget_seconds",
    "checkpoints_folder",
    "default_studio",
    "display_table",
    "extend_history",
    "figure_array",
    "map_fields",
    "maps_figure",
    "preset_weights",
    "quality_notes",
    "read_upload",
    "render_maps",
    "reproduce",
    "reproduction",
    "result_table",
    "settings_json",
    "summary",
    "table_rows",
    "tendency_fields",
    "tendency_figure",
    "tradeoff_figure",
    "tradeoff_point",
]
