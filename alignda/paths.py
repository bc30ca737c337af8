"""Where the shipped files live: the checkpoints, the test cases and the map backgrounds.

In a source checkout they are the repository's ``checkpoints/`` and ``assets/`` folders; an
installed package (``pip install .``, not editable) carries copies inside the package, under
``alignda/_shipped/``. Every module takes these paths from here.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent
INSTALLED_DIR = PACKAGE_DIR / "_shipped"


def shipped(name: str) -> Path:
    """The shipped folder ``name`` ("checkpoints" or "assets"): source checkout first."""
    source = SOURCE_ROOT / name
    return (
        source if source.is_dir() or not (INSTALLED_DIR / name).is_dir() else INSTALLED_DIR / name
    )


CHECKPOINT_DIR = shipped("checkpoints")
ASSETS_DIR = shipped("assets")
SHIPPED_CASES = ASSETS_DIR / "test_cases.nc"
NATURAL_EARTH_DIR = ASSETS_DIR / "natural_earth"
