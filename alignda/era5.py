"""Real-data path: ERA5 / WeatherBench2-style datasets (netCDF or zarr) into :class:`Cases`.

Variables are chosen by name, one pressure level is selected, geopotential (m2 s-2) becomes
geopotential height (m), latitude is made descending and longitude 0..360. No regridding:
the cases keep the dataset's own grid. Backgrounds come from a forecast dataset valid at
the analysis times, or, when none is given, persistence (the truth ``lead_hours`` earlier).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from alignda.cases import Cases
from alignda.sphere import GRAVITY
from alignda.variables import VARIABLE_NAMES, VARIABLES

#: Names tried for each world variable, ERA5 (CDS / WeatherBench2) spellings first.
CANDIDATE_NAMES: dict[str, tuple[str, ...]] = {
    "z": ("geopotential", "z", "geopotential_height", "gh"),
    "u": ("u_component_of_wind", "u", "eastward_wind"),
    "v": ("v_component_of_wind", "v", "northward_wind"),
    "tracer": ("specific_humidity", "q", "tracer"),
}
_DIM_ALIASES = {
    "lat": "latitude",
    "lon": "longitude",
    "valid_time": "time",
    "pressure_level": "level",
    "isobaricInhPa": "level",
    "plev": "level",
}


def _open(path: str | Path) -> xr.Dataset:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no dataset at {path}")
    if path.suffix == ".zarr" or (path.is_dir() and (path / ".zgroup").exists()):
        return xr.open_zarr(path)
    return xr.open_dataset(path)


def open_reanalysis(
    path: str | Path,
    names: dict[str, str] | None = None,
    level: float | None = 500.0,
) -> xr.Dataset:
    """Read and standardise a reanalysis into the world's variables (z, u, v, tracer).

    ``names`` maps world variable -> dataset variable; unmapped ones are looked up in
    :data:`CANDIDATE_NAMES`. ``level`` (hPa) is selected when the data have a level dim.
    """
    ds = _open(path)
    ds = ds.rename({k: v for k, v in _DIM_ALIASES.items() if k in ds.dims or k in ds.coords})
    for dim in ("time", "latitude", "longitude"):
        if dim not in ds.dims:
            raise ValueError(f"{path}: dimension '{dim}' not found (dims: {list(ds.dims)})")
    chosen = {}
    for var in VARIABLE_NAMES:
        want = (names or {}).get(var)
        options = (want,) if want else CANDIDATE_NAMES[var]
        found = next((n for n in options if n in ds.data_vars), None)
        if found is None:
            raise ValueError(
                f"{path}: no variable for '{var}' (tried {list(options)}; "
                f"dataset has {list(ds.data_vars)}); map it with names={{'{var}': NAME}}"
            )
        chosen[var] = found
    out = xr.Dataset({var: ds[name] for var, name in chosen.items()})
    if "level" in out.dims:
        if level is None:
            raise ValueError(f"{path}: data have levels {out.level.values}; choose a level")
        if level not in out.level.values:
            raise ValueError(f"{path}: level {level} not in {out.level.values.tolist()}")
        out = out.sel(level=level, drop=True)
    zname, zunits = chosen["z"], str(out["z"].attrs.get("units", "")).replace(" ", "")
    if zname in ("geopotential", "z") and zunits in ("m**2s**-2", "m2s-2", "m^2/s^2", "m2/s2"):
        out["z"] = out["z"] / GRAVITY
    out = out.assign_coords(longitude=out.longitude % 360.0)
    out = out.sortby("longitude").sortby("latitude", ascending=False)
    for var in VARIABLE_NAMES:
        out[var] = out[var].transpose("time", "latitude", "longitude").astype(np.float32)
        out[var].attrs = dict(VARIABLES[var], source_name=chosen[var])
    for var in VARIABLE_NAMES:
        if not np.isfinite(out[var].values).all():
            raise ValueError(f"{path}: variable '{chosen[var]}' contains NaN or inf")
    return out


def cases_from_reanalysis(
    path: str | Path,
    background: str | Path | None = None,
    *,
    names: dict[str, str] | None = None,
    level: float | None = 500.0,
    lead_hours: int = 48,
) -> Cases:
    """Cases whose truth is the reanalysis and whose backgrounds are a forecast or persistence."""
    truth = open_reanalysis(path, names, level)
    if background is not None:
        bg = open_reanalysis(background, names, level)
        bg = bg.sel(time=np.intersect1d(bg.time.values, truth.time.values))
        kind = f"forecast from {Path(background).name}"
    else:
        shifted = truth.time.values + np.timedelta64(lead_hours, "h")
        bg = truth.assign_coords(time=shifted)
        bg = bg.sel(time=np.intersect1d(shifted, truth.time.values))
        kind = f"persistence ({lead_hours} h)"
    if bg.sizes["time"] == 0:
        raise ValueError(f"no analysis time has both a truth state and a background in {path}")
    bg.attrs.update(lead_hours=lead_hours, description=kind)
    return Cases(truth, bg, {"source": str(path), "background": kind})
