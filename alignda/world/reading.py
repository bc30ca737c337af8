"""Reading real files: netCDF or zarr, any regular lat-lon grid, one or several files.

Standardises what reanalysis and forecast files hold (ERA5 from the CDS, WeatherBench2,
NCEP/NCAR, CMIP-style spellings) into float64 fields (time, latitude descending, longitude
0..360) of one pressure level, z in metres; u and v may come from separate files. Nothing is
regridded here: see :mod:`alignda.world.reanalysis`.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from alignda.world.grid import same_coordinate
from alignda.world.sphere import GRAVITY
from alignda.world.variables import VARIABLE_NAMES, VARIABLES

#: Names tried for each world variable (first found wins): ERA5 / WeatherBench2, CF standard
#: names, NCEP/NCAR, CMIP.
CANDIDATE_NAMES: dict[str, tuple[str, ...]] = {
    "z": ("geopotential", "z", "geopotential_height", "gh", "hgt", "zg", "height"),
    "u": ("u_component_of_wind", "u", "eastward_wind", "uwnd", "ua"),
    "v": ("v_component_of_wind", "v", "northward_wind", "vwnd", "va"),
    "tracer": ("tracer", "specific_humidity", "q", "shum", "hus"),
}
_DIM_ALIASES: dict[str, tuple[str, ...]] = {
    "latitude": ("latitude", "lat"),
    "longitude": ("longitude", "lon"),
    "level": (
        "level",
        "pressure_level",
        "isobaricinhpa",
        "plev",
        "lev",
        "pressure",
        "air_pressure",
    ),
}
_LEAD_DIMS = ("prediction_timedelta", "step", "lead_time")
_GEOPOTENTIAL_UNITS = {"m2s-2", "m2/s2", "m2s^-2", "m^2s^-2", "m^2/s^2", "j/kg", "jkg-1"}
_HEIGHT_UNITS = {"m", "gpm", "metre", "metres", "meter", "meters", "geopotentialmeters", "gpdm"}
_HEIGHT_NAMES = {"geopotential_height", "gh", "hgt", "zg", "height"}
Z_KINDS = ("auto", "geopotential", "height")


def open_any(path: str | Path) -> xr.Dataset:
    """Open a netCDF file or a zarr store (lazily; nothing is loaded yet)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no dataset at {path}")
    is_zarr = path.suffix == ".zarr" or (
        path.is_dir() and any((path / m).exists() for m in (".zgroup", "zarr.json"))
    )
    if is_zarr:
        if importlib.util.find_spec("zarr") is None:
            raise ValueError(
                f"reading the zarr store {path} needs the zarr package: pip install zarr"
            )
        return xr.open_dataset(path, engine="zarr", chunks=None)
    try:
        return xr.open_dataset(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable netCDF file or zarr store: {err}") from err


def _find(names, aliases: tuple[str, ...]) -> str | None:
    lower = {str(n).lower(): n for n in names}
    return next((lower[a] for a in aliases if a in lower), None)


def _standard_dims(ds: xr.Dataset, where: str) -> xr.Dataset:
    """Rename latitude / longitude / level to the standard names; time from valid_time."""
    rename = {}
    for std, aliases in _DIM_ALIASES.items():
        if std in ds.dims or (std == "level" and std in ds.coords):
            continue
        found = _find(list(ds.dims) + list(ds.coords), aliases)
        if found is not None and found != std:
            rename[found] = std
    if "time" not in ds.dims and "valid_time" in ds.dims:
        rename["valid_time"] = "time"
        ds = ds.drop_vars([c for c in ("time",) if c in ds.coords])  # e.g. a scalar init time
    ds = ds.rename(rename)
    for dim in ("latitude", "longitude"):
        if dim not in ds.dims:
            raise ValueError(
                f"{where}: no {dim} dimension (dims: {list(ds.dims)}); a regular lat-lon grid with "
                "1-D latitude and longitude is needed"
            )
    if "time" not in ds.dims:
        if "time" in ds.coords and ds["time"].ndim == 0:
            ds = ds.expand_dims("time")
        else:
            raise ValueError(f"{where}: no time dimension (dims: {list(ds.dims)})")
    return ds


def _level_hpa(ds: xr.Dataset) -> np.ndarray:
    """The level coordinate in hPa (Pa is recognised by its units or by values above 2000)."""
    values = np.atleast_1d(ds["level"].values).astype(np.float64)
    units = str(ds["level"].attrs.get("units", "")).strip().lower()
    hpa_units = ("hpa", "mbar", "mb", "millibar", "millibars")
    if units in ("pa", "pascal", "pascals") or (units not in hpa_units and values.max() > 2000):
        values = values / 100.0
    return values


def parse_level(level: float | str | None) -> float | None:
    """A pressure level in hPa from 500, '500', '500hPa', '500 hPa', '50000Pa' or None."""
    if level is None or isinstance(level, (int, float, np.number)):
        return None if level is None else float(level)
    m = re.fullmatch(r"\s*([0-9.]+)\s*(hpa|mb|mbar|pa)?\s*", str(level).lower())
    if not m:
        raise ValueError(f"level {level!r} is not a pressure like 500, '500hPa' or '50000Pa'")
    value = float(m.group(1))
    return value / 100.0 if m.group(2) == "pa" else value


def _select_level(
    ds: xr.Dataset, level: float | None, where: str
) -> tuple[xr.Dataset, float | None]:
    """One level of ``ds`` and its pressure in hPa (None when the file names no level)."""
    if "level" not in ds.coords and "level" not in ds.dims:
        return ds, None
    have = _level_hpa(ds)
    listing = ", ".join(f"{v:g}" for v in have)
    if "level" not in ds.dims:  # one level as a scalar coordinate: check it if asked
        if level is not None and not np.isclose(have[0], level):
            raise ValueError(f"{where} holds only the {listing} hPa level, not {level:g} hPa")
        return ds.drop_vars("level"), float(have[0])
    if level is None:
        if have.size == 1:
            return ds.isel(level=0, drop=True), float(have[0])
        raise ValueError(f"{where} has levels {listing} hPa: choose one (e.g. level=500)")
    hits = np.flatnonzero(np.isclose(have, level))
    if not hits.size:
        raise ValueError(f"{where}: level {level:g} hPa not found; it has {listing} hPa")
    return ds.isel(level=int(hits[0]), drop=True), float(have[hits[0]])


def _z_is_geopotential(da: xr.DataArray, name: str, z_kind: str, where: str) -> bool:
    if z_kind not in Z_KINDS:
        raise ValueError(f"z_kind must be one of {Z_KINDS}, not {z_kind!r}")
    if z_kind != "auto":
        return z_kind == "geopotential"
    units = re.sub(r"[\s*]", "", str(da.attrs.get("units", ""))).lower()
    if units in _GEOPOTENTIAL_UNITS:
        return True
    if units in _HEIGHT_UNITS:
        return False
    standard = str(da.attrs.get("standard_name", "")).lower()
    if standard in ("geopotential", "geopotential_height"):
        return standard == "geopotential"
    if units:
        raise ValueError(
            f"{where}: variable {name!r} has units {da.attrs['units']!r}, neither geopotential "
            "(m2 s-2) nor height (m); say which with z_kind='geopotential' or 'height'"
        )
    return name.lower() not in _HEIGHT_NAMES


Paths = str | Path | Sequence[str | Path]


def as_paths(paths: Paths) -> list[Path]:
    """One path or several, as a non-empty list of paths."""
    out = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not out:
        raise ValueError("no input file given")
    return out


@dataclass
class Source:
    """Files standardised lazily: coordinates sorted, one level, nothing loaded yet."""

    ds: xr.Dataset
    names: dict[str, str]  # world variable -> name in its file
    missing: list[str]
    z_factor: float  # 1 / g for geopotential, 1 for height
    where: str
    level_hpa: float | None  # the files' level, else the one asked for (None: unknown)


def _open_one(path: Path, lead_hours: int | None, where: str) -> xr.Dataset:
    """One file with standard dimensions, at valid times (a lead dimension reduced)."""
    ds = _standard_dims(open_any(path), where)
    lead_dim = _find(ds.dims, _LEAD_DIMS)
    if lead_dim is None:
        return ds.assign_coords(time=_datetimes(ds, where))
    if lead_hours is None:
        raise ValueError(f"{where} has a lead dimension {lead_dim!r}: give lead_hours")
    leads = ds[lead_dim].values
    if not np.issubdtype(leads.dtype, np.timedelta64):
        leads = (leads * 3600e9).astype("timedelta64[ns]")  # hours
    hit = np.flatnonzero(leads == np.timedelta64(lead_hours, "h"))
    if not hit.size:
        have = sorted({int(x / np.timedelta64(1, "h")) for x in leads})
        raise ValueError(f"{where}: no {lead_hours} h lead; it has leads {have} h")
    ds = ds.isel({lead_dim: int(hit[0])}, drop=True)
    ds = ds.drop_vars([c for c in ("valid_time",) if c in ds.coords])
    return ds.assign_coords(time=_datetimes(ds, where) + np.timedelta64(lead_hours, "h"))


def _choose(
    files: list[xr.Dataset], names: dict[str, str], derive_missing: bool, where: str
) -> tuple[dict[str, tuple[int, str]], list[str]]:
    """Which file and variable holds each world variable (the first file that has it wins),
    and which are missing. Winds come as a pair; without them the height must be there."""
    have = [str(v) for ds in files for v in ds.data_vars]
    chosen: dict[str, tuple[int, str]] = {}
    for var in VARIABLE_NAMES:
        want = names.get(var)
        for i, ds in enumerate(files):
            if want:
                found = want if want in ds.data_vars else None
            else:
                found = _find(ds.data_vars, CANDIDATE_NAMES[var])
            if found is not None:
                chosen[var] = (i, str(found))
                break
        else:
            if want:
                raise ValueError(f"{where}: no variable {want!r} for {var!r}; it has {have}")
    missing = [var for var in VARIABLE_NAMES if var not in chosen]
    hint = "map one with --names {0}=NAME (Python: names={{'{0}': NAME}})"
    winds = [var for var in ("u", "v") if var in chosen]
    if len(winds) == 1:
        other = "v" if winds == ["u"] else "u"
        raise ValueError(
            f"{where}: {winds[0]} ({chosen[winds[0]][1]}) but no variable for {other!r} (tried "
            f"{list(CANDIDATE_NAMES[other])}; it has {have}): give the file that holds it as "
            f"another input, or {hint.format(other)}"
        )
    if not winds and "z" not in chosen:
        raise ValueError(
            f"{where}: neither winds nor a height (tried {list(CANDIDATE_NAMES['u'])} and "
            f"{list(CANDIDATE_NAMES['z'])}; it has {have}); {hint.format('z')}"
        )
    if missing and not derive_missing:
        var = missing[0]
        raise ValueError(
            f"{where}: no variable for {var!r} (tried {list(CANDIDATE_NAMES[var])}; it has "
            f"{have}); {hint.format(var)}, or let it be derived (not strict)"
        )
    return chosen, missing


def _standard_part(
    ds: xr.Dataset, mine: dict[str, str], level: float | None, where: str
) -> tuple[xr.Dataset, float | None]:
    """The chosen variables of one file at one level, coordinates sorted, grid checked."""
    part, level_hpa = _select_level(
        xr.Dataset({var: ds[name] for var, name in mine.items()}), level, where
    )
    part = part.reset_coords(drop=True)  # e.g. ERA5's number / expver
    for var, name in mine.items():
        extra = sorted(set(part[var].dims) - {"time", "latitude", "longitude"})
        if extra:
            raise ValueError(
                f"{where}: variable {name!r} has extra dimension(s) {extra}; select one value "
                "of each first (e.g. with xarray's .isel) and save the file again"
            )
    part = part.assign_coords(longitude=part.longitude.astype(np.float64) % 360.0)
    part = part.assign_coords(latitude=part.latitude.astype(np.float64))
    part = part.sortby("longitude").sortby("latitude", ascending=False).sortby("time")
    _check_grid(part, where)
    return part, level_hpa


def _merge(parts: list[xr.Dataset], where: str) -> xr.Dataset:
    """Several files' variables on one grid and their common times."""
    first = parts[0]
    for part in parts[1:]:
        for dim in ("latitude", "longitude"):
            if not same_coordinate(first[dim].values, part[dim].values):
                raise ValueError(f"{where}: the files are on different grids ({dim} differs)")
    parts = [p.assign_coords(latitude=first.latitude, longitude=first.longitude) for p in parts]
    merged = xr.merge(parts, join="inner", compat="override")
    if merged.sizes["time"] == 0:
        raise ValueError(f"{where}: the files have no time in common")
    return merged


def open_source(
    paths: Paths,
    *,
    level: float | str | None = 500.0,
    names: dict[str, str] | None = None,
    z_kind: str = "auto",
    derive_missing: bool = True,
    lead_hours: int | None = None,
    what: str = "reanalysis",
) -> Source:
    """Open, standardise and check one file or several lazily (see :func:`open_reanalysis`)."""
    paths = as_paths(paths)
    label = [f"{what} {p}" for p in paths]
    where = f"{what} {', '.join(map(str, paths))}"
    files = [_open_one(p, lead_hours, w) for p, w in zip(paths, label, strict=True)]
    chosen, missing = _choose(files, names or {}, derive_missing, where)
    parts, levels = [], set()
    for i, ds in enumerate(files):
        mine = {var: name for var, (j, name) in chosen.items() if j == i}
        if mine:
            part, level_hpa = _standard_part(ds, mine, parse_level(level), label[i])
            parts.append(part)
            levels.add(level_hpa)
    if len(levels) > 1:
        named = sorted(f"{lv:g} hPa" for lv in levels if lv is not None)
        raise ValueError(f"{where}: the files hold different levels ({', '.join(named)})")
    out = _merge(parts, where) if len(parts) > 1 else parts[0]
    geopotential = "z" in chosen and _z_is_geopotential(out["z"], chosen["z"][1], z_kind, where)
    names_used = {var: name for var, (_, name) in chosen.items()}
    factor = 1.0 / GRAVITY if geopotential else 1.0
    level_hpa = next(iter(levels))
    if level_hpa is None:
        level_hpa = parse_level(level)
    return Source(out, names_used, missing, factor, where, level_hpa)


def _datetimes(ds: xr.Dataset, where: str) -> np.ndarray:
    """The time coordinate as datetime64[ns] (cftime calendars converted)."""
    values = ds["time"].values
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[ns]")
    try:
        index = ds.indexes["time"]
        try:
            converted = index.to_datetimeindex(unsafe=True, time_unit="ns")
        except TypeError:  # xarray before time_unit
            converted = index.to_datetimeindex(unsafe=True)
        return np.asarray(converted, dtype="datetime64[ns]")
    except (AttributeError, KeyError, ValueError) as err:
        raise ValueError(f"{where}: times {values[:2]} are not dates ({err})") from None


def load_source(src: Source, times: slice | np.ndarray = slice(None)) -> xr.Dataset:
    """Load (some times of) a source: float64, z in metres, finite values checked."""
    out = src.ds.isel(time=times).load()
    for var, name in src.names.items():
        da = out[var].transpose("time", "latitude", "longitude").astype(np.float64)
        out[var] = da * src.z_factor if var == "z" else da
        out[var].attrs = dict(VARIABLES[var], source_name=name)
        if not np.isfinite(out[var].values).all():
            raise ValueError(
                f"{src.where}: variable {name!r} contains NaN or inf (missing values?)"
            )
    return out


def open_reanalysis(paths: Paths, **options) -> tuple[xr.Dataset, list[str]]:
    """Read and standardise one file or several (e.g. u and v apart) on their own grid:
    (dataset of the found variables, the missing ones).

    The dataset has dims (time, latitude descending, longitude in 0..360), float64, z in m.
    Options: ``level`` (hPa, e.g. 500 or '500hPa'; None when the file has one), ``names``
    (world variable -> name in the files; the first file that has a variable gives it),
    ``z_kind`` ('auto' from units and names,
    'geopotential', 'height'), ``derive_missing`` (False: a lacking z or tracer is an error;
    ``missing`` lists them), ``lead_hours`` (a forecast file with a lead dimension,
    ``prediction_timedelta`` or ``step``, is reduced to that lead at valid times).
    Loads the whole file: :func:`reanalysis_on_model_grid` regrids large files block by block.
    """
    src = open_source(paths, **options)
    return load_source(src), src.missing


def _check_grid(ds: xr.Dataset, where: str) -> None:
    """Refuse grids that cannot cover the globe (regional, duplicated, too coarse)."""
    lat, lon = ds.latitude.values, ds.longitude.values
    if lat.size < 3 or lon.size < 4:
        raise ValueError(f"{where}: grid of {lat.size} x {lon.size} points is too small")
    if np.unique(lon).size != lon.size or np.unique(lat).size != lat.size:
        raise ValueError(f"{where}: repeated latitudes or longitudes (e.g. both 0 and 360)")
    dlat = np.abs(np.diff(lat)).max()
    if lat.max() < 90 - dlat or lat.min() > -90 + dlat:
        raise ValueError(
            f"{where} covers latitudes {lat.min():g}..{lat.max():g} only; the model grid is global"
        )
    gaps = np.diff(np.concatenate([lon, [lon[0] + 360.0]]))
    if gaps.max() > 1.5 * np.median(gaps):
        raise ValueError(
            f"{where} covers longitudes {lon.min():g}..{lon.max():g} (gap of {gaps.max():g} deg); "
            "the model grid is global"
        )
