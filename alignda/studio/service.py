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

Every request has a compute budget (``$ALIGNDA_BUDGET_S``, default 60 s) of work on this
machine, calibrated when the studio starts (:mod:`alignda.studio.budget`): a request above it
is refused with what to lower; one at or below the default settings always runs, on a busy
machine too (with a note on how long it took). A run can be cancelled
(``Studio.run(..., cancelled=...)``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from alignda import __version__
from alignda.alignment.rewards import FORECAST_HOURS, Forecaster, candidate_rewards
from alignda.analysis.methods import PriorMethod, VariationalMethod
from alignda.analysis.score import Cancelled, evaluation_seconds
from alignda.bundle import load_bundle
from alignda.checkpoints import CheckpointError, read_manifest
from alignda.evaluation.scorecard import score_table
from alignda.model.guidance import MODES
from alignda.model.prior import prior_denoiser
from alignda.obs.operator import Observations, observe_case
from alignda.paths import SHIPPED_CASES
from alignda.runtime import CpuContention, parallel_workers, serving_device, side_by_side
from alignda.studio.budget import Budget, Speeds, fastest_seconds
from alignda.studio.front import DEFAULT_SEEDS, FrontPoint, front_seconds, tradeoff_front
from alignda.studio.placement import Placed, PlacedCodec
from alignda.studio.reproduction import analysis_netcdf, reproduction
from alignda.studio.request import (
    CASES_ENV,
    CSV_PATTERN,
    MAX_CSV_ROWS,
    Request,
    StudioError,
    budget_seconds,
    checkpoints_folder,
)
from alignda.studio.result import (
    ALIGNED_ROW,
    FIT_COLUMN,
    REWARD_COLUMNS,
    THREEDVAR,
    UNALIGNED,
    Baseline,
    Result,
    Scenario,
    quality_notes,
    table_rows,
    unit_header,
)
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.reanalysis import OUT_OF_DISTRIBUTION_NOTE, is_reanalysis, provenance
from alignda.world.state import to_dataset
from alignda.world.variables import VARIABLE_NAMES

#: A progress callback: (fraction done in [0, 1], description).
Stage = Callable[[float, str], None]
#: An analysis to run: (show a progress bar) -> members (M, C, H, W).
Job = Callable[[bool], np.ndarray]


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
        self.folder = Path(folder) if folder else checkpoints_folder()
        self.cases_path = Path(cases or os.environ.get(CASES_ENV) or SHIPPED_CASES)
        self.cases = Cases.open(self.cases_path)
        self.grid = Grid(self.cases.truth.sizes["latitude"], self.cases.truth.sizes["longitude"])
        if self.grid.shape != Grid().shape:
            raise StudioError(
                f"{self.cases_path}: cases on a {self.grid.shape} grid; the models need "
                f"{Grid().shape}: regrid them with `python -m alignda cases-from-reanalysis`"
            )
        #: Real fields (not the twin world): the prior is out of its training distribution.
        self.real_fields = is_reanalysis(self.cases)
        #: What was derived or shifted in real fields ('' for the twin world).
        self.provenance = provenance(self.cases)
        #: Variables the files lacked (derived): no truth of their own to judge analyses by.
        self.derived = [v for v in VARIABLE_NAMES if "derived" in self.cases.truth[v].attrs]
        self._load(device or serving_device())
        self._forecaster: Forecaster | None = None
        self._cache: OrderedDict[Request, Baseline] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # one request at a time
        self.budget = Budget(budget_seconds(budget_s), self.measure_speeds)

    def _load(self, device: torch.device) -> None:
        """Load the models from the checkpoint folder onto ``device``."""
        bundle = load_bundle(self.folder, device=device)
        if bundle.hybrid is None:
            raise CheckpointError(f"{self.folder} has no 3D-Var background error (threedvar_b)")
        self.device = torch.device(device)
        self.stats, self.threedvar, self.hybrid = bundle.stats, bundle.threedvar, bundle.hybrid
        self.codec = PlacedCodec(bundle.codec, self.device)
        self.prior, self.soup = bundle.prior, bundle.soup  # placed on self.device
        self.soup_problem, self.aligned_steps = bundle.soup_problem, bundle.aligned_steps

    def use_device(self, device: torch.device) -> None:
        """Serve from ``device`` from now on (reloads the models there once). On ZeroGPU the
        studio starts on the CPU and each request moves it to the GPU it was lent."""
        if torch.device(device) != self.device:
            with self._lock:
                self._load(device)

    def gpu_seconds(self, req: Request, front: bool = False) -> int:
        """GPU seconds to reserve on ZeroGPU for a request (``front``: its trade-off front),
        from its estimate (:meth:`Budget.gpu_seconds`); a request the budget refuses gets the
        least (it is refused at once)."""
        try:
            nominal = front_seconds(self, req, DEFAULT_SEEDS) if front else self.estimate(req)
        except (ValueError, KeyError):
            nominal = 0.0
        return self.budget.gpu_seconds(nominal)

    # --- the compute budget -----------------------------------------------------------------
    def measure_speeds(self) -> Speeds:
        """Calibrate this machine for the budget (first case, 1 % random observations): one
        denoiser evaluation per member of each guidance mode, one 3D-Var analysis and one
        hybrid solve, each warmed up, the fastest of three runs. About 2 s."""
        t = self.cases.times[0]
        truth = self.cases.truth_state(t)
        background = self.cases.background_state(t)
        obs = observe_case(truth, 0, pattern="random", density=0.01)
        den = prior_denoiser(self.network(None))
        workers = parallel_workers()  # as the analyses of a request run: side by side
        per_eval = evaluation_seconds(den, self.codec, background, obs, MODES, workers=workers)
        ensemble = np.stack([background, truth])
        return Speeds(
            per_eval,
            threedvar=fastest_seconds(lambda: self.threedvar.analyse(background, obs)),
            solve=fastest_seconds(lambda: self.hybrid.centre(ensemble, obs, background)),
        )

    def estimate(self, req: Request) -> float:
        """Nominal seconds of a request on a fresh scenario (:meth:`Budget.estimate`)."""
        return self.budget.estimate(req, self.aligned_available)

    def check_budget(self, req: Request) -> float:
        """The request's nominal seconds; :class:`OverBudget` (saying what to lower) if it
        may not run (:meth:`Budget.admit`)."""
        return self.budget.admit(req, self.aligned_available)

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
        method = self.prior_method(req, weights, progress, workers, cancelled)
        return method.analyse(sc.background, sc.obs, seed=req.sampler().seed).members

    def prior_method(
        self,
        req: Request,
        weights: Mapping[str, float] | None = None,
        progress: bool = False,
        workers: int = 1,
        cancelled: Callable[[], bool] | None = None,
    ) -> PriorMethod:
        """The prior with ``weights`` under the request's sampler settings, as an analysis
        method (:class:`~alignda.analysis.methods.PriorMethod`)."""
        return PriorMethod(
            prior_denoiser(self.network(weights)),
            self.codec,
            req.sampler(),
            self.hybrid,
            workers=workers,
            progress=progress,
            stop=cancelled,
        )

    def threedvar_analysis(self, sc: Scenario, progress: bool = False) -> np.ndarray:
        """The 3D-Var analysis as a one-member ensemble (1, C, H, W) (no progress bar)."""
        return VariationalMethod(self.threedvar).analyse(sc.background, sc.obs).members

    def forecasts(self, base: Baseline, result: Result) -> dict[str, np.ndarray]:
        """48 h forecasts of every row (split over the cores; the baselines' are cached)."""
        names = table_rows(result)
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

    def front(
        self,
        req: Request,
        seeds: int = DEFAULT_SEEDS,
        stage: Stage | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[FrontPoint]:
        """The trade-off front of the request's scenario (:mod:`alignda.studio.front`)."""
        with self._lock:
            return tradeoff_front(self, req, seeds, stage, cancelled)

    def _run(
        self, req: Request, stage: Stage, cancelled: Callable[[], bool], cost: float
    ) -> Result:
        t0, contention = time.perf_counter(), CpuContention()
        _check(cancelled)
        key = req.baseline()
        base = self._recall(key)
        sc = base.scenario if base else self.scenario(req)
        jobs = self._jobs(req, sc, cached=base is not None, cancelled=cancelled)
        aligned = ALIGNED_ROW in jobs
        expect = self.budget.expected(cost)
        stage(0.05, ", ".join(jobs) + f" ({req.mode}, {req.members} member(s), ~{expect:.0f} s)")
        seconds: dict[str, float] = {}
        done = self._solve(jobs, seconds)
        _check(cancelled)
        priors = [seconds[n] for n in (UNALIGNED, ALIGNED_ROW) if n in seconds]
        if priors:
            self.budget.learn(req, len(priors), max(priors))
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
            notes=self._notes(req, sc, cached=THREEDVAR not in jobs) + self._cost_notes(cost),
            seconds=seconds,
        )
        forecasts = None
        if req.forecast and sc.future_truth is not None:
            _check(cancelled)
            stage(0.85, f"{FORECAST_HOURS} h forecasts")
            forecasts = self.forecasts(base, result)
        result.table = self.score(result, forecasts, sc.future_truth)
        result.notes += quality_notes(result.table, req, skip=self.derived)
        result.settings = self.settings(result)
        seconds["total (no maps)"] = took = time.perf_counter() - t0
        busy = self.budget.busy_note(cost, took, contention.share())
        result.notes += [busy] if busy else []
        return result

    def _cost_notes(self, cost: float) -> list[str]:
        budget = self.budget.seconds
        notes = [f"Estimated cost {cost:.0f} s of the {budget:g} s compute budget."]
        if cost > budget:
            d = self.budget.defaults
            notes.append(
                f"That is more than the budget on this machine, but requests at or below the "
                f"default settings ({d.steps} steps x {d.members} members) always run."
            )
        return notes

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

    def real_fields_note(self) -> str:
        """What the page says about real cases: out of distribution, and what was derived."""
        said = f" {self.provenance}." if self.provenance else ""
        return f"{OUT_OF_DISTRIBUTION_NOTE}{said}"

    def _notes(self, req: Request, sc: Scenario, cached: bool) -> list[str]:
        notes = [self.aligned_note()]
        if self.real_fields:
            notes.append(self.real_fields_note())
        if self.aligned_available and not req.aligned:
            notes.append("All reward weights are 0: the aligned prior is the unaligned one.")
        elif req.aligned and self.aligned_steps and req.steps not in self.aligned_steps:
            notes.append(
                f"The aligned deltas were tuned for {'/'.join(map(str, self.aligned_steps))} "
                f"sampler steps: at {req.steps} they can be worse than the unaligned prior."
            )
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
        names = table_rows(result)
        means = np.stack([result.mean(n) for n in names])
        preds = {n: to_dataset(m, self.grid) for n, m in zip(names, means, strict=True)}
        ensembles = {
            n: to_dataset(m, self.grid, leading=[("member", np.arange(len(m)))])
            for n, m in result.analyses.items()
        }
        table = score_table(
            preds,
            to_dataset(result.truth, self.grid),
            self.stats.scales,
            ensembles=ensembles,
            climatology=self.stats.climatology_dataset(self.grid.lon),
        )
        table = table.rename(columns=lambda c: unit_header(c, table.attrs["units"]))
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


@lru_cache(maxsize=1)
def default_studio() -> Studio:
    """The process-wide studio (checkpoints and cases from the environment, see above)."""
    return Studio()


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
