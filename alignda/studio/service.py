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

import json
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

from alignda.alignment.rewards import FORECAST_HOURS
from alignda.analysis.methods import Analysis
from alignda.analysis.score import Cancelled
from alignda.model.prior import prior_denoiser
from alignda.runtime import CpuContention, parallel_workers, side_by_side
from alignda.studio.budget import Budget, Speeds, calibrate
from alignda.studio.front import DEFAULT_SEEDS, FrontPoint, front_seconds, tradeoff_front
from alignda.studio.models import StudioModels
from alignda.studio.notes import (
    OTHER_WORLD_NOTE,
    cost_notes,
    quality_notes,
    request_notes,
)
from alignda.studio.reproduction import analysis_netcdf, run_settings
from alignda.studio.request import (
    Request,
    StudioError,
    budget_seconds,
)
from alignda.studio.result import (
    ALIGNED_ROW,
    THREEDVAR,
    UNALIGNED,
    Baseline,
    Result,
    Scenario,
    table_rows,
)
from alignda.studio.scoring import result_table

#: A progress callback: (fraction done in [0, 1], description).
Stage = Callable[[float, str], None]
#: An analysis to run: (show a progress bar) -> its members (M, C, H, W) and fit.
Job = Callable[[bool], Analysis]


# --- the studio -----------------------------------------------------------------------------------
class Studio(StudioModels):
    """Models and cases loaded once (:class:`StudioModels`); :meth:`run` serves requests
    (thread-safe) within the compute budget, caching the baselines of recent scenarios."""

    def __init__(
        self,
        folder: str | Path | None = None,
        cases: str | Path | None = None,
        device: torch.device | None = None,
        cache_size: int = 8,
        budget_s: float | None = None,
    ) -> None:
        super().__init__(folder, cases, device)
        self._cache: OrderedDict[Request, Baseline] = OrderedDict()
        self._cache_size = cache_size
        self.budget = Budget(budget_seconds(budget_s), self.measure_speeds)

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
    # --- the compute budget -----------------------------------------------------------------
    def measure_speeds(self) -> Speeds:
        """Calibrate this machine for the budget on the first case (:func:`calibrate`)."""
        t = self.cases.times[0]
        truth, background = self.cases.truth_state(t), self.cases.background_state(t)
        den = prior_denoiser(self.network(None))
        return calibrate(den, self.codec, truth, background, self.threedvar, self.hybrid)

    def estimate(self, req: Request) -> float:
        """Nominal seconds of a request on a fresh scenario (:meth:`Budget.estimate`)."""
        return self.budget.estimate(req, self.aligned_available)

    def check_budget(self, req: Request) -> float:
        """The request's nominal seconds; :class:`OverBudget` (saying what to lower) if it
        may not run (:meth:`Budget.admit`)."""
        return self.budget.admit(req, self.aligned_available)

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

    def _solve(self, jobs: dict[str, Job], seconds: dict[str, float]) -> dict[str, Analysis]:
        """Run analysis jobs (longest first) side by side where the cores allow, each timed."""

        def timed(name: str, tracked: bool) -> Analysis:
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
            kept = (THREEDVAR, UNALIGNED)
            base = Baseline(
                sc, {n: done[n].members for n in kept}, fits={n: done[n].fit for n in kept}
            )
            self._remember(key, base)
        new = {ALIGNED_ROW: done[ALIGNED_ROW]} if aligned else {}
        result = Result(
            request=req,
            label=str(np.datetime_as_string(sc.time, unit="h")),
            time=sc.time,
            grid=self.grid,
            truth=sc.truth,
            background=sc.background,
            obs=sc.obs,
            analyses={**base.analyses, **{n: a.members for n, a in new.items()}},
            table=pd.DataFrame(),
            notes=self._notes(req, sc, cached=THREEDVAR not in jobs)
            + cost_notes(self.budget, cost),
            seconds=seconds,
            fits={**base.fits, **{n: a.fit for n, a in new.items()}},
            world=self.world,
        )
        forecasts = None
        if req.forecast and sc.future_truth is not None:
            _check(cancelled)
            stage(0.85, f"{FORECAST_HOURS} h forecasts")
            forecasts = self.forecasts(base, result)
        result.table = result_table(result, self.grid, self.stats, forecasts, sc.future_truth)
        result.notes += quality_notes(result.table, req, skip=self.derived, fits=result.fits)
        result.settings = run_settings(result, self.folder, self.cases_path)
        seconds["total (no maps)"] = took = time.perf_counter() - t0
        busy = self.budget.busy_note(cost, took, contention.share())
        result.notes += [busy] if busy else []
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
        if self.real_fields:
            notes.append(self.real_fields_note())
        if self.other_world:
            notes.append(OTHER_WORLD_NOTE)
        has_future = sc.future_truth is not None
        args = (self.aligned_available, self.tuned_steps(req.sampler()), has_future, cached)
        return notes + request_notes(req, *args)


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
