"""What real fields must satisfy to stand for the one-layer world, and the tracer they lack.

The world is one layer at :data:`MODEL_LEVEL_HPA`. :func:`check_plausible` refuses anomalies
and wrong units before they are assimilated as if they were full fields; a missing tracer is
the world's pole-to-pole equilibrium and carries no information. Heights and winds derived from
each other live in :mod:`alignda.world.balance`.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from alignda.world.grid import Grid
from alignda.world.sphere import GRAVITY

#: The pressure level the one-layer world stands for (its mean depth is a 500 hPa height).
MODEL_LEVEL_HPA = 500.0
#: Wind components beyond this (m/s) are not winds in m/s.
MAX_WIND = 200.0


def standard_height(level_hpa: float) -> float:
    """Height (m) of a pressure level in the ICAO standard atmosphere (troposphere and the
    isothermal layer above 226 hPa): 5574 m at 500 hPa, 11784 m at 200 hPa."""
    p0, t0, lapse, r_dry = 1013.25, 288.15, 0.0065, 287.053
    if level_hpa >= 226.32:
        return t0 / lapse * (1.0 - (level_hpa / p0) ** (r_dry * lapse / GRAVITY))
    return 11000.0 + r_dry * 216.65 / GRAVITY * np.log(226.32 / level_hpa)


def equilibrium_tracer(grid: Grid) -> np.ndarray:
    """The twin world's equilibrium tracer, 0.5 (1 + sin latitude), on the grid (nlat, nlon)."""
    q = 0.5 * (1.0 + np.sin(np.deg2rad(grid.lat)))
    return np.repeat(q[:, None], grid.nlon, axis=1)


def check_plausible(ds: xr.Dataset, level_hpa: float | None, grid: Grid, where: str) -> None:
    """Refuse heights far from full heights at the level (anomalies) and winds beyond m/s.

    ``ds`` holds the file's own variables on the model grid (z in m). The height's global mean
    must lie within 20 % (at least 500 m) of the standard-atmosphere height of the level (the
    model's level when the file names none). Near the surface full heights and anomalies look
    alike; there this check cannot tell them apart.
    """
    if "z" in ds:
        level = MODEL_LEVEL_HPA if level_hpa is None else level_hpa
        expected = standard_height(level)
        mean = float(grid.area_mean(ds["z"].values).mean())
        if abs(mean - expected) > max(0.2 * expected, 500.0):
            raise ValueError(
                f"{where}: the height has a global mean of {mean:.0f} m, but full heights at "
                f"{level:g} hPa are about {expected:.0f} m (standard atmosphere): is it an "
                "anomaly, or another level? Full geopotential or geopotential height is needed"
            )
    for var in ("u", "v"):
        if var in ds:
            peak = float(np.abs(ds[var].values).max())
            if peak > MAX_WIND:
                raise ValueError(
                    f"{where}: {var} reaches {peak:.0f}; winds beyond {MAX_WIND:g} m/s are not "
                    "winds in m/s (other units?)"
                )
