"""The compute budget of Studio requests: what a request costs on this machine, and which run.

The budget bounds the *work* a request asks for, counted in seconds of this machine when it is
idle (the request's *nominal* cost), never the machine's momentary load: on a busy machine a
request runs more slowly and says so; it is not refused. The nominal costs come from a
calibration at start-up (every timed piece warmed up, then the fastest of several runs: other
work only ever slows a run down) and can only fall afterwards: when a real request runs
clearly faster than its estimate, the calibration was taken on a busy machine and is repeated.
So a refusal never makes a later request more likely to be refused, and a request at or below
the default steps and members is always run. The load (measured over nominal seconds of the
recent requests) only scales the time a user is told to expect.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.score import ANALYSIS_MODES, evaluation_seconds
from alignda.analysis.threedvar import ThreeDVar
from alignda.experiment import DEFAULT
from alignda.model.codec import LatentCodec
from alignda.model.diffusion import EpsilonDenoiser
from alignda.model.guidance import MODES
from alignda.obs.operator import observe_case
from alignda.runtime import parallel_workers
from alignda.studio.request import FORECAST_S, LIMITS, OVERHEAD_S, OverBudget, Request

#: A real request this much faster than its estimate repeats the calibration ...
FASTER = 0.8
#: ... at most this often (seconds).
RECALIBRATE_EVERY_S = 120.0
#: A request this much slower than its estimate tells the user that the machine is busy ...
BUSY = 1.5
#: ... and so does one during which tasks waited for a CPU at least this share of the time.
CONTENDED = 0.25
#: ZeroGPU: GPU seconds reserved for a call are its expected seconds times this margin plus the
#: maps, within [GPU_MIN_S, GPU_MAX_S] (a visitor's quota is checked against the reservation).
GPU_MARGIN, GPU_MAPS_S, GPU_MIN_S, GPU_MAX_S = 1.5, 5.0, 15, 120


@dataclass(frozen=True)
class Speeds:
    """Seconds of this machine: one denoiser evaluation per member for each guidance mode
    (analyses side by side, as a request runs them), one 3D-Var analysis, one variational
    solve of the hybrid."""

    per_eval: Mapping[str, float]
    threedvar: float
    solve: float

    def fastest(self, other: Speeds) -> Speeds:
        """Each figure at the faster of the two calibrations."""
        per_eval = {m: min(s, other.per_eval.get(m, s)) for m, s in self.per_eval.items()}
        return Speeds(per_eval, min(self.threedvar, other.threedvar), min(self.solve, other.solve))


def fastest_seconds(run: Callable[[], object], repeats: int = 3) -> float:
    """Seconds of ``run()``: one untimed warm-up call, then the fastest of ``repeats``."""
    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def calibrate(
    denoiser: EpsilonDenoiser,
    codec: LatentCodec,
    truth: np.ndarray,
    background: np.ndarray,
    threedvar: ThreeDVar,
    envar: HybridEnVar,
) -> Speeds:
    """This machine's :class:`Speeds` on one case observed at the default density: one
    denoiser evaluation per member of each guidance mode (side by side, as a request runs its
    analyses), one 3D-Var analysis and one hybrid solve, each warmed up, the fastest of
    three runs. About 2 s."""
    obs = observe_case(truth, 0, pattern="random", density=DEFAULT.observing.density)
    workers = parallel_workers()
    per_eval = evaluation_seconds(denoiser, codec, background, obs, MODES, workers=workers)
    ensemble = np.stack([background, truth])
    return Speeds(
        per_eval,
        threedvar=fastest_seconds(lambda: threedvar.analyse(background, obs)),
        solve=fastest_seconds(lambda: envar.centre(ensemble, obs, background)),
    )


class Budget:
    """Nominal costs of requests, admission against ``seconds``, and the machine's load.

    ``measure`` calibrates the machine (:class:`Speeds`); it runs now and again when real
    requests show the calibration was pessimistic. ``defaults`` is the request whose steps and
    members are always served.
    """

    def __init__(
        self, seconds: float, measure: Callable[[], Speeds], defaults: Request | None = None
    ) -> None:
        self.seconds = seconds
        self.defaults = defaults or Request()
        self._measure = measure
        self.speeds = measure()
        self._measured_at = -math.inf  # the first faster request may recalibrate at once
        #: Measured over nominal seconds of the recent requests (1 = idle; > 1 busy).
        self.load = 1.0
        self._lock = threading.Lock()

    # --- nominal costs ------------------------------------------------------------------------
    def analysis_seconds(self, req: Request, analyses: int = 1) -> float:
        """Nominal seconds of ``analyses`` prior analyses of a request run side by side (each
        splits its members over its share of the cores; analyses beyond the cores queue)."""
        work = req.sampler().work()
        workers = parallel_workers()
        per_analysis = max(1, workers // analyses)
        rounds = math.ceil(analyses / workers)
        members = math.ceil(work.members / per_analysis)
        sampling = rounds * work.evaluations * members * self.speeds.per_eval[work.mode]
        return sampling + analyses * work.solves * self.speeds.solve

    def priors(self, req: Request, aligned_available: bool) -> int:
        """Prior analyses a fresh request runs: the unaligned one, and the aligned one too
        when reward weights are set and the deltas are there."""
        return 1 + int(aligned_available and req.aligned)

    def estimate(self, req: Request, aligned_available: bool = True) -> float:
        """Nominal seconds of a request on a fresh scenario (nothing cached): its priors,
        3D-Var, scores and maps, and the forecasts of the forecast reward."""
        sampling = self.analysis_seconds(req, self.priors(req, aligned_available))
        return sampling + self.speeds.threedvar + OVERHEAD_S + FORECAST_S * req.forecast

    def expected(self, seconds: float) -> float:
        """Seconds a user should expect for ``seconds`` of nominal cost, at the current load."""
        return self.load * seconds

    # --- admission ----------------------------------------------------------------------------
    def guaranteed(self, req: Request) -> bool:
        """Whether a request is at or below the default steps and members (always served)."""
        return req.steps <= self.defaults.steps and req.members <= self.defaults.members

    def admit(self, req: Request, aligned_available: bool = True) -> float:
        """The request's nominal seconds; :class:`OverBudget` saying what to lower when they
        exceed the budget (never for a request at or below the default settings)."""
        cost = self.estimate(req, aligned_available)
        if cost <= self.seconds or self.guaranteed(req):
            return cost
        raise OverBudget(
            f"estimated {cost:.0f} s > budget {self.seconds:.0f} s ({req.mode}, {req.steps} "
            f"steps x {req.members} member(s)): lower {self.what_to_lower(req, aligned_available)}"
        )

    def fits(self, req: Request, aligned_available: bool = True) -> bool:
        """Whether a request is within the budget (or guaranteed)."""
        return self.guaranteed(req) or self.estimate(req, aligned_available) <= self.seconds

    def what_to_lower(self, req: Request, aligned_available: bool = True) -> str:
        """The settings that bring a request within the budget, with their values."""
        lower = []
        for name in ("members", "steps"):
            value = self.largest_within(req, name, getattr(req, name) - 1, aligned_available)
            if value:
                lower.append(f"{name} to {value}")
        cheaper = [
            m
            for m in ANALYSIS_MODES
            if m != req.mode
            and replace(req, mode=m).sampler().observed
            and self.fits(replace(req, mode=m), aligned_available)
        ]
        if cheaper:
            lower.append(f"guidance {' or '.join(cheaper)}")
        if not lower:  # neither alone: the defaults always fit
            d = self.defaults
            lower.append(f"steps and members together (e.g. {d.steps} steps x {d.members})")
        return " or ".join(lower)

    def largest_within(
        self, req: Request, name: str, upto: int, aligned_available: bool = True
    ) -> int | None:
        """The largest value <= upto of an integer field (steps or members) that fits."""
        lo = int(LIMITS[name][0])
        if upto < lo or not self.fits(replace(req, **{name: lo}), aligned_available):
            return None
        while lo < upto:  # the cost grows with the value: bisect
            mid = (lo + upto + 1) // 2
            if self.fits(replace(req, **{name: mid}), aligned_available):
                lo = mid
            else:
                upto = mid - 1
        return lo

    def slider_max(self, name: str) -> int:
        """Slider maximum of ``steps`` or ``members``: the largest value that fits with the
        other one at its minimum (cheapest guidance, reward weights set)."""
        cheapest = min(ANALYSIS_MODES, key=lambda m: self.estimate(Request(mode=m)))
        base = Request(mode=cheapest, steps=int(LIMITS["steps"][0]), members=1)
        return self.largest_within(base, name, int(LIMITS[name][1])) or int(LIMITS[name][0])

    # --- learning from real requests -------------------------------------------------------------
    def learn(self, req: Request, analyses: int, measured: float) -> None:
        """Follow the machine: ``measured`` seconds of the request's ``analyses`` priors
        against their nominal seconds. Slower: the load rises (the user is told to expect
        more). Clearly faster: the load falls and the calibration is repeated (rate-limited);
        nominal costs only ever fall."""
        nominal = self.analysis_seconds(req, analyses)
        if nominal < 0.5:  # too short to measure
            return
        ratio = min(max(measured / nominal, 0.5), 10.0)
        with self._lock:
            self.load = 0.5 * self.load + 0.5 * max(ratio, 1.0)
            due = time.monotonic() - self._measured_at >= RECALIBRATE_EVERY_S
            if ratio < FASTER and due:
                self.recalibrate()

    def recalibrate(self) -> None:
        """Measure again; keep the faster of the two calibrations."""
        self.speeds = self.speeds.fastest(self._measure())
        self._measured_at = time.monotonic()

    def gpu_seconds(self, nominal: float) -> int:
        """Seconds of GPU to reserve (ZeroGPU) for work of ``nominal`` seconds: the expected
        time with a margin and the maps, within [:data:`GPU_MIN_S`, :data:`GPU_MAX_S`]. The
        calibration may be the CPU's (taken before a GPU was attached): then it is generous."""
        seconds = math.ceil(GPU_MARGIN * self.expected(nominal) + GPU_MAPS_S)
        return int(min(GPU_MAX_S, max(GPU_MIN_S, seconds)))

    def busy_note(self, nominal: float, took: float, contention: float | None) -> str | None:
        """A note for a request that ran while other work shared the cores (``contention``:
        the share of its time during which some task waited for a CPU) or that took clearly
        longer than its nominal seconds; None for neither."""
        contended = contention is not None and contention >= CONTENDED
        if not contended and took <= BUSY * nominal:
            return None
        waited = (
            f"; a task waited for a CPU during {100 * contention:.0f} % of this request"
            if contended
            else ""
        )
        return (
            f"The machine is busy (other work shares its cores{waited}): this request took "
            f"{took:.0f} s, {took / nominal:.1f}x its estimated {nominal:.0f} s."
        )
