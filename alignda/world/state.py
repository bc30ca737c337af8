"""Conversion between stacked state arrays (..., C, nlat, nlon) and CF-annotated xarray Datasets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from alignda.world.grid import Grid
from alignda.world.variables import VARIABLE_NAMES, VARIABLES, check_variables


def to_dataset(
    array: np.ndarray,
    grid: Grid | None = None,
    *,
    lat: np.ndarray | None = None,
    lon: np.ndarray | None = None,
    variables: Sequence[str] = VARIABLE_NAMES,
    leading: Sequence[tuple[str, np.ndarray]] = (),
    attrs: dict | None = None,
) -> xr.Dataset:
    """Stacked array (*leading, C, nlat, nlon) -> Dataset with one variable per channel.

    ``leading`` names the leading dims with their coordinate values (e.g. ``[("time", t)]``).
    Coordinates come from ``grid`` (default grid) unless ``lat``/``lon`` are given.
    """
    array = np.asarray(array)
    check_variables(list(variables))
    nlead = len(leading)
    if array.ndim != nlead + 3 or array.shape[nlead] != len(variables):
        raise ValueError(
            f"array of shape {array.shape} does not match leading dims "
            f"{[d for d, _ in leading]} + ({len(variables)} variables, lat, lon)"
        )
    grid = grid or Grid(array.shape[-2], array.shape[-1])
    coords: dict = {}
    if lat is None and lon is None:
        coords.update(grid.coords())
    else:
        coords["latitude"] = ("latitude", np.asarray(lat), {"units": "degrees_north"})
        coords["longitude"] = ("longitude", np.asarray(lon), {"units": "degrees_east"})
    for name, values in leading:
        coords[name] = (name, np.asarray(values))
    dims = (*[d for d, _ in leading], "latitude", "longitude")
    data = {
        v: (dims, np.take(array, i, axis=nlead), dict(VARIABLES[v]))
        for i, v in enumerate(variables)
    }
    return xr.Dataset(data, coords=coords, attrs=attrs or {})


def stack(ds: xr.Dataset, variables: Sequence[str] = VARIABLE_NAMES) -> np.ndarray:
    """Dataset -> float32 array (..., C, latitude, longitude) in the order of ``variables``."""
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise ValueError(f"dataset lacks variable(s) {missing}; it has {list(ds.data_vars)}")
    arrays = [ds[v].transpose(..., "latitude", "longitude").values for v in variables]
    return np.stack(arrays, axis=-3).astype(np.float32)
