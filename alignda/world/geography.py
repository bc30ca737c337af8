"""Offline geography: the shipped Natural Earth 1:110m coastlines and land, and a land mask.

Everything here reads the shapefiles in ``assets/natural_earth`` (see ``assets/README.md``);
nothing ever asks cartopy to download.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from alignda.paths import NATURAL_EARTH_DIR
from alignda.world.grid import Grid

#: Root of the shipped Natural Earth data, in cartopy's ``pre_existing_data_dir`` layout.

_PHYSICAL = ("shapefiles", "natural_earth", "physical")
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_SHIPPED = ("ne_110m_coastline", "ne_110m_land")
_CONFIG_LOCK = threading.Lock()


def shapefile_path(name: str) -> Path:
    """Path of a shipped Natural Earth physical shapefile, e.g. ``"ne_110m_land"``.

    Raises FileNotFoundError, naming what is missing, if any part of the set is absent.
    """
    base = NATURAL_EARTH_DIR.joinpath(*_PHYSICAL, name)
    missing = [
        str(base.with_suffix(ext))
        for ext in _SHAPEFILE_PARTS
        if not base.with_suffix(ext).is_file()
    ]
    if missing:
        raise FileNotFoundError(
            f"shipped Natural Earth data missing: {', '.join(missing)} "
            f"(expected under {NATURAL_EARTH_DIR}; see assets/README.md)"
        )
    return base.with_suffix(".shp")


def use_shipped_natural_earth() -> None:
    """Point cartopy's ``pre_existing_data_dir`` at the shipped data.

    ``data_dir`` (where cartopy would write downloads) is left alone, so nothing can ever be
    downloaded into the repository.

    Idempotent. Afterwards ``ax.coastlines()`` and ``cartopy.feature.LAND``/``COASTLINE`` at
    110m resolve to the shipped files instead of downloading. Raises FileNotFoundError if
    the shipped files are missing.
    """
    for name in _SHIPPED:
        shapefile_path(name)
    import cartopy

    with _CONFIG_LOCK:
        cartopy.config["pre_existing_data_dir"] = NATURAL_EARTH_DIR


def _read_geometries(name: str) -> tuple[BaseGeometry, ...]:
    from cartopy.io.shapereader import Reader

    reader = Reader(str(shapefile_path(name)))
    try:
        return tuple(g for g in reader.geometries() if g is not None and not g.is_empty)
    finally:
        reader.close()


@lru_cache(maxsize=1)
def coastlines() -> tuple[BaseGeometry, ...]:
    """The Natural Earth 1:110m coastlines as shapely (Multi)LineStrings, lon in -180..180.

    Built once and cached; the same objects are returned on every call (so renderers can
    key caches of projected paths on them). Do not modify them.
    """
    return _read_geometries("ne_110m_coastline")


@lru_cache(maxsize=1)
def land_polygons() -> tuple[BaseGeometry, ...]:
    """The Natural Earth 1:110m land polygons as shapely geometries, lon in -180..180."""
    return _read_geometries("ne_110m_land")


@lru_cache(maxsize=1)
def _land_union() -> BaseGeometry:
    land = shapely.union_all(np.asarray(land_polygons(), dtype=object))
    shapely.prepare(land)
    return land


@lru_cache(maxsize=16)
def land_mask(grid: Grid) -> np.ndarray:
    """Boolean land mask (nlat, nlon) of the grid points, True over land.

    A grid point is land if it lies inside or on the boundary of a Natural Earth 1:110m
    land polygon (so points exactly on the dateline, where polygons are split, still count).
    Cached per grid; the returned array is read-only (copy it before modifying).
    """
    lon = (np.asarray(grid.lon, dtype=np.float64) + 180.0) % 360.0 - 180.0
    lon2d, lat2d = np.meshgrid(lon, np.asarray(grid.lat, dtype=np.float64))
    mask = np.asarray(shapely.intersects_xy(_land_union(), lon2d, lat2d), dtype=bool)
    mask = mask.reshape(grid.shape)
    mask.setflags(write=False)
    return mask
