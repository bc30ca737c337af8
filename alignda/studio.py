"""Request logic of the Align-DA Studio app, free of any web framework (``app.py`` wires the UI).

One request = one shipped case, one observation network and sampler settings, and user reward
weights. :meth:`Studio.run` observes the truth, runs the baselines (background, 3D-Var, the
unaligned prior under the chosen guidance) and the reward-weighted aligned prior, and scores
them all (WeatherBench2 metrics and the three Align-DA rewards). The rest renders a
:class:`Result`: maps, the trade-off plot, the analysis netCDF and the settings JSON that
reproduces the run (``python -m alignda assimilate ...`` where the CLI has the options, and
:func:`reproduce` for everything).

Models, cases and the 3D-Var are loaded once per process (:func:`default_studio`). The
analyses of a request run side by side on the CPU cores, and the baselines of a scenario are
cached, so changing only the reward weights re-runs only the aligned sampler.

Every request has a compute budget (``$ALIGNDA_BUDGET_S``, default 60 s): its cost is
estimated before it runs from the cost of one denoiser evaluation of each guidance mode,
measured when the studio starts (:meth:`Studio.estimate`), and a request above the budget is
refused with what to lower. A run can be cancelled (``Studio.run(..., cancelled=...)``).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shlex
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor, nn

from alignda import __version__
from alignda.alignment.dpo import DELTAS, PRESETS, RewardSoup, load_deltas, normalise_weights
from alignda.alignment.rewards import FORECAST_HOURS, Forecaster, candidate_rewards
from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.score import (
    ANALYSIS_MODES,
    Cancelled,
    SamplerSettings,
    analyse,
    analysis_dataset,
    evaluation_seconds,
)
from alignda.analysis.threedvar import BackgroundError, ThreeDVar
from alignda.checkpoints import HUB_ENV, CheckpointError, checkpoint_dir, read_manifest, resolve
from alignda.evaluation.metrics import score_table
from alignda.model.codec import LatentCodec
from alignda.model.guidance import MODES
from alignda.model.prior import load_prior, prior_denoiser
from alignda.obs.networks import PATTERNS
from alignda.obs.operator import Observations, observe_case, scaled_noise_std
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES
from alignda.runtime import default_device, parallel_workers, side_by_side
from alignda.training.vae import load_codec
from alignda.viz.maps import map_panel, save_png
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.state import to_dataset
from alignda.world.stats import WorldStats
from alignda.world.variables import VARIABLE_NAMES, VARIABLES

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
WIND_SPEED = "wind speed"
MAP_VARIABLES: tuple[str, ...] = (*VARIABLE_NAMES, WIND_SPEED)
BACKGROUND, THREEDVAR, UNALIGNED, ALIGNED_ROW = (
    "background",
    "3D-Var",
    "unaligned prior",
    "aligned prior",
)
ANALYSES: tuple[str, ...] = (ALIGNED_ROW, UNALIGNED, THREEDVAR)
REWARD_COLUMNS = ("accuracy (BT)", f"forecast (-MSE +{FORECAST_HOURS} h)", "physics (Geo-Score %)")
#: RMS of (observation - state) / obs error std: O-B for the background, O-A for analyses.
FIT_COLUMN = "obs misfit (rms / std)"
HISTORY_LENGTH = 20
#: Columns of :func:`display_table`.
TABLE_HEADERS: tuple[str, ...] = (
    "method",
    "MSE",
    "MAE",
    *(f"RMSE {k} [{v['units']}]" for k, v in VARIABLES.items()),
    FIT_COLUMN,
    *REWARD_COLUMNS,
)

#: Accepted ranges of the numeric request fields (inclusive), also used by the UI.
LIMITS: dict[str, tuple[float, float]] = {
    "density_pct": (0.01, 100.0),
    "noise_scale": (0.0, 10.0),
    "zeta": (0.0, 20.0),
    "steps": (4, 256),
    "members": (1, 16),
    "seed": (0, 2**31 - 1),
    "weight": (0.0, 10.0),
}

#: A progress callback: (fraction done in [0, 1], description).
Stage = Callable[[float, str], None]
#: An analysis to run: (show a progress bar) -> members (M, C, H, W).
Job = Callable[[bool], np.ndarray]


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
def _number(value: Any, name: str, integer: bool = False) -> float | int:
    """A finite number inside LIMITS[name] (integers may come as integral floats)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise StudioError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise StudioError(f"{name} must be a finite number, got {value}")
    if integer and value != int(value):
        raise StudioError(f"{name} must be a whole number, got {value:g}")
    lo, hi = LIMITS["weight" if name.startswith("weight") else name]
    if not lo <= value <= hi:
        raise StudioError(f"{name} must be in [{lo:g}, {hi:g}], got {value:g}")
    return int(value) if integer else value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise StudioError(f"{name} must be true or false, got {value!r}")
    return bool(value)


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise StudioError(f"unknown {name} {value!r}; choose one of {list(choices)}")
    return value


@dataclass(frozen=True)
class Request:
    """Everything that defines one studio run (hashable; validated on construction).

    ``density_pct`` is the observed share of grid points in percent (ignored for CSV points);
    ``noise_scale`` multiplies the default observation error std of every variable
    (:data:`alignda.obs.operator.DEFAULT_NOISE_STD`; 0 = perfect observations); ``weights`` are the
    reward weights in the order of :data:`alignda.alignment.dpo.DELTAS` (all zero = unaligned);
    ``forecast`` adds the 48 h forecast reward (a few seconds more); ``points_csv`` is the
    text of the user's CSV (``lat, lon[, variable, value]``) for the ``"csv"`` pattern.
    """

    case: str = "0"
    pattern: str = "random"
    density_pct: float = 1.0
    noise_scale: float = 1.0
    mode: str = "hybrid"
    zeta: float = 1.0
    steps: int = 32
    members: int = 4
    seed: int = 0
    weights: tuple[float, ...] = (1.0, 1.0, 1.0, 0.0)
    forecast: bool = False
    points_csv: str | None = None

    def __post_init__(self) -> None:
        checked = {
            "case": str(self.case).strip(),
            "pattern": _choice(self.pattern, "observation pattern", OBS_PATTERNS),
            "mode": _choice(self.mode, "guidance mode", ANALYSIS_MODES),
            "density_pct": _number(self.density_pct, "density_pct"),
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
        return SamplerSettings(
            mode=self.mode, steps=self.steps, zeta=self.zeta, members=self.members, seed=self.seed
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
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise StudioError(f"unknown request field(s) {unknown}; known: {sorted(known)}")
        d = dict(d)
        w = d.get("weights", cls.weights)
        if isinstance(w, Mapping):
            normalise_weights(w)  # rejects unknown names
            d["weights"] = tuple(float(w.get(k, 0.0)) for k in DELTAS)
        return cls(**d)


def preset_weights(name: str) -> tuple[float, ...]:
    """Slider values over DELTAS of a named preset of :data:`alignda.alignment.dpo.PRESETS`."""
    preset = PRESETS[_choice(name, "preset", tuple(PRESETS))]
    return tuple(float(preset.get(k, 0.0)) for k in DELTAS)


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


# --- models on a device ---------------------------------------------------------------------------
def _to(x: Any, device: torch.device) -> Any:
    return x.to(device) if isinstance(x, Tensor) else x


class Placed(nn.Module):
    """A network on ``device`` called from a CPU sampler: inputs go there, outputs come back."""

    def __init__(self, net: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.net, self.device = net, device

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        args = tuple(_to(a, self.device) for a in args)
        kwargs = {k: _to(v, self.device) for k, v in kwargs.items()}
        return self.net(*args, **kwargs).cpu()

    def to_latent(self, x: Tensor, z_b: Tensor) -> Tensor:
        """The network's sample -> latent map (identity for a plain prior)."""
        f = getattr(self.net, "to_latent", None)
        return x if f is None else f(x.to(self.device), z_b.to(self.device)).cpu()

    def from_latent(self, z: Tensor, z_b: Tensor) -> Tensor:
        """Inverse of :meth:`to_latent`."""
        f = getattr(self.net, "from_latent", None)
        return z if f is None else f(z.to(self.device), z_b.to(self.device)).cpu()


class PlacedCodec:
    """A :class:`LatentCodec` on ``device`` with CPU tensors in and out (as ``analyse`` uses)."""

    def __init__(self, codec: LatentCodec, device: torch.device) -> None:
        self.codec, self.device, self.stats = codec.to(device), device, codec.stats

    def encode(self, x: Tensor) -> Tensor:
        """Physical state -> latent."""
        return self.codec.encode(x.to(self.device)).cpu()

    def decode(self, z: Tensor) -> Tensor:
        """Latent -> physical state."""
        return self.codec.decode(z.to(self.device)).cpu()


# --- results --------------------------------------------------------------------------------------
@dataclass
class Scenario:
    """A case observed: truth, background, observations (and the truth 48 h later, if any)."""

    time: np.datetime64
    truth: np.ndarray
    background: np.ndarray
    future_truth: np.ndarray | None
    obs: Observations


@dataclass
class Baseline:
    """What the reward weights do not change (cached per scenario and sampler settings)."""

    scenario: Scenario
    analyses: dict[str, np.ndarray]  # 3D-Var (1, C, H, W) and unaligned prior (M, C, H, W)
    forecasts: dict[str, np.ndarray] = field(default_factory=dict)  # name -> 48 h (C, H, W)


@dataclass
class Result:
    """Everything a request produced (inputs for maps, tables and downloads)."""

    request: Request
    label: str
    time: np.datetime64
    grid: Grid
    truth: np.ndarray
    background: np.ndarray
    obs: Observations
    analyses: dict[str, np.ndarray]
    table: pd.DataFrame
    notes: list[str]
    seconds: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def main(self) -> str:
        """The score-based analysis to show and download: aligned if computed, else unaligned."""
        return ALIGNED_ROW if ALIGNED_ROW in self.analyses else UNALIGNED

    def mean(self, name: str) -> np.ndarray:
        """Ensemble-mean state (C, H, W) of an analysis or of the background."""
        return self.background if name == BACKGROUND else self.analyses[name].mean(axis=0)


# --- the studio -----------------------------------------------------------------------------------
class Studio:
    """Models and cases loaded once; :meth:`run` serves requests (thread-safe)."""

    def __init__(
        self,
        folder: str | Path | None = None,
        cases: str | Path | None = None,
        device: torch.device | None = None,
        cache_size: int = 8,
        budget_s: float | None = None,
    ) -> None:
        self.budget_s = budget_seconds(budget_s)
        self.folder = Path(folder) if folder else checkpoints_folder()
        self.cases_path = Path(cases or os.environ.get(CASES_ENV) or SHIPPED_CASES)
        self.device = device or default_device()
        self.cases = Cases.open(self.cases_path)
        self.grid = Grid(self.cases.truth.sizes["latitude"], self.cases.truth.sizes["longitude"])
        self.stats = WorldStats.load(resolve("world_stats", self.folder))
        self.threedvar = ThreeDVar(BackgroundError.load(resolve("threedvar_b", self.folder)))
        self.hybrid = HybridEnVar(self.threedvar)
        self.codec = PlacedCodec(load_codec(self.folder), self.device)
        self.prior = load_prior(directory=self.folder).to(self.device)
        self.soup_problem = ""
        self.soup = self._load_soup()
        self._forecaster: Forecaster | None = None
        self._cache: OrderedDict[Request, Baseline] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # one request at a time
        self.eval_seconds, self.threedvar_s = self.calibrate()
        self.slowdown = 1.0  # measured / calibrated sampler seconds (see _learn_speed)

    def _load_soup(self) -> RewardSoup | None:
        if "aligned" not in read_manifest(self.folder):
            return None
        try:
            deltas = load_deltas(directory=self.folder)
        except CheckpointError as err:  # e.g. deltas of another prior: never mixed in
            self.soup_problem = str(err)
            return None
        moved = {n: {k: v.to(self.device) for k, v in d.items()} for n, d in deltas.items()}
        return RewardSoup(self.prior, moved)

    # --- the compute budget -----------------------------------------------------------------
    def calibrate(self) -> tuple[dict[str, float], float]:
        """Seconds of one denoiser evaluation per member for each guidance mode, and of one
        3D-Var analysis, measured on this machine (first case, 1 % random observations).
        About 1 s; run once when the studio starts."""
        t = self.cases.times[0]
        truth = self.cases.truth_state(t)
        background = self.cases.background_state(t)
        obs = observe_case(truth, 0, pattern="random", density=0.01)
        den = prior_denoiser(self.network(None))
        workers = parallel_workers()  # as the analyses of a request run: side by side
        per_eval = evaluation_seconds(den, self.codec, background, obs, MODES, workers=workers)
        per_eval["hybrid"] = per_eval["obsfree"]  # its prior ensemble; solves: hybrid_solve_s
        times = []
        for _ in range(2):  # the first call warms up
            t0 = time.perf_counter()
            self.threedvar.analyse(background, obs)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        self.hybrid.centre(np.stack([background, truth]), obs, background)  # one solve
        self.hybrid_solve_s = time.perf_counter() - t0
        return per_eval, times[-1]

    def estimate(self, req: Request) -> float:
        """Estimated seconds of a request on a fresh scenario (nothing cached).

        The samplers dominate: steps x (1 + corrections) evaluations, each costing the members
        it carries times the calibrated seconds per member of the mode. The unaligned and,
        with reward weights, the aligned prior share the cores (one alone splits its members
        over them); 3D-Var, scores, maps and forecasts add a little. The calibrated sampler
        seconds are scaled by ``slowdown``, which follows the measured speed of the recent
        requests (1 at start-up; above 1 when other work shares the cores).
        """
        analyses = 1 + int(self.aligned_available and req.aligned)
        sampling = self.slowdown * self._sampling_seconds(req, analyses)
        if req.mode == "hybrid":  # one variational solve per member and one for the centre
            solves = max(req.members, 2) + 1
            sampling += self.slowdown * analyses * solves * self.hybrid_solve_s
        return sampling + self.threedvar_s + OVERHEAD_S + FORECAST_S * req.forecast

    def _sampling_seconds(self, req: Request, analyses: int) -> float:
        """Calibrated seconds of ``analyses`` prior analyses of a request run side by side."""
        s = req.sampler()
        workers = parallel_workers()
        per_analysis = max(1, workers // analyses)  # threads each analysis splits its members on
        rounds = math.ceil(analyses / workers)  # analyses that cannot run side by side queue
        evaluations = s.steps * (1 + s.corrections)
        members = math.ceil(s.members / per_analysis)
        return rounds * evaluations * members * self.eval_seconds[s.mode]

    def _learn_speed(self, req: Request, seconds: Mapping[str, float]) -> None:
        """Follow the machine's load: ``slowdown`` tracks the ratio of the samplers' measured
        to calibrated seconds over the last requests (other work on the cores slows them)."""
        priors = [seconds[n] for n in (UNALIGNED, ALIGNED_ROW) if n in seconds]
        predicted = self._sampling_seconds(req, len(priors)) if priors else 0.0
        if predicted > 0.5:  # long enough to measure
            ratio = min(max(max(priors) / predicted, 0.5), 4.0)
            self.slowdown = 0.6 * self.slowdown + 0.4 * ratio

    def check_budget(self, req: Request) -> float:
        """The request's estimated seconds; :class:`OverBudget` (saying what to lower) if they
        exceed the budget."""
        cost = self.estimate(req)
        if cost <= self.budget_s:
            return cost
        lower = []
        members = self.largest_within_budget(req, "members", req.members - 1)
        if members:
            lower.append(f"members to {members}")
        steps = self.largest_within_budget(req, "steps", req.steps - 1)
        if steps:
            lower.append(f"steps to {steps}")
        cheaper = [
            m
            for m in ANALYSIS_MODES
            if m != req.mode
            and m != "obsfree"
            and self.estimate(replace(req, mode=m)) <= self.budget_s
        ]
        if cheaper:
            lower.append(f"guidance {' or '.join(cheaper)}")
        if not lower:
            lower.append("steps and members together")
        raise OverBudget(
            f"estimated {cost:.0f} s > budget {self.budget_s:.0f} s ({req.mode}, {req.steps} "
            f"steps x {req.members} member(s)): lower {' or '.join(lower)}"
        )

    def largest_within_budget(self, req: Request, name: str, upto: int) -> int | None:
        """The largest value <= upto of an integer field (steps or members) within budget."""
        lo = int(LIMITS[name][0])
        if upto < lo or self.estimate(replace(req, **{name: lo})) > self.budget_s:
            return None
        while lo < upto:  # the cost grows with the value: bisect
            mid = (lo + upto + 1) // 2
            if self.estimate(replace(req, **{name: mid})) <= self.budget_s:
                lo = mid
            else:
                upto = mid - 1
        return lo

    def max_within_budget(self, name: str) -> int:
        """Slider maximum of ``steps`` or ``members``: the largest value a request with the
        other one at its minimum can use (cheapest guidance, reward weights set)."""
        cheapest = min(MODES, key=self.eval_seconds.__getitem__)
        base = Request(mode=cheapest, steps=int(LIMITS["steps"][0]), members=1)
        return self.largest_within_budget(base, name, int(LIMITS[name][1])) or int(LIMITS[name][0])

    # --- small accessors -------------------------------------------------------------------
    @property
    def aligned_available(self) -> bool:
        """Whether the aligned deltas ship with the checkpoints."""
        return self.soup is not None

    @property
    def labels(self) -> list[str]:
        """Analysis times of the cases, as menu labels (e.g. ``2000-07-04T00``)."""
        return [str(np.datetime_as_string(t, unit="h")) for t in self.cases.times]

    @property
    def forecaster(self) -> Forecaster:
        """The 48 h forecast model (built on first use)."""
        if self._forecaster is None:
            self._forecaster = Forecaster(workers=parallel_workers())
        return self._forecaster

    def aligned_note(self) -> str:
        """One line on the aligned deltas (for the page)."""
        if self.aligned_available:
            return "Aligned deltas loaded: the reward weights mix them (rewarded soup)."
        if self.soup_problem:
            return (
                f"The aligned deltas are not used: {self.soup_problem}. The reward weights "
                "have no effect and the unaligned prior is used."
            )
        return (
            f"The aligned deltas are not available (no 'aligned' checkpoint in "
            f"{self.folder / 'manifest.json'}): the reward weights have no effect and the "
            "unaligned prior is used."
        )

    def case_time(self, key: str) -> np.datetime64:
        """Analysis time of a case label or index."""
        try:
            return self.cases.time_of(key)
        except (KeyError, IndexError, ValueError) as err:
            raise StudioError(
                f"unknown case {key!r}; choose an index 0..{len(self.cases) - 1} or one of "
                f"{self.labels[:3]}...: {err}"
            ) from None

    def network(self, weights: Mapping[str, float] | None) -> nn.Module:
        """The prior's network for reward weights (the reference one if none is set)."""
        net = self.prior if self.soup is None or not weights else self.soup.network(weights)
        return Placed(net, self.device)

    # --- the work --------------------------------------------------------------------------
    def observe(self, req: Request, truth: np.ndarray) -> Observations:
        """The request's observations of a truth state (seeded like the CLI)."""
        csv = req.pattern == CSV_PATTERN
        return observe_case(
            truth,
            req.seed,
            pattern=req.pattern,
            density=req.density_pct / 100.0,
            points=req.points_csv.encode() if csv and req.points_csv else None,
            noise_scale=req.noise_scale,
            max_rows=MAX_CSV_ROWS,
        )

    def scenario(self, req: Request) -> Scenario:
        """The request's case and observations."""
        t = self.case_time(req.case)
        truth = self.cases.truth_state(t)
        return Scenario(
            time=t,
            truth=truth,
            background=self.cases.background_state(t),
            future_truth=self.cases.future_truth(t, FORECAST_HOURS),
            obs=self.observe(req, truth),
        )

    def analyse(
        self,
        req: Request,
        weights: Mapping[str, float] | None,
        sc: Scenario,
        progress: bool = True,
        workers: int = 1,
        cancelled: Callable[[], bool] | None = None,
    ) -> np.ndarray:
        """Members (M, C, H, W) of the prior with ``weights`` under the request's guidance.

        ``workers`` groups of members are sampled side by side (same members for any value);
        ``cancelled`` is asked before every denoiser evaluation (see :meth:`run`).
        """
        den = prior_denoiser(self.network(weights))
        return analyse(
            den,
            self.codec,
            sc.background,
            sc.obs,
            req.sampler(),
            progress=progress,
            workers=workers,
            stop=cancelled,
            hybrid=self.hybrid,
        )

    def threedvar_analysis(self, sc: Scenario, progress: bool = False) -> np.ndarray:
        """The 3D-Var analysis as a one-member ensemble (1, C, H, W) (no progress bar)."""
        return self.threedvar.analyse(sc.background, sc.obs)[None]

    def forecasts(self, base: Baseline, result: Result) -> dict[str, np.ndarray]:
        """48 h forecasts of every row (split over the cores; the baselines' are cached)."""
        names = _rows(result)
        missing = [n for n in names if n not in base.forecasts]
        new: dict[str, np.ndarray] = {}
        if missing:
            states = np.stack([result.mean(n) for n in missing])
            with _timed(result.seconds, "forecasts"):
                new = dict(zip(missing, self.forecaster(states, FORECAST_HOURS), strict=True))
            base.forecasts.update({n: f for n, f in new.items() if n != ALIGNED_ROW})
        return {n: new[n] if n in new else base.forecasts[n] for n in names}

    def _solve(self, jobs: dict[str, Job], seconds: dict[str, float]) -> dict[str, np.ndarray]:
        """Run analysis jobs (longest first) side by side where the cores allow, each timed."""

        def timed(name: str, tracked: bool) -> np.ndarray:
            with _timed(seconds, name):
                return jobs[name](tracked)

        return side_by_side({n: partial(timed, n) for n in jobs}, parallel_workers())

    def run(
        self,
        req: Request,
        stage: Stage | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Result:
        """Serve one request: observations, baselines, aligned prior, scores, settings.

        A request whose estimated cost exceeds the budget is refused at once
        (:class:`OverBudget`). Requests are served one at a time (the analyses inside one run
        in parallel). ``cancelled`` is asked before every denoiser evaluation and between the
        stages; once it answers true the run stops with :class:`alignda.analysis.score.Cancelled`
        (nothing is cached).
        """
        cost = self.check_budget(req)
        with self._lock:
            return self._run(req, stage or _no_stage, cancelled or _never, cost)

    def _run(
        self, req: Request, stage: Stage, cancelled: Callable[[], bool], cost: float
    ) -> Result:
        t0 = time.perf_counter()
        _check(cancelled)
        key = req.baseline()
        base = self._recall(key)
        sc = base.scenario if base else self.scenario(req)
        jobs = self._jobs(req, sc, cached=base is not None, cancelled=cancelled)
        aligned = ALIGNED_ROW in jobs
        stage(0.05, ", ".join(jobs) + f" ({req.mode}, {req.members} member(s), ~{cost:.0f} s)")
        seconds: dict[str, float] = {}
        done = self._solve(jobs, seconds)
        _check(cancelled)
        self._learn_speed(req, seconds)
        if base is None:
            base = Baseline(sc, {n: done[n] for n in (THREEDVAR, UNALIGNED)})
            self._remember(key, base)
        result = Result(
            request=req,
            label=str(np.datetime_as_string(sc.time, unit="h")),
            time=sc.time,
            grid=self.grid,
            truth=sc.truth,
            background=sc.background,
            obs=sc.obs,
            analyses={**base.analyses, **({ALIGNED_ROW: done[ALIGNED_ROW]} if aligned else {})},
            table=pd.DataFrame(),
            notes=self._notes(req, sc, cached=THREEDVAR not in jobs)
            + [f"Estimated cost {cost:.0f} s of the {self.budget_s:g} s compute budget."],
            seconds=seconds,
        )
        forecasts = None
        if req.forecast and sc.future_truth is not None:
            _check(cancelled)
            stage(0.85, f"{FORECAST_HOURS} h forecasts")
            forecasts = self.forecasts(base, result)
        result.table = self.score(result, forecasts, sc.future_truth)
        result.notes += _fit_notes(result.table, req)
        result.settings = self.settings(result)
        seconds["total (no maps)"] = time.perf_counter() - t0
        return result

    def _jobs(
        self, req: Request, sc: Scenario, cached: bool, cancelled: Callable[[], bool] | None = None
    ) -> dict[str, Job]:
        """The analyses a request still needs, longest first."""
        jobs: dict[str, Job] = {}
        priors = {UNALIGNED: None} if not cached else {}
        if self.aligned_available and req.aligned:
            priors[ALIGNED_ROW] = req.weight_dict
        # the cores are shared among the prior analyses (one alone splits its members)
        workers = max(1, parallel_workers() // max(1, len(priors)))
        for name, weights in priors.items():
            jobs[name] = partial(
                self.analyse, req, weights, sc, workers=workers, cancelled=cancelled
            )
        if not cached:
            jobs[THREEDVAR] = partial(self.threedvar_analysis, sc)
        return jobs

    def _recall(self, key: Request) -> Baseline | None:
        base = self._cache.get(key)
        if base is not None:
            self._cache.move_to_end(key)
        return base

    def _remember(self, key: Request, base: Baseline) -> None:
        self._cache[key] = base
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _notes(self, req: Request, sc: Scenario, cached: bool) -> list[str]:
        notes = [self.aligned_note()]
        if self.aligned_available and not req.aligned:
            notes.append("All reward weights are 0: the aligned prior is the unaligned one.")
        if req.forecast and sc.future_truth is None:
            notes.append(f"No truth {FORECAST_HOURS} h after this case: no forecast reward.")
        if cached:
            notes.append("3D-Var and the unaligned prior were reused (same case and settings).")
        return notes

    def score(
        self, result: Result, forecasts: dict[str, np.ndarray] | None, future: np.ndarray | None
    ) -> pd.DataFrame:
        """Metrics (MSE, MAE, RMSE per variable), the fit to the observations (O-B, O-A) and
        the three rewards of every row."""
        names = _rows(result)
        means = np.stack([result.mean(n) for n in names])
        preds = {n: to_dataset(m, self.grid) for n, m in zip(names, means, strict=True)}
        table = score_table(preds, to_dataset(result.truth, self.grid), self.stats.scales)
        table = table.rename(columns=lambda c: _unit_header(c, table.attrs["units"]))
        table[FIT_COLUMN] = [result.obs.misfit(m) for m in means]
        fcs = None if forecasts is None else np.stack([forecasts[n] for n in names])
        r = candidate_rewards(means, result.truth, fcs, future, self.stats.std)
        values = (r["accuracy"], r["forecast"], 100 * r["physics"])
        for column, v in zip(REWARD_COLUMNS, values, strict=True):
            table[column] = v
        table.attrs.clear()
        return table

    def settings(self, result: Result) -> dict[str, Any]:
        """The run's settings, checkpoints and how to reproduce it (JSON-able)."""
        req, obs = result.request, result.obs
        manifest = read_manifest(self.folder)
        return {
            "app": "Align-DA Studio",
            "alignda_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "case_time": result.label,
            "request": req.to_dict(),
            "sampler": req.sampler().to_dict(),
            "observations": {
                "count": obs.count,
                "counts": obs.counts,
                "noise_std": req.noise_std(),
            },
            "reward_weights_normalised": req.weight_dict,
            "analysis_in_netcdf": result.main,
            "checkpoints": {
                "folder": str(self.folder),
                "sha256": {
                    k: manifest[k]["sha256"] for k in ("vae", "prior", "aligned") if k in manifest
                },
            },
            "reproduce": reproduction(result, self.folder, self.cases_path),
        }


def _fit_notes(table: pd.DataFrame, req: Request) -> list[str]:
    """A warning for each prior analysis that fits the observations worse than the background
    (O-A > O-B): the guidance pulled it away (too strong for this many observations or this
    few steps)."""
    fit = table[FIT_COLUMN]
    notes = []
    for row in (UNALIGNED, ALIGNED_ROW):
        if row in fit.index and fit[row] > fit[BACKGROUND]:
            hint = (
                f"lower zeta (now {req.zeta:g}) or use more steps"
                if req.mode == "dps"
                else "try DPS"
            )
            notes.append(
                f"The {row} fits the observations worse than the background (misfit "
                f"{fit[row]:.2f} > {fit[BACKGROUND]:.2f}): the guidance diverged; {hint}."
            )
    return notes


def _rows(result: Result) -> list[str]:
    """Table rows: the background and the analyses present, in a fixed order."""
    return [BACKGROUND, *(n for n in (THREEDVAR, UNALIGNED, ALIGNED_ROW) if n in result.analyses)]


def _no_stage(fraction: float, description: str) -> None:
    return None


def _never() -> bool:
    return False


def _check(cancelled: Callable[[], bool]) -> None:
    if cancelled():
        raise Cancelled("the request was cancelled")


@contextmanager
def _timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    """Add the seconds spent inside the block to ``seconds[name]``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0


def _weights_text(weights: Mapping[str, float]) -> str:
    active = [f"{k} {v:.2f}" for k, v in weights.items() if v > 0]
    return ", ".join(active) or "all zero"


def _unit_header(column: str, units: Mapping[str, str]) -> str:
    if column.startswith("RMSE ") and units.get(column[5:]):
        return f"{column} [{units[column[5:]]}]"
    return column


def checkpoints_folder() -> Path:
    """``$ALIGNDA_CHECKPOINTS``, else the Hub snapshot of ``$ALIGNDA_HUB_REPO``, else shipped."""
    folder = os.environ.get(CHECKPOINTS_ENV)
    return Path(folder) if folder else checkpoint_dir()


@lru_cache(maxsize=1)
def default_studio() -> Studio:
    """The process-wide studio (checkpoints and cases from the environment, see above)."""
    return Studio()


# --- reproduction ---------------------------------------------------------------------------------
def reproduction(result: Result, folder: Path, cases: Path) -> dict[str, Any]:
    """How to re-run a request: CLI commands (where the CLI can) and the Python call."""
    req = result.request
    needs = []
    if req.pattern == CSV_PATTERN:
        needs.append(f"{POINTS_FILE}: the text of request.points_csv (the uploaded CSV)")
    commands = {
        n: shlex.join(_cli_args(req, result.label, folder, cases, aligned=n == ALIGNED_ROW))
        for n in result.analyses
        if n != THREEDVAR
    }
    return {
        "cli": commands[result.main],
        "cli_reproduces": f"the '{result.main}' analysis members (the netCDF download)",
        "cli_by_analysis": commands,
        "cli_needs": needs,
        "python": 'python -c "from alignda.studio import reproduce; '
        "reproduce('settings.json', 'analysis.nc')\"",
    }


def _cli_args(req: Request, label: str, folder: Path, cases: Path, aligned: bool) -> list[str]:
    s = req.sampler()
    args = ["python", "-m", "alignda", "assimilate", "--case", label]
    if cases.resolve() != SHIPPED_CASES.resolve():
        args += ["--cases", str(cases)]
    hub = os.environ.get(HUB_ENV)
    if hub and not os.environ.get(CHECKPOINTS_ENV):
        args += ["--hub-repo", hub]
    elif folder.resolve() != CHECKPOINT_DIR.resolve():
        args += ["--checkpoints", str(folder)]
    if req.pattern == CSV_PATTERN:
        args += ["--points", POINTS_FILE]
    else:
        args += ["--pattern", req.pattern, "--density", repr(req.density_pct / 100.0)]
    if req.noise_scale != 1.0:
        args += ["--noise-scale", repr(req.noise_scale)]
    args += ["--mode", s.mode, "--steps", str(s.steps), "--corrections", str(s.corrections)]
    args += ["--zeta", repr(s.zeta), "--gamma", repr(s.gamma), "--members", str(s.members)]
    if aligned:
        args += ["--weights", ",".join(repr(w) for w in req.weights)]
    name = "analysis_aligned.nc" if aligned else "analysis_unaligned.nc"
    return args + ["--seed", str(s.seed), "--out", name]


def reproduce(settings: str | Path | Mapping[str, Any], out: str | Path | None = None) -> Result:
    """Re-run a settings JSON (file or dict) on the default studio; optionally write its netCDF."""
    if not isinstance(settings, Mapping):
        path = Path(settings)
        try:
            settings = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise StudioError(f"cannot read settings file {path.name}: {err}") from None
    request = settings.get("request") if isinstance(settings, Mapping) else None
    if not isinstance(request, Mapping):
        raise StudioError(
            "settings must be a JSON object with a 'request' object (the app's settings.json)"
        )
    req = Request.from_dict(request)  # refused before any model loads
    result = default_studio().run(req)
    if out is not None:
        analysis_netcdf(result, out)
    return result


# --- outputs --------------------------------------------------------------------------------------
def analysis_netcdf(result: Result, path: str | Path) -> Path:
    """The main analysis ensemble (members, mean, spread; CF attributes) as netCDF."""
    req = result.request
    weights = req.weight_dict if result.main == ALIGNED_ROW else normalise_weights({})
    settings = {k: v for k, v in req.to_dict().items() if k != "points_csv"}  # in the JSON
    ds = analysis_dataset(
        result.analyses[result.main],
        result.grid,
        result.time,
        attrs={
            "title": f"Align-DA Studio analysis ({result.main}), case {result.label}",
            "source": f"alignda {__version__}: latent score-based prior, {req.mode} guidance",
            "analysis": result.main,
            "reward_weights": json.dumps(weights),
            "settings": json.dumps(settings),
            "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} "
            "created by the Align-DA Studio app",
        },
    )
    path = Path(path)
    ds.to_netcdf(path)
    return path


def settings_json(result: Result, path: str | Path) -> Path:
    """The settings JSON (see :meth:`Studio.settings`)."""
    path = Path(path)
    path.write_text(json.dumps(result.settings, indent=2, default=_json_default) + "\n")
    return path


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def display_table(table: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """The score table with a ``method`` column and values rounded to significant digits."""
    rounded = table.map(lambda v: float(f"{v:.{digits}g}") if np.isfinite(v) else None)
    return rounded.reset_index(names="method")


# --- maps -----------------------------------------------------------------------------------------
def _variable(states: np.ndarray, variable: str) -> np.ndarray:
    """One variable of states (..., C, H, W); ``wind speed`` is derived from u and v."""
    if variable == WIND_SPEED:
        u, v = (states[..., VARIABLE_NAMES.index(k), :, :] for k in ("u", "v"))
        return np.hypot(u, v)
    return states[..., VARIABLE_NAMES.index(variable), :, :]


def _obs_points(result: Result, variable: str) -> tuple[np.ndarray, ...]:
    names = ("u", "v") if variable == WIND_SPEED else (variable,)
    idx = [VARIABLE_NAMES.index(k) for k in names]
    mask = result.obs.mask[idx].all(axis=0)
    ii, jj = np.nonzero(mask)
    values = _variable(result.obs.values, variable)[ii, jj]
    return result.grid.lat[ii], result.grid.lon[jj], values


def _units(variable: str) -> str:
    return VARIABLES["u" if variable == WIND_SPEED else variable]["units"]


def map_fields(result: Result, variable: str, analysis: str) -> dict[str, np.ndarray]:
    """The eight panels of the maps figure for one variable and analysis."""
    _choice(variable, "variable", MAP_VARIABLES)
    name = analysis if analysis in result.analyses else result.main
    members = _variable(result.analyses[name], variable)
    xa, truth, bg = (
        members.mean(axis=0),
        _variable(result.truth, variable),
        _variable(result.background, variable),
    )
    spread = members.std(axis=0, ddof=1) if len(members) > 1 else np.full_like(xa, np.nan)
    label = f"{name}, mean of {len(members)}" if len(members) > 1 else name
    return {
        "truth": truth,
        "background": bg,
        "observations": np.full_like(truth, np.nan),
        f"analysis ({label})": xa,
        "analysis - truth": xa - truth,
        "background - truth": bg - truth,
        "increment (analysis - background)": xa - bg,
        "ensemble spread" + ("" if len(members) > 1 else " (n/a: one member)"): spread,
    }


def maps_figure(result: Result, variable: str = "z", analysis: str = ALIGNED_ROW) -> Figure:
    """Cartopy maps (Robinson, coastlines, colourbars with units) of one variable."""
    panels = map_fields(result, variable, analysis)
    keys = list(panels)
    long_name = "wind speed" if variable == WIND_SPEED else VARIABLES[variable]["long_name"]
    req = result.request
    where = "CSV points" if req.pattern == CSV_PATTERN else f"{req.density_pct:g} % {req.pattern}"
    points = _obs_points(result, variable)
    return map_panel(
        panels,
        result.grid.lat,
        result.grid.lon,
        units=_units(variable),
        ncols=4,
        diverging_keys=keys[4:7],
        shared_limits_keys=keys[:4],
        obs=points,
        obs_keys=["observations"],
        title=f"{long_name} [{_units(variable)}], case {result.label}: "
        f"{len(points[0])} obs ({where}), {req.mode} guidance",
    )


def render_maps(result: Result, variable: str, analysis: str, path: str | Path) -> Path:
    """Write the maps figure as PNG (the figure is cleared afterwards)."""
    return save_png(maps_figure(result, variable, analysis), path)


# --- the trade-off plot ---------------------------------------------------------------------------
def tradeoff_point(result: Result) -> dict[str, Any]:
    """This run's aligned (or unaligned) prior on the trade-off axes, for the history."""
    row = result.table.loc[result.main]
    return {
        "scenario": hash(result.request.baseline()),  # same case, obs and sampler settings
        "label": _weights_text(result.request.weight_dict) if result.main == ALIGNED_ROW else "",
        "mse": float(row["MSE"]),
        "physics": float(row[REWARD_COLUMNS[2]]),
        "forecast": float(row[REWARD_COLUMNS[1]]),
    }


def extend_history(history: list[dict] | None, result: Result) -> list[dict]:
    """Earlier runs of the same scenario (different weights) plus this one, newest last."""
    point = tradeoff_point(result)
    kept = [p for p in history or [] if p["scenario"] == point["scenario"]]
    return [*kept, point][-HISTORY_LENGTH:]


_STYLE = {
    BACKGROUND: ("s", "0.5"),
    THREEDVAR: ("^", "black"),
    UNALIGNED: ("o", "tab:blue"),
    ALIGNED_ROW: ("*", "tab:red"),
}


def tradeoff_figure(result: Result, earlier: list[dict] | None = None) -> Figure:
    """Analysis MSE against the Geo-Score (and the 48 h forecast MSE when computed).

    ``earlier``: trade-off points of earlier runs (:func:`extend_history`); those of the same
    scenario with other weights are drawn faded.
    """
    scenario = tradeoff_point(result)["scenario"]
    past = [p for p in earlier or [] if p["label"] and p["scenario"] == scenario]
    axes = [("physics", REWARD_COLUMNS[2], "physics: Geo-Score (%), higher is better")]
    if np.isfinite(result.table[REWARD_COLUMNS[1]]).all():
        axes.append(("forecast", REWARD_COLUMNS[1], f"forecast: -MSE at +{FORECAST_HOURS} h"))
    fig = Figure(figsize=(3.6 * len(axes), 3.0), dpi=100)
    FigureCanvasAgg(fig)
    for i, (key, column, xlabel) in enumerate(axes):
        ax = fig.add_subplot(1, len(axes), i + 1)
        if past:
            x, y = [p[key] for p in past], [p["mse"] for p in past]
            ax.scatter(x, y, s=18, c="tab:red", alpha=0.3, label="earlier weights")
        for name, row in result.table.iterrows():
            marker, colour = _STYLE[str(name)]
            ax.scatter(row[column], row["MSE"], marker=marker, c=colour, s=70, label=name)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("analysis MSE (normalised), lower is better", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("reward trade-off", fontsize=9)
    fig.tight_layout()
    return fig


def figure_array(fig: Figure) -> np.ndarray:
    """RGB pixels of a figure; the figure is cleared afterwards."""
    try:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()
    finally:
        fig.clear()


def summary(result: Result) -> str:
    """Markdown notes of a run: messages, observations, timings."""
    obs = result.obs
    counts = ", ".join(f"{k} {v}" for k, v in obs.counts.items())
    timing = " · ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    lines = [
        *result.notes,
        f"Observations: {counts} ({100 * obs.fraction:.2g} % of all values).",
        f"Timings: {timing}.",
    ]
    return "\n\n".join(lines)
