"""User observation points from CSV, mapped onto the grid."""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from alignda.obs.checks import (
    ObsError,
    check_positive_int,
)
from alignda.obs.geometry import nearest_grid_index
from alignda.world.grid import Grid
from alignda.world.variables import VARIABLE_NAMES, VARIABLES

#: Most data rows :func:`points_from_csv` accepts unless told otherwise.
DEFAULT_MAX_ROWS = 100_000


@dataclass(eq=False)
class PointObs:
    """User observation points mapped onto the grid.

    ``location_mask`` (nlat, nlon): grid points with any user point. ``mask`` (nvar, nlat,
    nlon): which variable is observed where (all variables for rows without a variable).
    ``values`` (nvar, nlat, nlon): the user's values, NaN where none was given; None when the
    file had no value column. ``n_rows``: data rows read.
    """

    location_mask: np.ndarray
    mask: np.ndarray
    values: np.ndarray | None = None
    n_rows: int = 0

    @property
    def value_mask(self) -> np.ndarray:
        """(nvar, nlat, nlon) True where the user gave a value."""
        if self.values is None:
            return np.zeros(self.mask.shape, dtype=bool)
        return np.isfinite(self.values)

    @property
    def count(self) -> int:
        """Number of observed (variable, grid point) pairs."""
        return int(self.mask.sum())


_COLUMN_ALIASES = {
    "lat": "lat",
    "latitude": "lat",
    "lon": "lon",
    "longitude": "lon",
    "variable": "variable",
    "value": "value",
}


def _read_text(source: str | os.PathLike[str] | TextIO | bytes) -> str:
    looks_like_text = isinstance(source, str) and (
        not source.strip() or "\n" in source or "," in source
    )
    if hasattr(source, "read"):
        data = source.read()
    elif isinstance(source, bytes) or (looks_like_text and not os.path.isfile(source)):
        data = source
    elif isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as fh:
                data = fh.read()
        except OSError as err:
            raise ObsError(f"cannot read CSV file {os.fspath(source)!r}: {err}") from err
    else:
        raise ObsError(f"CSV source must be a path, text or file object, got {type(source)}")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ObsError(f"CSV is not UTF-8 text: {err}") from err
    return str(data).removeprefix("\ufeff")


def _parse_number(cell: str, column: str, where: str) -> float:
    if cell == "":
        raise ObsError(f"{where}: {column} is empty")
    try:
        value = float(cell)
    except ValueError:
        raise ObsError(f"{where}: {column} {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise ObsError(f"{where}: {column} {cell!r} is not finite (NaN or inf)")
    return value


def points_from_csv(
    source: str | os.PathLike[str] | TextIO | bytes,
    grid: Grid,
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> PointObs:
    """Read user observation points from CSV and map them to the nearest grid points.

    ``source`` is a path, CSV text (a string that is blank or has a newline or comma and is
    not a file name), bytes or a file object. The header names the columns ``lat`` and ``lon`` (also
    ``latitude``/``longitude``) and optionally ``variable`` and ``value`` together; names are
    case-insensitive and may carry whitespace. ``lon`` may be in -180..180 or 0..360. A row
    without a variable observes every variable there; a variable with an empty value is
    sampled from the truth; a value is used as the observation as given.

    Raises ObsError naming the row (1-based data row and file line) for: an empty file or no
    data rows, missing lat/lon columns, unknown or repeated columns, a wrong number of fields,
    empty, non-numeric or non-finite numbers, lat outside [-90, 90], lon outside [-180, 360),
    unknown variables, a value without a variable (or a value column without a variable column
    and vice versa), points of one variable on the same grid point with conflicting values, and
    more than ``max_rows`` data rows. Fully blank lines are skipped; nothing else is dropped.
    """
    max_rows = check_positive_int(max_rows, "max_rows")
    text = _read_text(source)
    if not text.strip():
        raise ObsError("CSV is empty: expected a header with lat, lon columns and data rows")
    try:
        rows = csv.reader(io.StringIO(text))
        header: list[str] | None = None
        for header in rows:
            if any(cell.strip() for cell in header):
                break
        assert header is not None
        names = [cell.strip().lower() for cell in header]
        columns: dict[str, int] = {}
        for k, name in enumerate(names):
            if name not in _COLUMN_ALIASES:
                raise ObsError(
                    f"header (line {rows.line_num}): unknown column {header[k].strip()!r}; "
                    f"expected lat, lon and optionally variable, value"
                )
            key = _COLUMN_ALIASES[name]
            if key in columns:
                raise ObsError(f"header (line {rows.line_num}): column {key!r} appears twice")
            columns[key] = k
        missing = [c for c in ("lat", "lon") if c not in columns]
        if missing:
            raise ObsError(
                f"header (line {rows.line_num}): missing column(s) {missing}; "
                f"found {[h.strip() for h in header]}"
            )
        if "value" in columns and "variable" not in columns:
            raise ObsError("header: a 'value' column needs a 'variable' column naming what it is")
        if "variable" in columns and "value" not in columns:
            raise ObsError(
                "header: a 'variable' column needs a 'value' column "
                "(leave a value empty to sample the truth there)"
            )

        lats: list[float] = []
        lons: list[float] = []
        variables: list[str | None] = []
        values: list[float | None] = []
        lines: list[int] = []
        for row in rows:
            if not any(cell.strip() for cell in row):
                continue
            n = len(lats) + 1
            where = f"row {n} (line {rows.line_num})"
            if n > max_rows:
                raise ObsError(f"{where}: more than max_rows={max_rows} data rows")
            if len(row) != len(header):
                raise ObsError(f"{where}: expected {len(header)} fields, got {len(row)}")
            cells = {key: row[k].strip() for key, k in columns.items()}
            lat = _parse_number(cells["lat"], "lat", where)
            lon = _parse_number(cells["lon"], "lon", where)
            if not -90.0 <= lat <= 90.0:
                raise ObsError(f"{where}: lat {lat:g} outside [-90, 90]")
            if not -180.0 <= lon < 360.0:
                raise ObsError(f"{where}: lon {lon:g} outside [-180, 360)")
            var = cells.get("variable", "").lower() or None
            value = None
            if cells.get("value", ""):
                if var is None:
                    raise ObsError(f"{where}: value given without a variable")
                value = _parse_number(cells["value"], "value", where)
            if var is not None and var not in VARIABLES:
                raise ObsError(
                    f"{where}: unknown variable {cells['variable']!r}; "
                    f"known: {list(VARIABLE_NAMES)}"
                )
            lats.append(lat)
            lons.append(lon)
            variables.append(var)
            values.append(value)
            lines.append(rows.line_num)
    except csv.Error as err:
        raise ObsError(f"malformed CSV: {err}") from err
    if not lats:
        raise ObsError("CSV has a header but no data rows")

    ii, jj = nearest_grid_index(grid, np.array(lats), np.array(lons))
    nvar = len(VARIABLE_NAMES)
    mask = np.zeros((nvar, *grid.shape), dtype=bool)
    user = np.full((nvar, *grid.shape), np.nan)
    seen: dict[tuple[int, int, int], tuple[float | None, int]] = {}
    for r, (i, j, var, value) in enumerate(
        zip(ii.tolist(), jj.tolist(), variables, values, strict=True)
    ):
        targets = range(nvar) if var is None else (VARIABLE_NAMES.index(var),)
        for v in targets:
            key = (v, i, j)
            if key in seen and seen[key][0] != value:
                other_value, other = seen[key]
                raise ObsError(
                    f"rows {other + 1} and {r + 1} (lines {lines[other]} and {lines[r]}) give "
                    f"conflicting values for {VARIABLE_NAMES[v]!r} at the same grid point "
                    f"(lat {grid.lat[i]:.2f}, lon {grid.lon[j]:.2f}): "
                    f"{'truth' if other_value is None else other_value} vs "
                    f"{'truth' if value is None else value}"
                )
            seen[key] = (value, r)
            mask[v, i, j] = True
            if value is not None:
                user[v, i, j] = value
    has_values = "value" in columns and bool(np.isfinite(user).any())
    return PointObs(
        location_mask=mask.any(axis=0),
        mask=mask,
        values=user if has_values else None,
        n_rows=len(lats),
    )
