"""The state variables of the twin world and their CF metadata (one home for names and units)."""

from __future__ import annotations

VARIABLES: dict[str, dict[str, str]] = {
    "z": {
        "units": "m",
        "long_name": "geopotential height",
        "standard_name": "geopotential_height",
    },
    "u": {"units": "m s-1", "long_name": "eastward wind", "standard_name": "eastward_wind"},
    "v": {"units": "m s-1", "long_name": "northward wind", "standard_name": "northward_wind"},
    "tracer": {"units": "1", "long_name": "passive tracer mixing ratio"},
}

#: Order of the variables in every stacked (channel) array.
VARIABLE_NAMES: tuple[str, ...] = tuple(VARIABLES)


def check_variables(names: list[str] | tuple[str, ...]) -> None:
    """Raise ValueError naming any variable that the world does not have."""
    unknown = [n for n in names if n not in VARIABLES]
    if unknown:
        raise ValueError(f"unknown variable(s) {unknown}; known: {list(VARIABLE_NAMES)}")
