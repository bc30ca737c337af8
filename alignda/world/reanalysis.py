"""Reanalysis fields on any regular lat-lon grid -> :class:`Cases` on the model's Gaussian grid.

Reads netCDF or zarr (ERA5 from the CDS, WeatherBench2, NCEP/NCAR, CMIP-style spellings),
selects one pressure level, turns geopotential (m2 s-2) into geopotential height (m), makes
latitude descending and longitude 0..360, and regrids **conservatively** with ``xarray-regrid``
onto the 64 x 128 Gaussian grid of the twin world (the library wraps the periodic longitude, so
the area mean is kept; see :func:`gaussian_cell_bounds` for the target cells' true edges).

Cases get persistence backgrounds (the truth ``lead_hours`` earlier) or the backgrounds of a
forecast file (valid times, or WeatherBench2-style ``prediction_timedelta`` / GRIB ``step``).
A variable the file lacks can be derived (the default): height from the winds by nonlinear
balance around ``mean_height`` (as the twin world builds its states), the tracer as the world's
pole-to-pole equilibrium (then it carries no information). The fields are of the real
atmosphere: the shipped score-based prior learnt the twin world, so its analyses of them are out
of its training distribution; 3D-Var applies as it does to any field.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.model import WorldConfig
from alignda.world.sphere import GRAVITY, Sphere
from alignda.world.variables import VARIABLE_NAMES, VARIABLES

#: ``Cases.attrs["kind"]`` of cases built here (twin-world cases have no ``kind``).
REANALYSIS_KIND = "reanalysis"
#: What the app should say about such cases.
OUT_OF_DISTRIBUTION_NOTE = (
    "These cases are real-atmosphere fields regridded to the model grid. The score-based prior "
    "was trained on the shallow-water twin world, so its analyses of them are out of its "
    "training distribution; 3D-Var (static B) applies as usual."
)

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
    "level": ("level", "pressure_level", "isobaricinhpa", "plev", "lev", "air_pressure"),
}
_LEAD_DIMS = ("prediction_timedelta", "step", "lead_time")
_GEOPOTENTIAL_UNITS = {"m2s-2", "m2/s2", "m2s^-2", "m^2s^-2", "m^2/s^2", "j/kg", "jkg-1"}
_HEIGHT_UNITS = {"m", "gpm", "metre", "metres", "meter", "meters", "geopotentialmeters", "gpdm"}
_HEIGHT_NAMES = {"geopotential_height", "gh", "hgt", "zg", "height"}
Z_KINDS = ("auto", "geopotential", "height")
#: Source bytes (float64) loaded and regridded at once; large files go block by block in time.
BLOCK_BYTES = 256e6


# --- reading ------------------------------------------------------------------------------------
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


def _select_level(ds: xr.Dataset, level: float | None, where: str) -> xr.Dataset:
    if "level" not in ds.coords and "level" not in ds.dims:
        return ds
    have = _level_hpa(ds)
    listing = ", ".join(f"{v:g}" for v in have)
    if "level" not in ds.dims:  # one level as a scalar coordinate: check it if asked
        if level is not None and not np.isclose(have[0], level):
            raise ValueError(f"{where} holds only the {listing} hPa level, not {level:g} hPa")
        return ds.drop_vars("level")
    if level is None:
        if have.size == 1:
            return ds.isel(level=0, drop=True)
        raise ValueError(f"{where} has levels {listing} hPa: choose one (e.g. level=500)")
    hits = np.flatnonzero(np.isclose(have, level))
    if not hits.size:
        raise ValueError(f"{where}: level {level:g} hPa not found; it has {listing} hPa")
    return ds.isel(level=int(hits[0]), drop=True)


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


@dataclass
class _Source:
    """A file standardised lazily: coordinates sorted, one level, nothing loaded yet."""

    ds: xr.Dataset
    names: dict[str, str]  # world variable -> name in the file
    missing: list[str]
    z_factor: float  # 1 / g for geopotential, 1 for height
    where: str


def _source(
    path: str | Path,
    *,
    level: float | str | None = 500.0,
    names: dict[str, str] | None = None,
    z_kind: str = "auto",
    derive_missing: bool = True,
    lead_hours: int | None = None,
    what: str = "reanalysis",
) -> _Source:
    where = f"{what} {path}"
    ds = _standard_dims(open_any(path), where)
    lead_dim = _find(ds.dims, _LEAD_DIMS)
    if lead_dim is not None:
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
        ds = ds.assign_coords(time=_datetimes(ds, where) + np.timedelta64(lead_hours, "h"))
    else:
        ds = ds.assign_coords(time=_datetimes(ds, where))
    chosen: dict[str, str] = {}
    missing: list[str] = []
    for var in VARIABLE_NAMES:
        want = (names or {}).get(var)
        if want and want not in ds.data_vars:
            raise ValueError(
                f"{where}: no variable {want!r} for {var!r}; it has {list(ds.data_vars)}"
            )
        found = want or _find(ds.data_vars, CANDIDATE_NAMES[var])
        if found is None:
            if var in ("u", "v") or not derive_missing:
                raise ValueError(
                    f"{where}: no variable for {var!r} (tried {list(CANDIDATE_NAMES[var])}; it "
                    f"has {list(ds.data_vars)}); map one with names={{'{var}': NAME}}"
                    + ("" if var in ("u", "v") else " or let it be derived")
                )
            missing.append(var)
            continue
        chosen[var] = found
    out = xr.Dataset({var: ds[name] for var, name in chosen.items()})
    out = _select_level(out, parse_level(level), where)
    out = out.reset_coords(drop=True)  # e.g. ERA5's number / expver
    for var, name in chosen.items():
        extra = sorted(set(out[var].dims) - {"time", "latitude", "longitude"})
        if extra:
            raise ValueError(
                f"{where}: variable {name!r} has extra dimension(s) {extra}; select one value "
                "of each first (e.g. with xarray's .isel) and save the file again"
            )
    geopotential = "z" in chosen and _z_is_geopotential(out["z"], chosen["z"], z_kind, where)
    out = out.assign_coords(longitude=out.longitude.astype(np.float64) % 360.0)
    out = out.assign_coords(latitude=out.latitude.astype(np.float64))
    out = out.sortby("longitude").sortby("latitude", ascending=False).sortby("time")
    _check_grid(out, where)
    return _Source(out, chosen, missing, 1.0 / GRAVITY if geopotential else 1.0, where)


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


def _load(src: _Source, times: slice | np.ndarray = slice(None)) -> xr.Dataset:
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


def open_reanalysis(path: str | Path, **options) -> tuple[xr.Dataset, list[str]]:
    """Read and standardise a file on its own grid: (dataset of the found variables, missing).

    The dataset has dims (time, latitude descending, longitude in 0..360), float64, z in m.
    Options: ``level`` (hPa, e.g. 500 or '500hPa'; None when the file has one), ``names``
    (world variable -> name in the file), ``z_kind`` ('auto' from units and names,
    'geopotential', 'height'), ``derive_missing`` (False: a lacking z or tracer is an error;
    ``missing`` lists them), ``lead_hours`` (a forecast file with a lead dimension,
    ``prediction_timedelta`` or ``step``, is reduced to that lead at valid times).
    Loads the whole file: :func:`reanalysis_on_model_grid` regrids large files block by block.
    """
    src = _source(path, **options)
    return _load(src), src.missing


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


# --- regridding ---------------------------------------------------------------------------------
def gaussian_cell_bounds(grid: Grid | None = None) -> np.ndarray:
    """Latitude edges (nlat + 1, degrees, north first) of the Gaussian grid's cells.

    The edges are where sin(latitude) has accumulated the Gauss weights from the pole, so the
    cell areas are exactly the quadrature weights (they sum to the sphere's area).
    """
    grid = grid or Grid()
    _, w = np.polynomial.legendre.leggauss(grid.nlat)
    mu = 1.0 - np.concatenate([[0.0], np.cumsum(w)])
    return np.rad2deg(np.arcsin(np.clip(mu, -1.0, 1.0)))


def gaussian_cell_areas(grid: Grid | None = None) -> np.ndarray:
    """Fractions of the sphere's area of one cell in each latitude row (nlat,), north first."""
    grid = grid or Grid()
    mu = np.sin(np.deg2rad(gaussian_cell_bounds(grid)))
    return (mu[:-1] - mu[1:]) / 2.0 / grid.nlon


def regrid_to_model(ds: xr.Dataset, grid: Grid | None = None) -> xr.Dataset:
    """Conservative regridding (xarray-regrid) of a global lat-lon dataset onto ``grid``.

    ``ds`` must be global, latitude in any order, longitude in 0..360 or -180..180: the
    library pads the periodic longitude by wrapping, pads missing pole rows and weights the
    latitude overlaps by cell area. Returns float64, latitude descending like the model grid.
    """
    import xarray_regrid  # noqa: F401  (registers the ``.regrid`` accessor; loaded when used)

    grid = grid or Grid()
    target = xr.Dataset(coords=grid.coords())
    out = ds.astype(np.float64).regrid.conservative(target, latitude_coord="latitude", skipna=False)
    out = out.transpose("time", "latitude", "longitude")
    bad = [v for v in out.data_vars if not np.isfinite(out[v].values).all()]
    if bad:
        raise ValueError(f"regridding left NaN in {bad}: is the source grid global?")
    return out.assign_coords(grid.coords())


# --- derived variables --------------------------------------------------------------------------
def height_from_winds(u: np.ndarray, v: np.ndarray, mean_height: float, grid: Grid) -> np.ndarray:
    """Height (m) in nonlinear balance with the rotational part of (u, v), global mean given."""
    sphere = Sphere(grid, dtype=torch.float64)
    with torch.no_grad():
        vrt, _ = sphere.vrtdiv(torch.from_numpy(u), torch.from_numpy(v))
        phi = sphere.to_grid(sphere.balanced_geopotential(vrt)).numpy()
    w = gaussian_cell_areas(grid)[:, None]
    phi = phi - (phi * w).sum(axis=(-2, -1), keepdims=True) / (w.sum() * grid.nlon)
    return mean_height + phi / GRAVITY


def equilibrium_tracer(grid: Grid) -> np.ndarray:
    """The twin world's equilibrium tracer, 0.5 (1 + sin latitude), on the grid (nlat, nlon)."""
    q = 0.5 * (1.0 + np.sin(np.deg2rad(grid.lat)))
    return np.repeat(q[:, None], grid.nlon, axis=1)


def _complete(
    ds: xr.Dataset, missing: list[str], mean_height: float, grid: Grid
) -> tuple[xr.Dataset, list[str]]:
    """Add the missing world variables (see module docstring); returns the dataset and notes."""
    notes: dict[str, str] = {}
    dims = ("time", "latitude", "longitude")
    if "z" in missing:
        ds["z"] = (dims, height_from_winds(ds.u.values, ds.v.values, mean_height, grid))
        notes["z"] = f"z from the winds by nonlinear balance, global mean {mean_height:g} m"
    if "tracer" in missing:
        q = np.broadcast_to(equilibrium_tracer(grid), (ds.sizes["time"], *grid.shape))
        ds["tracer"] = (dims, q.copy())
        notes["tracer"] = "tracer = the world's equilibrium 0.5 (1 + sin lat), no information"
    out = xr.Dataset(coords=ds.coords)
    for var in VARIABLE_NAMES:
        out[var] = ds[var].astype(np.float32)
        out[var].attrs = {**VARIABLES[var], **ds[var].attrs}
        if var in notes:
            out[var].attrs["derived"] = notes[var]
    return out, list(notes.values())


# --- cases --------------------------------------------------------------------------------------
def reanalysis_on_model_grid(
    path: str | Path, *, mean_height: float | None = None, grid: Grid | None = None, **options
) -> tuple[xr.Dataset, dict]:
    """Read, standardise, regrid and complete one file: (z, u, v, tracer dataset, notes).

    ``options`` as for :func:`open_reanalysis`; ``mean_height`` of a height derived from the
    winds (default: the world's mean depth)."""
    grid = grid or Grid()
    src = _source(path, **options)
    nt = src.ds.sizes["time"]
    per_time = 8 * max(1, len(src.names)) * src.ds.sizes["latitude"] * src.ds.sizes["longitude"]
    block = max(1, int(BLOCK_BYTES // per_time))
    parts = [
        regrid_to_model(_load(src, slice(i, i + block)), grid) for i in range(0, max(nt, 1), block)
    ]
    on_grid = xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]
    mean_height = WorldConfig().mean_depth if mean_height is None else mean_height
    out, notes = _complete(on_grid, src.missing, mean_height, grid)
    info = {
        "source_grid": f"{src.ds.sizes['latitude']} x {src.ds.sizes['longitude']} lat-lon",
        "source_names": dict(src.names),
        "derived": notes,
    }
    return out, info


def cases_from_reanalysis(
    path: str | Path,
    out: str | Path | None = None,
    *,
    level: float | str | None = 500.0,
    forecast: str | Path | None = None,
    lead_hours: int = 48,
    names: dict[str, str] | None = None,
    z_kind: str = "auto",
    derive_missing: bool = True,
    mean_height: float | None = None,
    grid: Grid | None = None,
) -> Cases:
    """Cases whose truth is the reanalysis regridded to the model grid (written to ``out``).

    Backgrounds are the truth ``lead_hours`` earlier (persistence) or, with ``forecast``, that
    file's fields valid at the analysis times (regridded the same way). Analysis times are the
    truth times that have a background. See the module docstring for derived variables.
    """
    if lead_hours <= 0:
        raise ValueError(f"lead_hours must be positive, not {lead_hours}")
    kw = dict(level=level, names=names, z_kind=z_kind, derive_missing=derive_missing)
    kw.update(mean_height=mean_height, grid=grid)
    truth, info = reanalysis_on_model_grid(path, **kw)
    if forecast is not None:
        bg, _ = reanalysis_on_model_grid(forecast, lead_hours=lead_hours, what="forecast", **kw)
        bg = bg.sel(time=np.intersect1d(bg.time.values, truth.time.values))
        kind = f"{lead_hours} h forecast from {Path(forecast).name}"
    else:
        shifted = truth.time.values + np.timedelta64(lead_hours, "h")
        bg = truth.assign_coords(time=shifted)
        bg = bg.sel(time=np.intersect1d(shifted, truth.time.values))
        kind = f"persistence ({lead_hours} h)"
    if bg.sizes["time"] == 0:
        steps = np.unique(np.diff(truth.time.values)).astype("timedelta64[h]")
        raise ValueError(
            f"no analysis time in {path} has a background ({kind}): truth times "
            f"{_span(truth.time.values)}, steps {[str(s) for s in steps[:4]]}"
            + ("" if forecast is None else f"; forecast valid at {_span(bg.time.values)}")
        )
    bg.attrs.update(lead_hours=lead_hours, description=kind)
    truth.attrs.update(description=f"reanalysis from {Path(path).name}")
    attrs = {
        "kind": REANALYSIS_KIND,
        "source": str(path),
        "background": kind,
        "level_hpa": "none" if parse_level(level) is None else f"{parse_level(level):g}",
        "regridding": f"conservative (xarray-regrid) from {info['source_grid']} to the "
        f"{truth.sizes['latitude']} x {truth.sizes['longitude']} Gaussian grid",
        "source_names": ", ".join(f"{k}={v}" for k, v in info["source_names"].items()),
        "derived": "; ".join(info["derived"]) or "none",
        "note": OUT_OF_DISTRIBUTION_NOTE,
    }
    cases = Cases(truth, bg, attrs)
    if out is not None:
        cases.save(out)
    return cases


def _span(times: np.ndarray) -> str:
    if not len(times):
        return "(none)"
    return f"{np.datetime_as_string(times[0], 'h')}..{np.datetime_as_string(times[-1], 'h')}"


def is_reanalysis(cases: Cases) -> bool:
    """Whether the cases hold real-atmosphere fields (built here), not twin-world states."""
    return cases.attrs.get("kind") == REANALYSIS_KIND
