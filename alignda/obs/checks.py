"""Validation of the observation inputs: every error is an ObsError (a ValueError)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


class ObsError(ValueError):
    """Invalid observation input (masks, CSV points, noise, truth)."""


def check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ObsError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )
    return rng


def check_fraction(value: Any, name: str = "fraction") -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ObsError(f"{name} must be a number in (0, 1], got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not 0.0 < value <= 1.0:
        raise ObsError(f"{name} must be in (0, 1] (1 = every grid point), got {value!r}")
    return value


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ObsError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ObsError(f"{name} must be a positive number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0.0:
        raise ObsError(f"{name} must be a positive finite number, got {value!r}")
    return value


def check_inclination(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ObsError(f"inclination_deg must be a number in (0, 180), got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not 0.0 < value < 180.0:
        raise ObsError(f"inclination_deg must be in (0, 180), got {value!r}")
    return value
