"""Score tables of analyses in the Align-DA style: one row per method (normalised MSE and MAE,
RMSE per variable, ACC, spread/skill, CRPS), and their fixed-width markdown rendering."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from alignda.evaluation.checks import MEMBER
from alignda.evaluation.ensemble import crps, spread_skill
from alignda.evaluation.metrics import acc, ordered_vars, overall_mae, overall_mse, rmse
from alignda.world.variables import VARIABLES

__all__ = ["format_table", "score_table"]


def _scalar(x: xr.DataArray, what: str) -> float:
    if x.ndim:
        raise ValueError(f"{what} is not a scalar; leftover dims {x.dims} (reduce them first)")
    return float(x)


def score_table(
    preds: Mapping[str, xr.Dataset],
    truth: xr.Dataset,
    scale: Mapping[str, float],
    ensembles: Mapping[str, xr.Dataset] | None = None,
    climatology: xr.Dataset | None = None,
) -> pd.DataFrame:
    """Align-DA style score table: one row per prediction name.

    Columns: ``MSE`` and ``MAE`` (overall, normalised by ``scale``; see
    :func:`alignda.evaluation.metrics.overall_mse`), then ``RMSE <var>`` per variable in
    physical units (canonical variable order). The variable units are stored in
    ``df.attrs["units"]``. With ``climatology``: ``ACC``, the anomaly correlation averaged over
    the variables. With ``ensembles`` (name -> members on the ``member`` dim; rows with fewer
    than 2 members get NaN): ``spread/skill`` (with the finite-ensemble correction, 1 =
    reliable) and ``CRPS`` (fair, normalised by ``scale``), each averaged over the variables.
    """
    if not preds:
        raise ValueError("preds is empty")
    names = ordered_vars(truth.data_vars) if isinstance(truth, xr.Dataset) else []
    rows: dict[str, dict[str, float]] = {}
    for key, pred in preds.items():
        try:
            per_var = rmse(pred, truth)
            row = {
                "MSE": _scalar(overall_mse(pred, truth, scale), "MSE"),
                "MAE": _scalar(overall_mae(pred, truth, scale), "MAE"),
            }
            row |= {f"RMSE {n}": _scalar(per_var[n], f"RMSE {n}") for n in names}
            if climatology is not None:
                row["ACC"] = _variable_mean(acc(pred, truth, climatology), names)
            if ensembles is not None:
                row |= _ensemble_scores(ensembles.get(key), truth, scale, names)
        except ValueError as err:
            raise ValueError(f"prediction {key!r}: {err}") from err
        rows[key] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "method"
    df.attrs["units"] = {
        str(n): str(truth[n].attrs.get("units", VARIABLES.get(str(n), {}).get("units", "")))
        for n in names
    }
    return df


def _variable_mean(per_var: xr.Dataset, names: Iterable[Hashable]) -> float:
    return float(np.mean([_scalar(per_var[n], str(n)) for n in names]))


def _ensemble_scores(
    ens: xr.Dataset | None, truth: xr.Dataset, scale: Mapping[str, float], names: list
) -> dict[str, float]:
    """Spread/skill and normalised CRPS of an ensemble, averaged over the variables."""
    if ens is None or MEMBER not in ens.dims or ens.sizes[MEMBER] < 2:
        return {"spread/skill": np.nan, "CRPS": np.nan}
    ratio = spread_skill(ens, truth, finite_ensemble_correction=True)
    score = crps(ens, truth)
    return {
        "spread/skill": _variable_mean(ratio, names),
        "CRPS": float(np.mean([_scalar(score[n], str(n)) / scale[str(n)] for n in names])),
    }


def format_table(df: pd.DataFrame, digits: int = 4, units: bool = True) -> str:
    """Render a score table as a fixed-width markdown (pipe) table.

    Values use ``digits`` significant figures; with ``units`` the ``RMSE <var>`` headers get
    the variable's units appended, e.g. ``RMSE z [m]`` (from ``df.attrs`` or the registry).
    """
    unit_map: Mapping[str, str] = df.attrs.get("units", {})

    def header(col: Hashable) -> str:
        col = str(col)
        if units and col.startswith("RMSE "):
            var = col[5:]
            u = unit_map.get(var, VARIABLES.get(var, {}).get("units", ""))
            if u:
                return f"{col} [{u}]"
        return col

    head = [str(df.index.name or "")] + [header(c) for c in df.columns]
    body = [
        [str(idx)] + [f"{float(v):.{digits}g}" for v in row]
        for idx, row in zip(df.index, df.itertuples(index=False), strict=True)
    ]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "| " + " | ".join(parts) + " |"

    sep = (
        "|"
        + "|".join([":" + "-" * (widths[0] + 1)] + ["-" * (w + 1) + ":" for w in widths[1:]])
        + "|"
    )
    return "\n".join([line(head), sep, *(line(r) for r in body)])
