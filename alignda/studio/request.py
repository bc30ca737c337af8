"""A Studio request: its inputs checked against the limits, and the uploaded CSV points."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from alignda import experiment
from alignda.alignment.soup import DELTAS, PRESETS, normalise_weights
from alignda.analysis.score import ANALYSIS_MODES, SamplerSettings
from alignda.checkpoints import checkpoint_dir
from alignda.experiment import DEFAULT, Experiment, Observing
from alignda.obs.networks import PATTERNS
from alignda.obs.operator import scaled_noise_std

CHECKPOINTS_ENV = "ALIGNDA_CHECKPOINTS"


CASES_ENV = "ALIGNDA_CASES"


#: Seconds one request may use (estimated before it runs); ``inf`` switches the budget off.
BUDGET_ENV = "ALIGNDA_BUDGET_S"


DEFAULT_BUDGET_S = 60.0


#: Seconds of a request outside the samplers: observations, scores, settings, maps and
#: downloads (about 1.5 s on 2 cores), and the 48 h forecasts of the forecast reward (1.5 s).
OVERHEAD_S = 2.0


FORECAST_S = 2.0


CSV_PATTERN = "csv"


OBS_PATTERNS: tuple[str, ...] = (*PATTERNS, CSV_PATTERN)


MAX_UPLOAD_BYTES = 1_000_000


MAX_CSV_ROWS = 20_000


#: File name the CLI reproduction of a CSV-points request reads the points from.
POINTS_FILE = "points.csv"


#: Accepted ranges of the numeric request fields (inclusive), also used by the UI.
LIMITS: dict[str, tuple[float, float]] = {
    "density": (0.0001, 1.0),
    "noise_scale": (0.0, 10.0),
    "zeta": (0.0, 20.0),
    "steps": (4, 256),
    "members": (1, 16),
    "seed": (0, 2**31 - 1),
    "weight": (0.0, 10.0),
}


class StudioError(ValueError):
    """A request the studio cannot serve; the message is meant for the user."""


class OverBudget(StudioError):
    """A request whose estimated cost exceeds the studio's compute budget."""


def budget_seconds(value: str | float | None = None) -> float:
    """A compute budget in seconds: ``value``, else ``$ALIGNDA_BUDGET_S``, else 60 (> 0;
    ``inf`` = no budget)."""
    if value is None:
        value = os.environ.get(BUDGET_ENV) or DEFAULT_BUDGET_S
    try:
        budget = float(value)
    except (TypeError, ValueError):
        budget = math.nan
    if not budget > 0:
        raise StudioError(
            f"the compute budget must be a number of seconds > 0 (or inf), got {value!r} "
            f"(${BUDGET_ENV})"
        )
    return budget


# --- the request --------------------------------------------------------------------------------
def _number(value: Any, name: str, integer: bool = False, scale: float = 1.0) -> float | int:
    """A finite number inside LIMITS[name] (integers may come as integral floats); ``scale``
    converts an older unit (a percent: 0.01) first."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise StudioError(f"{name} must be a number, got {value!r}")
    value = float(value) * scale
    if not math.isfinite(value):
        raise StudioError(f"{name} must be a finite number, got {value}")
    if integer and value != int(value):
        raise StudioError(f"{name} must be a whole number, got {value:g}")
    lo, hi = LIMITS["weight" if name.startswith("weight") else name.removesuffix("_pct")]
    if not lo <= value <= hi:
        raise StudioError(f"{name} must be in [{lo:g}, {hi:g}], got {value:g}")
    return int(value) if integer else value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise StudioError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def checked_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise StudioError(f"unknown {name} {value!r}; choose one of {list(choices)}")
    return value


@dataclass(frozen=True)
class Request:
    """Everything that defines one studio run (hashable; validated on construction).

    The defaults are :data:`alignda.experiment.DEFAULT`'s (:meth:`experiment` gives the
    request as an :class:`~alignda.experiment.Experiment`). ``density`` is the observed
    fraction of the grid points (0.01 = 1 %; ignored for CSV points);
    ``noise_scale`` multiplies the default observation error std of every variable
    (:data:`alignda.obs.operator.DEFAULT_NOISE_STD`; 0 = perfect observations); ``weights`` are the
    reward weights in the order of :data:`alignda.alignment.soup.DELTAS` (all zero = unaligned);
    ``forecast`` adds the 48 h forecast reward (a few seconds more); ``points_csv`` is the
    text of the user's CSV (``lat, lon[, variable, value]``) for the ``"csv"`` pattern.
    """

    case: str = DEFAULT.case
    pattern: str = DEFAULT.observing.pattern
    density: float = DEFAULT.observing.density
    noise_scale: float = DEFAULT.observing.noise_scale
    mode: str = DEFAULT.method.mode
    zeta: float = DEFAULT.method.zeta
    steps: int = DEFAULT.method.steps
    members: int = DEFAULT.method.members
    seed: int = DEFAULT.seed
    weights: tuple[float, ...] = DEFAULT.weights
    forecast: bool = False
    points_csv: str | None = None

    def __post_init__(self) -> None:
        checked = {
            "case": str(self.case).strip(),
            "pattern": checked_choice(self.pattern, "observation pattern", OBS_PATTERNS),
            "mode": checked_choice(self.mode, "guidance mode", ANALYSIS_MODES),
            "density": _number(self.density, "density"),
            "noise_scale": _number(self.noise_scale, "noise_scale"),
            "zeta": _number(self.zeta, "zeta"),
            "steps": _number(self.steps, "steps", integer=True),
            "members": _number(self.members, "members", integer=True),
            "seed": _number(self.seed, "seed", integer=True),
            "weights": self._checked_weights(),
            "forecast": _flag(self.forecast, "forecast"),
            "points_csv": self._checked_points(),
        }
        for key, value in checked.items():
            object.__setattr__(self, key, value)

    def _checked_weights(self) -> tuple[float, ...]:
        if isinstance(self.weights, str | bytes | Mapping) or not isinstance(
            self.weights, Iterable
        ):
            raise StudioError(
                f"weights must be a list of {len(DELTAS)} numbers {list(DELTAS)}, "
                f"got {self.weights!r}"
            )
        w = tuple(self.weights)
        if len(w) != len(DELTAS):
            raise StudioError(f"expected {len(DELTAS)} reward weights {list(DELTAS)}, got {w}")
        values = tuple(_number(x, f"weight {k!r}") for k, x in zip(DELTAS, w, strict=True))
        normalise_weights(dict(zip(DELTAS, values, strict=True)))
        return values

    def _checked_points(self) -> str | None:
        if self.pattern != CSV_PATTERN:
            return None
        if not self.points_csv or not str(self.points_csv).strip():
            raise StudioError("the 'csv' pattern needs a CSV file of points (lat, lon)")
        return str(self.points_csv)

    @property
    def weight_dict(self) -> dict[str, float]:
        """Normalised reward weights over DELTAS."""
        return normalise_weights(dict(zip(DELTAS, self.weights, strict=True)))

    @property
    def aligned(self) -> bool:
        """Whether any reward weight is non-zero."""
        return any(w > 0 for w in self.weights)

    def sampler(self) -> SamplerSettings:
        """The sampler settings of the score-based analyses."""
        return self.experiment().sampler

    def experiment(self) -> Experiment:
        """The request as an :class:`~alignda.experiment.Experiment` (a CSV-points request:
        its network's settings are the default's)."""
        if self.pattern == CSV_PATTERN:
            observing = replace(DEFAULT.observing, noise_scale=self.noise_scale)
        else:
            observing = Observing(self.pattern, self.density, self.noise_scale)
        return Experiment(
            case=self.case,
            observing=observing,
            method=replace(
                DEFAULT.method,
                mode=self.mode,
                steps=self.steps,
                zeta=self.zeta,
                members=self.members,
            ),
            weights=self.weights,
            seed=self.seed,
        )

    def noise_std(self) -> dict[str, float]:
        """Observation error std per variable (physical units)."""
        return scaled_noise_std(self.noise_scale)

    def baseline(self) -> Request:
        """The request without weights and forecast: the key of what those do not change."""
        return replace(self, weights=(0.0,) * len(DELTAS), forecast=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (inverse: ``Request(**d)``)."""
        d = asdict(self)
        d["weights"] = dict(zip(DELTAS, self.weights, strict=True))
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Request:
        """From :meth:`to_dict` output (weights as a mapping or a sequence)."""
        if not isinstance(d, Mapping):
            raise StudioError(f"a request must be a JSON object of fields, got {d!r:.80}")
        known = {f.name for f in fields(cls)} | {"density_pct"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise StudioError(f"unknown request field(s) {unknown}; known: {sorted(known)}")
        d = dict(d)
        if "density_pct" in d and "density" not in d:  # older settings files: a percent
            d["density"] = _number(d.pop("density_pct"), "density_pct", scale=0.01)
        w = d.get("weights", cls.weights)
        if isinstance(w, Mapping):
            normalise_weights(w)  # rejects unknown names
            d["weights"] = tuple(float(w.get(k, 0.0)) for k in DELTAS)
        return cls(**d)


def preset_weights(name: str) -> tuple[float, ...]:
    """Slider values over DELTAS of a named preset of :data:`alignda.alignment.soup.PRESETS`."""
    return experiment.preset_weights(checked_choice(name, "preset", tuple(PRESETS)))


def read_upload(
    path: str | os.PathLike[str] | None, root: str | os.PathLike[str] | None = None
) -> str | None:
    """Text of an uploaded CSV, refusing files that are too large, binary or not UTF-8.

    With ``root`` (the server's upload folder) any path outside it is refused: a client
    must upload its file, never name one on the server.
    """
    if path is None or str(path) == "":
        return None
    path = Path(path)
    if root is not None and not path.resolve().is_relative_to(Path(root).resolve()):
        raise StudioError(
            f"{path.name} was not uploaded: send the file itself (the page's upload box, or "
            "gradio_client.handle_file), not a path on the server"
        )
    if not path.is_file():
        raise StudioError(f"{path.name} is not a file")
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise StudioError(
            f"{path.name} is {size / 1e6:.1f} MB; uploads are limited to "
            f"{MAX_UPLOAD_BYTES / 1e6:g} MB ({MAX_CSV_ROWS} points)"
        )
    data = path.read_bytes()
    if b"\x00" in data:
        raise StudioError(f"{path.name} is a binary file, not CSV text (lat, lon per line)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise StudioError(f"{path.name} is not UTF-8 text: {err}") from None


def checkpoints_folder() -> Path:
    """``$ALIGNDA_CHECKPOINTS``, else the Hub snapshot of ``$ALIGNDA_HUB_REPO``, else shipped."""
    folder = os.environ.get(CHECKPOINTS_ENV)
    return Path(folder) if folder else checkpoint_dir()
