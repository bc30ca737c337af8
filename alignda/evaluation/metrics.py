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
* Inputs are validated (:mod:`alignda.evaluation.checks`): mismatched variables, dims or
  coordinates and non-finite values (NaN/inf) raise ``ValueError``; nothing is silently
  skipped.

Ensemble scores are in :mod:`alignda.evaluation.ensemble`, score tables in
:mod:`alignda.evaluation.scorecard`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import numpy as np
import torch
import xarray as xr
from numpy.typing import ArrayLike

from alignda.evaluation.checks import CASE, LAT, LON, check_climatology, check_pair, check_scale
from alignda.world.grid import Grid, cell_area_weights
from alignda.world.variables import VARIABLE_NAMES, VARIABLES

__all__ = [
    "acc",
    "case_mean",
    "lat_weights",
    "mae",
    "mse",
    "normalised_msq",
    "ordered_vars",
    "overall_mae",
    "overall_mse",
    "rmse",
    "spatial_mean",
    "weighted_msq",
]

#: The dim the variables are stacked on for scores that combine them.
VARIABLE = "variable"


def case_mean(x: xr.Dataset) -> xr.Dataset:
    """Mean over ``case`` if present; input attrs (e.g. field units) are dropped."""
    x = x.mean(CASE) if CASE in x.dims else x
    return x.drop_attrs() if isinstance(x, xr.Dataset) else x


def ordered_vars(names: Iterable[Hashable]) -> list[Hashable]:
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


def weighted_msq(
    x: torch.Tensor, truth: torch.Tensor, lat: np.ndarray | None = None
) -> torch.Tensor:
    """Cell-area-weighted mean square of ``x - truth`` per state and variable (..., C) of fields
    (..., C, nlat, nlon) on latitudes ``lat`` (default: the Gaussian grid of their shape);
    differentiable (tensors of any float dtype)."""
    w = Grid(*x.shape[-2:]).weights if lat is None else cell_area_weights(lat)
    w = torch.as_tensor(w, dtype=x.dtype, device=x.device)[:, None]
    return ((x - truth) ** 2 * w).mean(dim=(-2, -1)) / w.mean()


def normalised_msq(
    x: torch.Tensor, truth: torch.Tensor, scale: ArrayLike, lat: np.ndarray | None = None
) -> torch.Tensor:
    """The normalised MSE of each state (...): the area-weighted MSE (:func:`weighted_msq`) of
    each variable divided by its ``scale`` (C,) squared, averaged over the variables;
    differentiable. The one definition behind :func:`overall_mse`, the forecast reward and the
    fine-tune's error terms (:mod:`alignda.alignment.rewards`)."""
    s = torch.as_tensor(np.asarray(scale), dtype=x.dtype, device=x.device)
    return (weighted_msq(x, truth, lat) / s**2).mean(-1)


# --------------------------------------------------------------------------------------------
# deterministic scores
# --------------------------------------------------------------------------------------------


def mse(pred: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Weighted mean squared error per variable: spatial mean per case, then mean over cases."""
    pred = check_pair(pred, truth)
    return case_mean(spatial_mean((pred - truth) ** 2))


def rmse(pred: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Root mean squared error per variable, ``sqrt(mse)`` in physical units.

    WB2 convention: the MSE is averaged over cases first and the square root taken last, so
    this is *not* the mean over cases of per-case RMSEs (which is smaller or equal).
    """
    return np.sqrt(mse(pred, truth))


def mae(pred: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Weighted mean absolute error per variable, averaged over cases."""
    pred = check_pair(pred, truth)
    return case_mean(spatial_mean(abs(pred - truth)))


def overall_mse(pred: xr.Dataset, truth: xr.Dataset, scale: Mapping[str, float]) -> xr.DataArray:
    """Align-DA "MSE" column: MSE of the fields normalised by ``scale``, mean over variables.

    ``scale[var]`` is the per-variable standard deviation of the training climatology, so each
    variable contributes ``mse[var] / scale[var]**2`` with equal weight: :func:`normalised_msq`
    of each case (in float64), averaged over cases.
    """
    pred = check_pair(pred, truth)
    check_scale(scale, pred.data_vars)
    names = list(pred.data_vars)
    s, lat = [float(scale[n]) for n in names], truth[LAT].values

    def per_case(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        x, t = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (x, t))
        return normalised_msq(x, t, s, lat).numpy()

    x, t = (ds[names].to_array(VARIABLE) for ds in (pred, truth))
    core = [VARIABLE, LAT, LON]
    return case_mean(xr.apply_ufunc(per_case, x, t, input_core_dims=[core, core]))


def overall_mae(pred: xr.Dataset, truth: xr.Dataset, scale: Mapping[str, float]) -> xr.DataArray:
    """Align-DA "MAE" column: mean over variables of ``mae[var] / scale[var]``."""
    per_var = mae(pred, truth)
    check_scale(scale, per_var.data_vars)
    terms = [per_var[n] / float(scale[n]) for n in per_var.data_vars]
    return xr.concat(terms, dim=VARIABLE, coords="minimal", compat="override").mean(VARIABLE)


def acc(pred: xr.Dataset, truth: xr.Dataset, climatology: xr.Dataset) -> xr.Dataset:
    """Anomaly correlation coefficient per variable (WB2 style), averaged over cases.

    With anomalies ``a = pred - clim`` and ``b = truth - clim`` (``climatology`` must have the
    same variables and dims that are a subset of the fields' dims, so it broadcasts), per case
    ``ACC = <w a b> / sqrt(<w a^2> <w b^2>)`` where ``<w .>`` is :func:`spatial_mean`. As in
    WB2 the anomalies are not re-centred by their spatial mean. ACC is undefined (NaN) for a
    case in which either anomaly is identically zero.
    """
    pred = check_pair(pred, truth)
    climatology = check_climatology(climatology, truth)
    fa, oa = pred - climatology, truth - climatology
    num = spatial_mean(fa * oa)
    den = np.sqrt(spatial_mean(fa**2) * spatial_mean(oa**2))
    return case_mean(num / den.where(den > 0))
