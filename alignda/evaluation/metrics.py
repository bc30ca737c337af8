"""Verification metrics following WeatherBench2 (WB2) conventions.

Inputs are ``xr.Dataset`` objects whose data variables are state variables (``z``, ``u``, ...)
with dims ``latitude`` and ``longitude`` and optionally ``case`` (independent analysis cases,
the WB2 "time" axis) and ``member`` (ensemble members). Any other dim is passed through.

Conventions (all metrics):

* Spatial means are always cell-area latitude weighted with ``cell_area_weights`` (never
  unweighted); see :func:`spatial_mean`.
* Scores are computed per case and then averaged over ``case``. For RMSE-like scores the
  squared quantity is averaged over cases *before* the square root (WB2 convention), i.e.
  ``rmse = sqrt(mean_case(spatial_mean((pred - truth) ** 2)))``, which is generally larger
  than the mean over cases of per-case RMSEs.
* Inputs are validated: mismatched variables, dims or coordinates and non-finite values
  (NaN/inf) raise ``ValueError``; nothing is silently skipped.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from alignda.world.grid import cell_area_weights, same_coordinate
from alignda.world.variables import VARIABLE_NAMES, VARIABLES

__all__ = [
    "acc",
    "aligned_to",
    "crps",
    "ensemble_mean",
    "format_table",
    "lat_weights",
    "mae",
    "mse",
    "overall_mae",
    "overall_mse",
    "rank_histogram",
    "rmse",
    "score_table",
    "spatial_mean",
    "spread",
    "spread_skill",
]

LAT = "latitude"
LON = "longitude"
CASE = "case"
MEMBER = "member"


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _names(xs: Iterable[Hashable]) -> list[str]:
    return sorted(str(x) for x in xs)


def _check_dataset(ds: xr.Dataset, what: str) -> None:
    """Type, non-empty, latitude/longitude dims, numeric and finite values."""
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"{what} must be an xarray.Dataset, got {type(ds).__name__}")
    if not ds.data_vars:
        raise ValueError(f"{what} has no data variables")
    for name, da in ds.data_vars.items():
        missing = [d for d in (LAT, LON) if d not in da.dims]
        if missing:
            raise ValueError(f"{what} variable {name!r} lacks dim(s) {missing}; has {da.dims}")
        if not np.issubdtype(da.dtype, np.number):
            raise ValueError(f"{what} variable {name!r} is not numeric (dtype {da.dtype})")
        bad = int((~np.isfinite(da)).sum())
        if bad:
            raise ValueError(f"{what} variable {name!r} has {bad} non-finite (NaN/inf) values")


def _check_same_vars(a: xr.Dataset, b: xr.Dataset, na: str, nb: str) -> None:
    va, vb = set(a.data_vars), set(b.data_vars)
    if va != vb:
        parts = [f"only in {n}: {_names(d)}" for n, d in ((na, va - vb), (nb, vb - va)) if d]
        raise ValueError("variables differ: " + "; ".join(parts))


def aligned_to(a: xr.Dataset, b: xr.Dataset, na: str = "a", nb: str = "b") -> xr.Dataset:
    """``a`` on ``b``'s coordinates, after checking that shared dims have equal sizes and the
    same coordinate values (:func:`alignda.world.grid.same_coordinate`); ``ValueError`` otherwise.

    Taking one set of coordinates keeps xarray from dropping points whose float coordinates
    differ in the last bits (its arithmetic aligns by exact label)."""
    for dim in set(a.dims) & set(b.dims):
        if a.sizes[dim] != b.sizes[dim]:
            raise ValueError(
                f"dim {dim!r} has size {a.sizes[dim]} in {na} but {b.sizes[dim]} in {nb}"
            )
        if dim in a.coords and dim in b.coords:
            if not same_coordinate(a[dim].values, b[dim].values):
                raise ValueError(f"coordinate {dim!r} differs between {na} and {nb}")
            a = a.assign_coords({dim: b[dim]})
    return a


def _check_pair(
    pred: xr.Dataset, truth: xr.Dataset, extra_pred_dims: tuple[str, ...] = ()
) -> xr.Dataset:
    """Validate a (prediction, truth) pair; pred may have ``extra_pred_dims`` on top.
    Returns ``pred`` on the truth's coordinates (:func:`aligned_to`)."""
    _check_dataset(pred, "pred")
    _check_dataset(truth, "truth")
    _check_same_vars(pred, truth, "pred", "truth")
    for name in truth.data_vars:
        dp, dt = set(pred[name].dims), set(truth[name].dims)
        if dp != dt | set(extra_pred_dims) or dt & set(extra_pred_dims):
            raise ValueError(
                f"dims of {name!r} differ: pred {_names(dp)}, truth {_names(dt)}"
                + (
                    f" (pred must have truth's dims plus {list(extra_pred_dims)})"
                    if extra_pred_dims
                    else ""
                )
            )
    return aligned_to(pred, truth, "pred", "truth")


def _check_ensemble(ens: xr.Dataset, min_members: int = 2) -> int:
    """Validate an ensemble Dataset and return its number of members."""
    if not isinstance(ens, xr.Dataset):
        raise TypeError(f"ensemble must be an xarray.Dataset, got {type(ens).__name__}")
    lacking = [str(n) for n, da in ens.data_vars.items() if MEMBER not in da.dims]
    if lacking:
        raise ValueError(f"ensemble variable(s) {lacking} lack the {MEMBER!r} dim")
    m = int(ens.sizes.get(MEMBER, 0))
    if m < min_members:
        raise ValueError(f"ensemble needs at least {min_members} members, got {m}")
    return m


def _check_scale(scale: Mapping[str, float], names: Iterable[Hashable]) -> None:
    missing = [str(n) for n in names if n not in scale]
    if missing:
        raise ValueError(f"scale lacks variable(s) {missing}")
    bad = {str(n): scale[n] for n in names if not (np.isfinite(scale[n]) and scale[n] > 0)}
    if bad:
        raise ValueError(f"scale must be finite and > 0; bad: {bad}")


def _case_mean(x: xr.Dataset) -> xr.Dataset:
    """Mean over ``case`` if present; input attrs (e.g. field units) are dropped."""
    x = x.mean(CASE) if CASE in x.dims else x
    return x.drop_attrs() if isinstance(x, xr.Dataset) else x


def _ordered_vars(names: Iterable[Hashable]) -> list[Hashable]:
    """Variables in the canonical VARIABLE_NAMES order, unknown ones after (input order)."""
    names = list(names)
    return [n for n in VARIABLE_NAMES if n in names] + [n for n in names if n not in VARIABLES]


# --------------------------------------------------------------------------------------------
# spatial averaging
# --------------------------------------------------------------------------------------------


def lat_weights(latitude: xr.DataArray | np.ndarray) -> xr.DataArray:
    """Cell-area latitude weights (mean 1) as a DataArray on the ``latitude`` dim."""
    lat = np.asarray(latitude, dtype=np.float64)
    return xr.DataArray(cell_area_weights(lat), dims=(LAT,), coords={LAT: lat}, name="weights")


def spatial_mean(da: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    """Cell-area-weighted mean over ``latitude`` and ``longitude`` (WB2 ``spatial_average``)."""
    for d in (LAT, LON):
        if d not in da.dims:
            raise ValueError(f"spatial_mean needs dim {d!r}; got dims {tuple(da.dims)}")
    w = lat_weights(da[LAT])
    return ((da * w).sum(LAT) / w.sum()).mean(LON)


# --------------------------------------------------------------------------------------------
# deterministic scores
# --------------------------------------------------------------------------------------------


def mse(pred: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Weighted mean squared error per variable: spatial mean per case, then mean over cases."""
    pred = _check_pair(pred, truth)
    return _case_mean(spatial_mean((pred - truth) ** 2))


def rmse(pred: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Root mean squared error per variable, ``sqrt(mse)`` in physical units.

    WB2 convention: the MSE is averaged over cases first and the square root taken last, so
    this is *not* the mean over cases of per-case RMSEs (which is smaller or equal).
    """
    return np.sqrt(mse(pred, truth))


def mae(pred: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Weighted mean absolute error per variable, averaged over cases."""
    pred = _check_pair(pred, truth)
    return _case_mean(spatial_mean(abs(pred - truth)))


def _overall(per_var: xr.Dataset, scale: Mapping[str, float], power: int) -> xr.DataArray:
    _check_scale(scale, per_var.data_vars)
    terms = [per_var[n] / float(scale[n]) ** power for n in per_var.data_vars]
    return xr.concat(terms, dim="variable", coords="minimal", compat="override").mean("variable")


def overall_mse(pred: xr.Dataset, truth: xr.Dataset, scale: Mapping[str, float]) -> xr.DataArray:
    """Align-DA "MSE" column: MSE of the fields normalised by ``scale``, mean over variables.

    ``scale[var]`` is the per-variable standard deviation of the training climatology, so each
    variable contributes ``mse[var] / scale[var]**2`` with equal weight.
    """
    return _overall(mse(pred, truth), scale, power=2)


def overall_mae(pred: xr.Dataset, truth: xr.Dataset, scale: Mapping[str, float]) -> xr.DataArray:
    """Align-DA "MAE" column: mean over variables of ``mae[var] / scale[var]``."""
    return _overall(mae(pred, truth), scale, power=1)


def acc(pred: xr.Dataset, truth: xr.Dataset, climatology: xr.Dataset) -> xr.Dataset:
    """Anomaly correlation coefficient per variable (WB2 style), averaged over cases.

    With anomalies ``a = pred - clim`` and ``b = truth - clim`` (``climatology`` must have the
    same variables and dims that are a subset of the fields' dims, so it broadcasts), per case
    ``ACC = <w a b> / sqrt(<w a^2> <w b^2>)`` where ``<w .>`` is :func:`spatial_mean`. As in
    WB2 the anomalies are not re-centred by their spatial mean. ACC is undefined (NaN) for a
    case in which either anomaly is identically zero.
    """
    pred = _check_pair(pred, truth)
    _check_dataset(climatology, "climatology")
    _check_same_vars(climatology, truth, "climatology", "truth")
    for name in truth.data_vars:
        extra = set(climatology[name].dims) - set(truth[name].dims)
        if extra:
            raise ValueError(
                f"climatology variable {name!r} has dim(s) {_names(extra)} not in truth"
            )
    climatology = aligned_to(climatology, truth, "climatology", "truth")
    fa, oa = pred - climatology, truth - climatology
    num = spatial_mean(fa * oa)
    den = np.sqrt(spatial_mean(fa**2) * spatial_mean(oa**2))
    return _case_mean(num / den.where(den > 0))


# --------------------------------------------------------------------------------------------
# ensemble scores
# --------------------------------------------------------------------------------------------


def ensemble_mean(ens: xr.Dataset) -> xr.Dataset:
    """Mean over the ``member`` dim (a single member is allowed here)."""
    _check_ensemble(ens, min_members=1)
    return ens.mean(MEMBER)


def spread(ens: xr.Dataset) -> xr.Dataset:
    """Ensemble spread per variable: ``sqrt(mean_case(spatial_mean(var_member(ens, ddof=1))))``.

    Like RMSE, the (unbiased) ensemble variance is averaged over space and cases before the
    square root, so spread and :func:`rmse` of the ensemble mean are directly comparable.
    """
    _check_ensemble(ens)
    _check_dataset(ens, "ensemble")
    return np.sqrt(_case_mean(spatial_mean(ens.var(MEMBER, ddof=1))))


def rank_histogram(ens: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Rank histogram (Talagrand diagram) per variable: the area-weighted share of grid points
    (over cases) where the truth has rank r among the M members, r = 0..M (dim ``rank``).

    Flat (1 / (M + 1) each) for a reliable ensemble; U-shaped when it is under-dispersive (the
    truth often outside the members), dome-shaped when over-dispersive, sloped when biased.
    """
    m = _check_ensemble(ens)
    ens = _check_pair(ens, truth, extra_pred_dims=(MEMBER,))
    below = (ens < truth).sum(MEMBER)  # the truth's rank (continuous fields: no ties)
    shares = {}
    for name in _ordered_vars(ens.data_vars):
        onehot = xr.concat([below[name] == r for r in range(m + 1)], dim="rank").astype(float)
        shares[name] = _case_mean(spatial_mean(onehot))
    return xr.Dataset(shares).assign_coords(rank=np.arange(m + 1))


def spread_skill(
    ens: xr.Dataset, truth: xr.Dataset, finite_ensemble_correction: bool = False
) -> xr.Dataset:
    """Spread-skill ratio ``spread(ens) / rmse(ensemble_mean(ens), truth)`` per variable.

    For a perfectly reliable M-member ensemble the expected MSE of the ensemble mean is
    ``(M + 1) / M`` times the expected (unbiased) ensemble variance (Fortin et al. 2014), so the
    plain ratio tends to ``sqrt(M / (M + 1))`` rather than 1. With
    ``finite_ensemble_correction=True`` the ratio is multiplied by ``sqrt((M + 1) / M)`` (the
    correction used in the WB2 paper) so that 1 means a reliable ensemble for any M.
    """
    m = _check_ensemble(ens)
    ens = _check_pair(ens, truth, extra_pred_dims=(MEMBER,))
    ratio = spread(ens) / rmse(ens.mean(MEMBER), truth)
    if finite_ensemble_correction:
        ratio = ratio * np.sqrt((m + 1) / m)
    return ratio


def _pair_abs_diff_sum(x: np.ndarray) -> np.ndarray:
    """``sum_{i,j} |x_i - x_j|`` along the last axis, via sorting (O(M log M), O(M) memory).

    For sorted ``x_(1) <= ... <= x_(M)``: ``sum_{i,j}|x_i - x_j| = 2 sum_i (2i - M - 1) x_(i)``.
    """
    m = x.shape[-1]
    coef = 2.0 * np.arange(1, m + 1) - m - 1
    return 2.0 * (np.sort(x, axis=-1) * coef).sum(axis=-1)


def crps(ens: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Fair (unbiased) ensemble CRPS per variable, spatially weighted and averaged over cases.

    Per grid point ``CRPS = mean_i |x_i - y| - 1 / (2 M (M - 1)) sum_{i,j} |x_i - x_j|``, the
    fair estimator of ``E|X - y| - 0.5 E|X - X'|`` (Zamo & Naveau 2018; WB2 ``CRPSEnsemble``).
    """
    m = _check_ensemble(ens)
    ens = _check_pair(ens, truth, extra_pred_dims=(MEMBER,))
    skill = abs(ens - truth).mean(MEMBER)
    pair_sum = xr.apply_ufunc(_pair_abs_diff_sum, ens, input_core_dims=[[MEMBER]])
    return _case_mean(spatial_mean(skill - pair_sum / (2.0 * m * (m - 1))))


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


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

    Columns: ``MSE`` and ``MAE`` (overall, normalised by ``scale``; see :func:`overall_mse`),
    then ``RMSE <var>`` per variable in physical units (canonical variable order). The
    variable units are stored in ``df.attrs["units"]``. With ``climatology``: ``ACC``, the
    anomaly correlation averaged over the variables. With ``ensembles`` (name -> members on
    the ``member`` dim; rows with fewer than 2 members get NaN): ``spread/skill`` (with the
    finite-ensemble correction, 1 = reliable) and ``CRPS`` (fair, normalised by ``scale``),
    each averaged over the variables.
    """
    if not preds:
        raise ValueError("preds is empty")
    names = _ordered_vars(truth.data_vars) if isinstance(truth, xr.Dataset) else []
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
