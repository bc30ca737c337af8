"""Input checks of the verification scores (:mod:`alignda.evaluation.metrics`,
:mod:`alignda.evaluation.ensemble`): datasets, (prediction, truth) pairs, scales, and the
names of the dims they use. Every check raises ``ValueError`` (``TypeError`` for a non-Dataset)
with what is wrong; nothing is silently skipped.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

import numpy as np
import xarray as xr

from alignda.world.grid import same_coordinate

LAT = "latitude"
LON = "longitude"
CASE = "case"
MEMBER = "member"


def _names(xs: Iterable[Hashable]) -> list[str]:
    return sorted(str(x) for x in xs)


def check_dataset(ds: xr.Dataset, what: str) -> None:
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


def check_same_vars(a: xr.Dataset, b: xr.Dataset, na: str, nb: str) -> None:
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


def check_pair(
    pred: xr.Dataset, truth: xr.Dataset, extra_pred_dims: tuple[str, ...] = ()
) -> xr.Dataset:
    """Validate a (prediction, truth) pair; pred may have ``extra_pred_dims`` on top.
    Returns ``pred`` on the truth's coordinates (:func:`aligned_to`)."""
    check_dataset(pred, "pred")
    check_dataset(truth, "truth")
    check_same_vars(pred, truth, "pred", "truth")
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


def check_scale(scale: Mapping[str, float], names: Iterable[Hashable]) -> None:
    missing = [str(n) for n in names if n not in scale]
    if missing:
        raise ValueError(f"scale lacks variable(s) {missing}")
    bad = {str(n): scale[n] for n in names if not (np.isfinite(scale[n]) and scale[n] > 0)}
    if bad:
        raise ValueError(f"scale must be finite and > 0; bad: {bad}")


def check_climatology(climatology: xr.Dataset, truth: xr.Dataset) -> xr.Dataset:
    """Validate a climatology against the truth (same variables, dims a subset of the truth's,
    so it broadcasts); returns it on the truth's coordinates (:func:`aligned_to`)."""
    check_dataset(climatology, "climatology")
    check_same_vars(climatology, truth, "climatology", "truth")
    for name in truth.data_vars:
        extra = set(climatology[name].dims) - set(truth[name].dims)
        if extra:
            raise ValueError(
                f"climatology variable {name!r} has dim(s) {_names(extra)} not in truth"
            )
    return aligned_to(climatology, truth, "climatology", "truth")
