"""The /assimilate endpoint's positional arguments, for the tests that call the app's API."""

from __future__ import annotations

from typing import Any

from alignda import studio as st


def assimilate_args(**kw: Any) -> list:
    """Positional arguments of the /assimilate endpoint: these defaults, overridden by ``kw``
    (an unknown name fails the test)."""
    values = {
        "case": "0",
        "pattern": "random",
        "density_pct": 2.0,
        "noise_scale": 1.0,
        "mode": "dps",
        "zeta": 1.0,
        "steps": 8,
        "members": 2,
        "seed": 0,
        "w_accuracy": 0.0,
        "w_forecast": 0.0,
        "w_physics": 0.0,
        "w_multi": 1.0,
        "forecast": False,
        "points_file": None,
        "variable": "z",
        "analysis": st.ALIGNED_ROW,
    }
    unknown = set(kw) - set(values)
    assert not unknown, unknown
    return list((values | kw).values())
