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

from alignda.lazy import lazy_exports

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

__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
