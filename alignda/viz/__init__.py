"""Figures: offline cartopy maps of lat-lon fields and whole-case plots, written as PNG.

- :mod:`~alignda.viz.maps`: map panels of fields on any projection, coastlines from the
  shipped Natural Earth data, PNG bytes and files (matplotlib's object API, no pyplot:
  safe in web-server threads);
- :mod:`~alignda.viz.plots`: figures of whole cases, one PNG per variable (truth, background,
  their difference, observations, the truth 48 h on).

The names below are the package's public interface. They load on first use (PEP 562):
cartopy and matplotlib are imported by the first map, not by ``import alignda.viz``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "maps": (
        "DIVERGING_CMAP",
        "STATE_CMAP",
        "close_figure",
        "get_projection",
        "map_panel",
        "plot_field",
        "png_bytes",
        "save_png",
    ),
    "plots": ("plot_case",),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
