"""Ensemble verification scores (WB2 conventions, see :mod:`alignda.evaluation.metrics`):
ensemble mean, spread, rank histogram, spread-skill ratio and the fair CRPS.

Ensembles are ``xr.Dataset`` objects with a ``member`` dim on top of the truth's dims.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from alignda.evaluation.checks import LAT, LON, MEMBER, check_dataset, check_pair
from alignda.evaluation.metrics import case_mean, ordered_vars, rmse, spatial_mean

__all__ = [
    "crps",
    "ensemble_mean",
    "rank_histogram",
    "spread",
    "spread_error_correlation",
    "spread_skill",
]


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
    check_dataset(ens, "ensemble")
    return np.sqrt(case_mean(spatial_mean(ens.var(MEMBER, ddof=1))))


def rank_histogram(ens: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Rank histogram (Talagrand diagram) per variable: the area-weighted share of grid points
    (over cases) where the truth has rank r among the M members, r = 0..M (dim ``rank``).

    Flat (1 / (M + 1) each) for a reliable ensemble; U-shaped when it is under-dispersive (the
    truth often outside the members), dome-shaped when over-dispersive, sloped when biased.
    """
    m = _check_ensemble(ens)
    ens = check_pair(ens, truth, extra_pred_dims=(MEMBER,))
    below = (ens < truth).sum(MEMBER)  # the truth's rank (continuous fields: no ties)
    shares = {}
    for name in ordered_vars(ens.data_vars):
        onehot = xr.concat([below[name] == r for r in range(m + 1)], dim="rank").astype(float)
        shares[name] = case_mean(spatial_mean(onehot))
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
    ens = check_pair(ens, truth, extra_pred_dims=(MEMBER,))
    ratio = spread(ens) / rmse(ens.mean(MEMBER), truth)
    if finite_ensemble_correction:
        ratio = ratio * np.sqrt((m + 1) / m)
    return ratio


def spread_error_correlation(ens: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Whether the ensemble knows *where* its error is: per variable, the correlation over the
    grid of the local spread (member std) with the local absolute error of the ensemble mean,
    both with their zonal means removed (so the latitude of the jets does not count as
    knowing where), pooled over grid points without weights, averaged over cases."""
    _check_ensemble(ens)
    ens = check_pair(ens, truth, extra_pred_dims=(MEMBER,))
    s = ens.std(MEMBER, ddof=1)
    e = abs(ens.mean(MEMBER) - truth)
    s, e = s - s.mean(LON), e - e.mean(LON)
    grid = (LAT, LON)
    r = (s * e).sum(grid) / np.sqrt((s**2).sum(grid) * (e**2).sum(grid))
    return case_mean(r)


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
    ens = check_pair(ens, truth, extra_pred_dims=(MEMBER,))
    skill = abs(ens - truth).mean(MEMBER)
    pair_sum = xr.apply_ufunc(_pair_abs_diff_sum, ens, input_core_dims=[[MEMBER]])
    return case_mean(spatial_mean(skill - pair_sum / (2.0 * m * (m - 1))))
