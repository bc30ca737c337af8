"""The lat-lon grid: a T42-like Gaussian grid, latitude descending 90 -> -90 like ERA5.

Every module takes its coordinates and latitude weights from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Largest difference between two float coordinates taken as the same point: computed
#: coordinates (e.g. Gaussian latitudes) differ in their last bits across CPUs and libraries.
COORD_ATOL = 1e-6


def same_coordinate(x: np.ndarray, y: np.ndarray) -> bool:
    """Equal coordinate values: floats within :data:`COORD_ATOL`, anything else exactly."""
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        return False
    if np.issubdtype(x.dtype, np.floating) and np.issubdtype(y.dtype, np.floating):
        return bool(np.allclose(x, y, rtol=0.0, atol=COORD_ATOL))
    return np.array_equal(x, y)


def gaussian_latitudes(nlat: int) -> np.ndarray:
    """Gauss-Legendre latitudes in degrees, descending (north first)."""
    nodes, _ = np.polynomial.legendre.leggauss(nlat)
    return np.rad2deg(np.arcsin(nodes))[::-1].copy()


def cell_area_weights(lat: np.ndarray) -> np.ndarray:
    """WeatherBench2 latitude weights: sin of the cell bounds, normalised to mean 1.

    Cell bounds are the midpoints between neighbouring latitudes, clipped to +-90 deg at the
    ends, so the same rule serves Gaussian grids and ERA5 grids that include the poles.
    """
    lat = np.asarray(lat, dtype=np.float64)
    if lat.ndim != 1 or lat.size < 2:
        raise ValueError("latitude must be a 1-D array with at least two values")
    order = np.argsort(lat)
    s = lat[order]
    mid = 0.5 * (s[1:] + s[:-1])
    bounds = np.deg2rad(np.concatenate([[-90.0], mid, [90.0]]))
    w_sorted = np.sin(bounds[1:]) - np.sin(bounds[:-1])
    w = np.empty_like(w_sorted)
    w[order] = w_sorted
    return w / w.mean()


@dataclass(frozen=True)
class Grid:
    """A global lat-lon grid (Gaussian latitudes, equally spaced longitudes from 0)."""

    nlat: int = 64
    nlon: int = 128

    @cached_property
    def lat(self) -> np.ndarray:
        """Latitudes in degrees north, descending."""
        return gaussian_latitudes(self.nlat)

    @cached_property
    def lon(self) -> np.ndarray:
        """Longitudes in degrees east, 0 <= lon < 360."""
        return np.arange(self.nlon) * (360.0 / self.nlon)

    @cached_property
    def weights(self) -> np.ndarray:
        """Cell-area latitude weights (nlat,), mean 1."""
        return cell_area_weights(self.lat)

    def area_mean(self, field) -> np.ndarray:
        """Area mean over the last two axes (latitude, longitude) of fields on this grid."""
        return (np.asarray(field) * self.weights[:, None]).mean(axis=(-2, -1))

    @property
    def shape(self) -> tuple[int, int]:
        """(nlat, nlon)."""
        return (self.nlat, self.nlon)

    def coords(self) -> dict[str, tuple[str, np.ndarray, dict[str, str]]]:
        """xarray coordinate spec with CF attributes."""
        return {
            "latitude": (
                "latitude",
                self.lat,
                {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude"},
            ),
            "longitude": (
                "longitude",
                self.lon,
                {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"},
            ),
        }


DEFAULT_GRID = Grid()
