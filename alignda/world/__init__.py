"""The twin world: a global shallow-water model on a Gaussian grid, its cases and real data.

- :mod:`~alignda.world.grid`: the T42-like Gaussian lat-lon grid, area weights, coordinates;
- :mod:`~alignda.world.variables`: the state variables and their CF metadata;
- :mod:`~alignda.world.sphere`: spectral transforms and differential operators on the sphere;
- :mod:`~alignda.world.model`: the forced-dissipative shallow-water model with a tracer;
- :mod:`~alignda.world.shock`: the initialisation shock of a state (first-hour height tendency);
- :mod:`~alignda.world.balance`: geostrophic balance, heights from winds and winds from heights;
- :mod:`~alignda.world.controls`: balanced control variables (psi, chi, z_unbalanced, q);
- :mod:`~alignda.world.state`: stacked state arrays <-> CF-annotated xarray Datasets;
- :mod:`~alignda.world.cases`: truth trajectories with 48 h backgrounds, saved and opened;
- :mod:`~alignda.world.generation`: generating cases from a seed (world v1 and v2), the split;
- :mod:`~alignda.world.osse`: world v2's backgrounds, forecasts from a cycled 3D-Var;
- :mod:`~alignda.world.stats`: per-variable scales and the climatology of training data;
- :mod:`~alignda.world.geography`: the shipped Natural Earth coastlines, land and a land mask;
- :mod:`~alignda.world.reading`: real netCDF or zarr files standardised to one level;
- :mod:`~alignda.world.derived`: plausibility checks for real fields, the equilibrium tracer;
- :mod:`~alignda.world.reanalysis`: reanalysis fields regridded into :class:`Cases`.

The names below are the package's public interface. They load on first use (PEP 562), so
that ``import alignda.world.grid`` stays numpy-light instead of pulling torch, shapely and
xarray through this package.
"""

from __future__ import annotations

from alignda.lazy import lazy_exports

_EXPORTS = {
    "grid": ("COORD_ATOL", "DEFAULT_GRID", "Grid", "cell_area_weights", "same_coordinate"),
    "variables": ("VARIABLES", "VARIABLE_NAMES", "check_variables"),
    "sphere": ("EARTH_OMEGA", "EARTH_RADIUS", "GRAVITY", "Sphere"),
    "model": ("DAY", "HOUR", "ShallowWaterModel", "WorldConfig"),
    "shock": ("SHOCK_HOURS", "WAVE_HOURS", "height_tendency", "height_tendency_field"),
    "balance": (
        "TROPICS_DEG",
        "geostrophic_deviation",
        "geostrophic_wind",
        "height_from_winds",
        "winds_from_height",
    ),
    "controls": ("CONTROL_NAMES", "ControlTransform", "balanced_height"),
    "state": ("stack", "to_dataset"),
    "cases": ("Cases", "as_cases", "shipped_subset"),
    "generation": ("BACKGROUNDS", "GenerateConfig", "generate", "split"),
    "stats": ("WorldStats",),
    "geography": ("coastlines", "land_mask", "land_polygons"),
    "reading": ("open_reanalysis",),
    "derived": ("MODEL_LEVEL_HPA", "check_plausible", "equilibrium_tracer"),
    "reanalysis": ("cases_from_reanalysis", "is_reanalysis", "regrid_to_model"),
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
