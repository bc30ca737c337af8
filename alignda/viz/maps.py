"""Fast offline cartopy maps of lat-lon fields, with the matplotlib object API only.

No pyplot: figures are plain :class:`matplotlib.figure.Figure` objects with an Agg canvas,
safe to build in web-server threads (one figure per thread). Coastlines come from the
shipped Natural Earth data (:mod:`alignda.world.geography`); nothing is ever downloaded.

The projection objects and the projected coastline vertices are built once per projection
and reused by every map.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import cartopy.crs as ccrs
import numpy as np
from cartopy.mpl.geoaxes import GeoAxes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, QuadMesh
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from alignda.world.geography import coastlines, use_shipped_natural_earth

#: Points to overlay: ``(lat, lon)``, ``(lat, lon, values)`` or a mapping with keys
#: ``"lat"``, ``"lon"`` and optionally ``"value"``/``"values"`` (degrees; lon in any range).
Points = Any

_DATA_CRS = ccrs.PlateCarree()
_LOCK = threading.Lock()
_PROJECTIONS: dict[str, ccrs.Projection] = {}
_COAST_VERTICES: dict[str, tuple[np.ndarray, ...]] = {}

STATE_CMAP = "viridis"
DIVERGING_CMAP = "RdBu_r"


def get_projection(name: str = "robinson") -> ccrs.Projection:
    """The shared projection object for ``"robinson"`` or ``"platecarree"`` (cached)."""
    key = name.lower().replace("_", "").replace(" ", "")
    with _LOCK:
        proj = _PROJECTIONS.get(key)
        if proj is None:
            if key == "robinson":
                proj = ccrs.Robinson()
            elif key == "platecarree":
                proj = ccrs.PlateCarree()
            else:
                raise ValueError(f"unknown projection {name!r}; use 'robinson' or 'platecarree'")
            _PROJECTIONS[key] = proj
    return proj


def _projection_key(proj: ccrs.Projection) -> str:
    for key, cached in _PROJECTIONS.items():
        if cached is proj:
            return key
    return proj.proj4_init


def coast_vertices(proj: ccrs.Projection) -> tuple[np.ndarray, ...]:
    """Coastline vertex arrays in the projection's coordinates (cached per projection)."""
    key = _projection_key(proj)
    with _LOCK:
        cached = _COAST_VERTICES.get(key)
    if cached is not None:
        return cached
    segments: list[np.ndarray] = []
    for geom in coastlines():
        projected = proj.project_geometry(geom, _DATA_CRS)
        parts = getattr(projected, "geoms", [projected])
        for part in parts:
            xy = np.asarray(part.coords, dtype=np.float64)
            if len(xy) >= 2:
                xy.setflags(write=False)
                segments.append(xy)
    result = tuple(segments)
    with _LOCK:
        _COAST_VERTICES.setdefault(key, result)
    return result


@lru_cache(maxsize=32)
def _cell_edges_cached(
    lat_bytes: bytes, lon_bytes: bytes
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lat = np.frombuffer(lat_bytes, dtype=np.float64)
    lon = np.frombuffer(lon_bytes, dtype=np.float64)
    if lat.size < 2 or lon.size < 2:
        raise ValueError("need at least two latitudes and two longitudes")
    # Latitude edges: midpoints, the outer edges at the poles (the grid.py rule).
    mid = 0.5 * (lat[1:] + lat[:-1])
    pole = 90.0 if lat[0] > lat[-1] else -90.0
    lat_edges = np.concatenate([[pole], mid, [-pole]])
    # Longitude: sort into [-180, 180), midpoints, and split the one cell that straddles
    # the dateline into two pieces so that the mesh spans exactly [-180, 180] (no gap and
    # no wrapped cell for cartopy to cut).
    lon_n = (lon + 180.0) % 360.0 - 180.0
    order = np.argsort(lon_n, kind="stable")
    ls = lon_n[order]
    inner = 0.5 * (ls[1:] + ls[:-1])
    e_wrap = 0.5 * (ls[-1] + ls[0] + 360.0)  # edge between the last and the first cell
    if np.isclose(e_wrap, 180.0):
        lon_edges = np.concatenate([[-180.0], inner, [180.0]])
        cols = order
    elif e_wrap < 180.0:  # the first cell reaches past -180: its west part goes to the east
        lon_edges = np.concatenate([[-180.0], inner, [e_wrap, 180.0]])
        cols = np.concatenate([order, order[:1]])
    else:  # the last cell reaches past +180: its east part goes to the west end
        lon_edges = np.concatenate([[-180.0, e_wrap - 360.0], inner, [180.0]])
        cols = np.concatenate([order[-1:], order])
    for a in (lat_edges, lon_edges, cols):
        a.setflags(write=False)
    return lat_edges, lon_edges, cols


def cell_edges(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell edges for a global lat-lon grid: ``(lat_edges, lon_edges, column_index)``.

    ``lon_edges`` run from -180 to 180; draw ``data[:, column_index]`` on them.
    """
    lat = np.ascontiguousarray(lat, dtype=np.float64).ravel()
    lon = np.ascontiguousarray(lon, dtype=np.float64).ravel()
    return _cell_edges_cached(lat.tobytes(), lon.tobytes())


def _limits(arrays: Sequence[np.ndarray], symmetric: bool) -> tuple[float, float]:
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if a.size]
    if not finite:
        return (-1.0, 1.0)
    lo = float(min(a.min() for a in finite))
    hi = float(max(a.max() for a in finite))
    if symmetric:
        m = max(abs(lo), abs(hi))
        m = m if m > 0 else 1.0
        return (-m, m)
    if hi <= lo:
        pad = abs(lo) * 0.01 if lo != 0 else 1.0
        return (lo - pad, hi + pad)
    return (lo, hi)


def _unpack_points(points: Points) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if isinstance(points, Mapping) or hasattr(points, "data_vars"):
        lat = np.asarray(points["lat"], dtype=np.float64).ravel()
        lon = np.asarray(points["lon"], dtype=np.float64).ravel()
        values = None
        for key in ("value", "values"):
            if key in points:
                values = np.asarray(points[key], dtype=np.float64).ravel()
                break
    else:
        seq = tuple(points)
        if len(seq) not in (2, 3):
            raise ValueError("points must be (lat, lon) or (lat, lon, values)")
        lat = np.asarray(seq[0], dtype=np.float64).ravel()
        lon = np.asarray(seq[1], dtype=np.float64).ravel()
        values = np.asarray(seq[2], dtype=np.float64).ravel() if len(seq) == 3 else None
    if lat.shape != lon.shape or (values is not None and values.shape != lat.shape):
        raise ValueError("points: lat, lon and values must have the same length")
    return lat, (lon + 180.0) % 360.0 - 180.0, values


def _extend(data: np.ndarray, vmin: float, vmax: float) -> str:
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return "neither"
    below, above = finite.min() < vmin, finite.max() > vmax
    return {(False, False): "neither", (True, False): "min", (False, True): "max"}.get(
        (bool(below), bool(above)), "both"
    )


def plot_field(
    ax: GeoAxes,
    data2d: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    title: str = "",
    units: str = "",
    cmap: Any = None,
    vmin: float | None = None,
    vmax: float | None = None,
    diverging: bool = False,
    points: Points | None = None,
    colorbar: bool = True,
) -> QuadMesh:
    """Draw a global (nlat, nlon) field on a cartopy GeoAxes, with coastlines and colourbar.

    ``diverging`` picks a red-blue colour map and limits symmetric around 0 (unless given).
    ``points`` overlays observation locations, coloured by value with the field's colour
    scale when values are given. Returns the QuadMesh.
    """
    use_shipped_natural_earth()
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    data = np.asarray(data2d, dtype=np.float64)
    if data.shape != (lat.size, lon.size):
        raise ValueError(
            f"data shape {data.shape} does not match (nlat, nlon) = {(lat.size, lon.size)}"
        )
    if vmin is None or vmax is None:
        lo, hi = _limits([data], symmetric=diverging)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    if cmap is None:
        cmap = DIVERGING_CMAP if diverging else STATE_CMAP
    norm = Normalize(vmin=vmin, vmax=vmax)

    lat_edges, lon_edges, cols = cell_edges(lat, lon)
    mesh = ax.pcolormesh(
        lon_edges,
        lat_edges,
        np.ma.masked_invalid(data[:, cols]),
        cmap=cmap,
        norm=norm,
        shading="flat",
        transform=_DATA_CRS,
    )
    ax.add_collection(
        LineCollection(coast_vertices(ax.projection), colors="black", linewidths=0.5, zorder=2),
        autolim=False,
    )
    if points is not None:
        plat, plon, pval = _unpack_points(points)
        if pval is None:
            ax.scatter(
                plon, plat, s=6, c="black", marker="o", linewidths=0, transform=_DATA_CRS, zorder=3
            )
        else:
            ax.scatter(
                plon,
                plat,
                s=14,
                c=pval,
                cmap=cmap,
                norm=norm,
                edgecolors="black",
                linewidths=0.4,
                transform=_DATA_CRS,
                zorder=3,
            )
    ax.set_global()
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        cb = ax.get_figure().colorbar(
            mesh,
            ax=ax,
            orientation="horizontal",
            fraction=0.05,
            pad=0.04,
            shrink=0.8,
            aspect=30,
            extend=_extend(data, vmin, vmax),
        )
        cb.ax.tick_params(labelsize=8)
        if units:
            cb.set_label(units, fontsize=8, labelpad=1)
    return mesh


def map_panel(
    fields: Mapping[str, np.ndarray],
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    units: str | Mapping[str, str] = "",
    ncols: int = 3,
    diverging_keys: Sequence[str] = (),
    shared_limits_keys: Sequence[str] = (),
    diverging_groups: Sequence[Sequence[str]] = (),
    obs: Points | None = None,
    obs_keys: Sequence[str] | None = None,
    title: str | None = None,
    projection: str = "robinson",
    panel_size: tuple[float, float] = (4.0, 2.8),
    dpi: float = 100,
) -> Figure:
    """One figure with a map per field (in dict order), titled by key.

    Colour limits: the ``diverging_keys`` panels (differences, increments) share one limit
    symmetric around 0 (each of ``diverging_groups``, e.g. the panels of one variable, has its
    own); the ``shared_limits_keys`` panels share one min/max range (default:
    all non-diverging panels); any other panel gets its own range. ``units`` is one string
    or a mapping key -> units. ``obs`` points are overlaid on the ``obs_keys`` panels
    (default: every non-diverging panel). Close with :func:`save_png` or ``fig.clear()``.
    """
    if not fields:
        raise ValueError("no fields to plot")
    keys = list(fields)
    for label, given in (
        ("diverging_keys", diverging_keys),
        ("shared_limits_keys", shared_limits_keys),
        ("obs_keys", obs_keys or ()),
    ):
        unknown = [k for k in given if k not in fields]
        if unknown:
            raise ValueError(f"{label} {unknown} not among the fields {keys}")
    groups = [list(g) for g in diverging_groups]
    diverging = set(diverging_keys) | {k for g in groups for k in g}
    shared = set(shared_limits_keys) or {k for k in keys if k not in diverging}
    shared -= diverging
    obs_on = set(obs_keys) if obs_keys is not None else {k for k in keys if k not in diverging}

    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in fields.items()}
    shared_lim = _limits([arrays[k] for k in keys if k in shared], symmetric=False)
    div_lim = _limits([arrays[k] for k in keys if k in set(diverging_keys)], symmetric=True)
    group_lim = {k: _limits([arrays[j] for j in g], symmetric=True) for g in groups for k in g}

    proj = get_projection(projection)
    ncols = max(1, min(int(ncols), len(keys)))
    nrows = -(-len(keys) // ncols)
    fig = Figure(
        figsize=(panel_size[0] * ncols, panel_size[1] * nrows + (0.4 if title else 0)), dpi=dpi
    )
    FigureCanvasAgg(fig)
    top = 1.0 - (0.3 + (0.4 if title else 0.0)) / fig.get_figheight()
    fig.subplots_adjust(
        left=0.01, right=0.99, bottom=0.45 / fig.get_figheight(), top=top, wspace=0.04, hspace=0.35
    )
    for i, key in enumerate(keys):
        ax = fig.add_subplot(nrows, ncols, i + 1, projection=proj)
        if key in group_lim:
            vmin, vmax = group_lim[key]
        elif key in diverging:
            vmin, vmax = div_lim
        elif key in shared:
            vmin, vmax = shared_lim
        else:
            vmin, vmax = _limits([arrays[key]], symmetric=False)
        panel_units = units.get(key, "") if isinstance(units, Mapping) else units
        plot_field(
            ax,
            arrays[key],
            lat,
            lon,
            title=key,
            units=panel_units,
            vmin=vmin,
            vmax=vmax,
            diverging=key in diverging,
            points=obs if (obs is not None and key in obs_on) else None,
        )
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def close_figure(fig: Figure) -> None:
    """Release a figure's artists (there is no pyplot registry to remove it from)."""
    fig.clear()


def save_png(fig: Figure, path: str | Path, *, dpi: float | None = None) -> Path:
    """Save the figure as PNG, then clear it to free its memory; returns the path."""
    path = Path(path)
    try:
        fig.savefig(path, format="png", dpi=dpi)
    finally:
        close_figure(fig)
    return path


def png_bytes(fig: Figure, *, dpi: float | None = None) -> bytes:
    """Render the figure to PNG bytes (e.g. for an HTTP response), then clear it."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        close_figure(fig)
    return buf.getvalue()
