"""Reanalysis fields on any regular lat-lon grid -> :class:`Cases` on the model's Gaussian grid.

Reads one file or several (:mod:`alignda.world.reading`: netCDF or zarr; ERA5, WeatherBench2,
NCEP/NCAR, CMIP spellings; u and v may come apart), refuses implausible fields (anomalies, other
units, see :func:`~alignda.world.derived.check_plausible`) and regrids **conservatively** with
``xarray-regrid`` onto the 64 x 128 Gaussian grid of the twin world (the library wraps the
periodic longitude, so the area mean is kept; see :func:`gaussian_cell_bounds`).

A variable the files lack is derived unless ``strict`` (:mod:`alignda.world.derived`): the
height from the winds by nonlinear balance, the winds from the height by geostrophic balance,
the tracer as the world's equilibrium. The world is one layer at 500 hPa: another level is
refused unless ``rescale_to_model_depth``, which shifts the height to the model's mean depth.
Everything derived or shifted is recorded in the variables' and the cases' attributes.

Cases get persistence backgrounds (the truth ``lead_hours`` earlier) or the backgrounds of a
forecast file (valid times, or WeatherBench2-style ``prediction_timedelta`` / GRIB ``step``).
The fields are of the real atmosphere: the shipped score-based prior learnt the twin world, so
its analyses of them are out of its training distribution; 3D-Var applies as it does to any
field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from alignda.world.balance import height_from_winds, winds_from_height
from alignda.world.cases import Cases
from alignda.world.derived import MODEL_LEVEL_HPA, check_plausible, equilibrium_tracer
from alignda.world.grid import Grid
from alignda.world.model import WorldConfig
from alignda.world.reading import Paths, as_paths, load_source, open_source
from alignda.world.variables import VARIABLE_NAMES, VARIABLES

#: ``Cases.attrs["kind"]`` of cases built here (twin-world cases have no ``kind``).
REANALYSIS_KIND = "reanalysis"
#: What the app should say about such cases.
OUT_OF_DISTRIBUTION_NOTE = (
    "These cases are real-atmosphere fields regridded to the model grid. The score-based prior "
    "was trained on the shallow-water twin world, so its analyses of them are out of its "
    "training distribution; 3D-Var (static B) applies as usual."
)
#: Source bytes (float64) loaded and regridded at once; large files go block by block in time.
BLOCK_BYTES = 256e6


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


# --- derived variables and the model's level -----------------------------------------------------
def _complete(
    ds: xr.Dataset, missing: list[str], mean_height: float, grid: Grid
) -> tuple[xr.Dataset, list[str]]:
    """Add the missing world variables (see the module docstring); returns them and notes."""
    notes: dict[str, str] = {}
    dims = ("time", "latitude", "longitude")
    if "u" in missing:
        u, v = winds_from_height(ds.z.values, grid)
        ds["u"], ds["v"] = (dims, u), (dims, v)
        for var in ("u", "v"):
            notes[var] = f"{var} from the height by geostrophic balance (rotational part)"
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
    return out, list(dict.fromkeys(notes.values()))


def _to_model_level(
    ds: xr.Dataset,
    level_hpa: float | None,
    rescale: bool,
    mean_depth: float,
    grid: Grid,
    where: str,
) -> tuple[xr.Dataset, str, float | None]:
    """Fields of another level refused, or (``rescale``) the height shifted to the model's mean
    depth; returns the dataset, what was done ('none' when nothing) and the shift (m)."""
    if level_hpa is None or np.isclose(level_hpa, MODEL_LEVEL_HPA):
        return ds, "none", None
    if not rescale:
        raise ValueError(
            f"{where} is at {level_hpa:g} hPa; the world is one layer at {MODEL_LEVEL_HPA:g} hPa "
            f"(mean depth {mean_depth:g} m). Choose --level {MODEL_LEVEL_HPA:g}, or pass "
            "--rescale-to-model-depth (Python: rescale_to_model_depth=True) to shift the height "
            f"so that its global mean is {mean_depth:g} m: its gradients, and so the balanced "
            f"winds, are kept, but the fields stay those of {level_hpa:g} hPa"
        )
    if "z" not in ds:  # a height derived from the winds is centred on the mean depth anyway
        note = f"{level_hpa:g} hPa winds placed at the model's mean depth {mean_depth:g} m"
        return ds, note, None
    shift = mean_depth - float(grid.area_mean(ds["z"].values).mean())
    ds = ds.assign(z=ds["z"] + shift)
    ds["z"].attrs["rescaled"] = f"shifted by {shift:+.0f} m from {level_hpa:g} hPa"
    note = (
        f"z shifted by {shift:+.0f} m: the {level_hpa:g} hPa heights moved to the model's mean "
        f"depth {mean_depth:g} m (gradients kept)"
    )
    return ds, note, shift


# --- cases --------------------------------------------------------------------------------------
def reanalysis_on_model_grid(
    paths: Paths,
    *,
    mean_height: float | None = None,
    rescale_to_model_depth: bool = False,
    z_shift: float | None = None,
    grid: Grid | None = None,
    progress: bool = False,
    **options,
) -> tuple[xr.Dataset, dict]:
    """Read, check, regrid and complete one file or several: (z, u, v, tracer dataset, info).

    ``options`` as for :func:`~alignda.world.reading.open_reanalysis`; ``mean_height`` of a
    height derived from the winds (default: the world's mean depth); ``rescale_to_model_depth``
    accepts a level other than the model's (see the module docstring), ``z_shift`` imposes the
    shift (a forecast takes its truth's). ``info`` records the source, what was derived and
    what was shifted (``z_shift``)."""
    grid = grid or Grid()
    src = open_source(paths, **options)
    nt = src.ds.sizes["time"]
    per_time = 8 * max(1, len(src.names)) * src.ds.sizes["latitude"] * src.ds.sizes["longitude"]
    block = max(1, int(BLOCK_BYTES // per_time))
    starts = range(0, max(nt, 1), block)
    label = f"regridding {nt} times"
    parts = [
        regrid_to_model(load_source(src, slice(i, i + block)), grid)
        for i in tqdm(starts, desc=label, disable=not progress or len(starts) < 2)
    ]
    on_grid = xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]
    check_plausible(on_grid, src.level_hpa, grid, src.where)
    depth = WorldConfig().mean_depth
    if z_shift is not None and "z" in on_grid:
        on_grid = on_grid.assign(z=on_grid["z"] + z_shift)
        rescaled = f"z shifted by {z_shift:+.0f} m like its truth"
    else:
        on_grid, rescaled, z_shift = _to_model_level(
            on_grid, src.level_hpa, rescale_to_model_depth, depth, grid, src.where
        )
    mean_height = depth if mean_height is None else mean_height
    out, notes = _complete(on_grid, src.missing, mean_height, grid)
    info = {
        "source_grid": f"{src.ds.sizes['latitude']} x {src.ds.sizes['longitude']} lat-lon",
        "source_names": dict(src.names),
        "level_hpa": src.level_hpa,
        "derived": notes,
        "rescaled": rescaled,
        "z_shift": z_shift,
    }
    return out, info


def cases_from_reanalysis(
    paths: Paths,
    out: str | Path | None = None,
    *,
    level: float | str | None = 500.0,
    forecast: Paths | None = None,
    lead_hours: int = 48,
    names: dict[str, str] | None = None,
    z_kind: str = "auto",
    derive_missing: bool = True,
    rescale_to_model_depth: bool = False,
    mean_height: float | None = None,
    grid: Grid | None = None,
    progress: bool = False,
) -> Cases:
    """Cases whose truth is the reanalysis regridded to the model grid (written to ``out``).

    ``paths``: one file, or several whose variables are merged (e.g. u and v apart). Backgrounds
    are the truth ``lead_hours`` earlier (persistence) or, with ``forecast``, those files'
    fields valid at the analysis times (regridded and shifted the same way). Analysis times are
    the truth times that have a background. ``derive_missing=False`` refuses files lacking a
    variable; see the module docstring for what is derived and for ``rescale_to_model_depth``.
    """
    if lead_hours <= 0:
        raise ValueError(f"lead_hours must be positive, not {lead_hours}")
    kw = dict(level=level, names=names, z_kind=z_kind, derive_missing=derive_missing)
    kw.update(mean_height=mean_height, grid=grid, progress=progress)
    truth, info = reanalysis_on_model_grid(
        paths, rescale_to_model_depth=rescale_to_model_depth, **kw
    )
    source = ", ".join(str(p) for p in as_paths(paths))
    if forecast is not None:
        bg, _ = reanalysis_on_model_grid(
            forecast,
            lead_hours=lead_hours,
            what="forecast",
            rescale_to_model_depth=rescale_to_model_depth,
            z_shift=info["z_shift"],
            **kw,
        )
        bg = bg.sel(time=np.intersect1d(bg.time.values, truth.time.values))
        kind = f"{lead_hours} h forecast from {', '.join(p.name for p in as_paths(forecast))}"
    else:
        shifted = truth.time.values + np.timedelta64(lead_hours, "h")
        bg = truth.assign_coords(time=shifted)
        bg = bg.sel(time=np.intersect1d(shifted, truth.time.values))
        kind = f"persistence ({lead_hours} h)"
    if bg.sizes["time"] == 0:
        steps = np.unique(np.diff(truth.time.values)).astype("timedelta64[h]")
        raise ValueError(
            f"no analysis time in {source} has a background ({kind}): truth times "
            f"{_span(truth.time.values)}, steps {[str(s) for s in steps[:4]]}"
            + ("" if forecast is None else f"; forecast valid at {_span(bg.time.values)}")
        )
    bg.attrs.update(lead_hours=lead_hours, description=kind)
    truth.attrs.update(description=f"reanalysis from {', '.join(p.name for p in as_paths(paths))}")
    level_hpa = info["level_hpa"]
    attrs = {
        "kind": REANALYSIS_KIND,
        "source": source,
        "background": kind,
        "level_hpa": "none" if level_hpa is None else f"{level_hpa:g}",
        "regridding": f"conservative (xarray-regrid) from {info['source_grid']} to the "
        f"{truth.sizes['latitude']} x {truth.sizes['longitude']} Gaussian grid",
        "source_names": ", ".join(f"{k}={v}" for k, v in info["source_names"].items()),
        "derived": "; ".join(info["derived"]) or "none",
        "rescaled": info["rescaled"],
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


def provenance(cases: Cases) -> str:
    """What was derived or shifted in real cases, in one line ('' when nothing or not real)."""
    if not is_reanalysis(cases):
        return ""
    said = [
        f"{label}: {cases.attrs[key]}"
        for key, label in (("derived", "Derived"), ("rescaled", "Rescaled"))
        if cases.attrs.get(key, "none") != "none"
    ]
    return "; ".join(said)
