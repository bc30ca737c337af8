"""Score-based analysis: background + observations -> analysis ensemble (xarray out)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial

import numpy as np
import torch
import xarray as xr
from azula.denoise import Denoiser, DiracPosterior
from azula.noise import Schedule
from torch import Tensor

from alignda.model.codec import LatentCodec
from alignda.model.diffusion import AncestralPCSampler, EpsilonDenoiser, member_generators
from alignda.model.guidance import MODES, LatentObservation, guided
from alignda.obs.operator import Observations
from alignda.runtime import in_parallel, side_by_side
from alignda.world.grid import Grid
from alignda.world.state import to_dataset


class DivergenceError(ValueError):
    """The guided sampler produced a non-finite analysis."""


class Cancelled(RuntimeError):
    """The analysis was stopped because its ``stop`` callback said so (e.g. the client left)."""


class Interruptible(Denoiser):
    """A denoiser that asks ``stop()`` before every evaluation and raises :class:`Cancelled`
    when it answers true: the sampler's loop stops within one evaluation (values unchanged)."""

    def __init__(self, denoiser: Denoiser, stop: Callable[[], bool]) -> None:
        super().__init__()
        self.denoiser, self.stop = denoiser, stop

    @property
    def schedule(self) -> Schedule:
        return self.denoiser.schedule

    def forward(self, x_t: Tensor, t: Tensor, **kwargs) -> DiracPosterior:
        if self.stop():
            raise Cancelled("the analysis was cancelled")
        return self.denoiser(x_t, t, **kwargs)


@dataclass(frozen=True)
class SamplerSettings:
    """How an analysis method runs: its ``mode`` (a guidance of the latent sampler, or the
    hybrid, see :data:`ANALYSIS_MODES`) and that mode's settings.

    These defaults are the project's defaults (the app's, the command line's and the
    benchmarks'): the hybrid, 32 steps, 4 members, zeta 1; :mod:`alignda.experiment` builds
    every experiment on them. Which class runs a mode is
    :func:`alignda.analysis.methods.prior_method`'s business alone.
    """

    mode: str = "hybrid"
    steps: int = 32
    corrections: int = 1
    delta: float = 0.1
    zeta: float = 1.0
    gamma: float = 0.01  # > 0: SDA-normalised DPS likelihood; 0.01 chosen on validation cases
    members: int = 4
    seed: int = 0
    first_guess: str = "prior-mean"  # hybrid only: or "background"

    def __post_init__(self) -> None:
        if self.mode not in ANALYSIS_MODES:
            raise ValueError(f"unknown guidance mode {self.mode!r}; choose one of {ANALYSIS_MODES}")
        if self.first_guess not in FIRST_GUESSES:
            raise ValueError(
                f"unknown first guess {self.first_guess!r}; choose one of {FIRST_GUESSES}"
            )
        if not 1 <= self.steps <= 1024:
            raise ValueError(f"steps must be in 1..1024, got {self.steps}")
        if not 0 <= self.corrections <= 8:
            raise ValueError(f"corrections must be in 0..8, got {self.corrections}")
        if not 1 <= self.members <= 64:
            raise ValueError(f"members must be in 1..64, got {self.members}")
        if not (0.0 < self.delta < 1.0):
            raise ValueError(f"delta must be in (0, 1), got {self.delta}")
        if not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise ValueError(f"gamma must be finite and >= 0, got {self.gamma}")
        if not (math.isfinite(self.zeta) and self.zeta >= 0):
            raise ValueError(f"zeta must be finite and >= 0, got {self.zeta}")

    def to_dict(self) -> dict:
        """Plain dict."""
        return asdict(self)

    @property
    def latent(self) -> bool:
        """Whether the mode samples the latent prior itself (a guidance mode, not the hybrid's
        variational solve)."""
        return self.mode in MODES

    @property
    def observed(self) -> bool:
        """Whether the analysis uses the observations (every mode but ``obsfree``)."""
        return uses_observations(self.mode)

    def work(self) -> SamplerWork:
        """What an analysis with these settings computes (the cost model of a budget)."""
        if self.mode == HYBRID:  # obsfree prior members, one solve each and one for the mean
            prior = self.ensemble()  # (one member asked: only the solve of the mean)
            solves = 1 if self.members == 1 else prior.members + 1
            return SamplerWork(prior.mode, self.evaluations, prior.members, solves)
        return SamplerWork(self.mode, self.evaluations, self.members, 0)

    def ensemble(self) -> SamplerSettings:
        """The hybrid's prior ensemble: unguided (obsfree) members, two at least (its
        covariance needs them)."""
        return replace(self, mode="obsfree", members=max(self.members, 2))

    @property
    def evaluations(self) -> int:
        """Denoiser evaluations per member: every step and its corrections."""
        return self.steps * (1 + self.corrections)

    def fit_hint(self) -> str:
        """What to change when an analysis with these settings fits the observations worse
        than the background does."""
        if self.mode == "dps":
            return f"lower zeta (now {self.zeta:g}) or use more steps"
        if self.mode == "obsfree":
            return "obsfree ignores the observations: choose a guided mode to use them"
        if self.mode == HYBRID:
            return "use more members (a larger ensemble)"
        return "try the hybrid or DPS"


@dataclass(frozen=True)
class SamplerWork:
    """The work of one analysis: ``evaluations`` denoiser evaluations of guidance ``mode`` for
    each of ``members`` members, then ``solves`` variational solves."""

    mode: str
    evaluations: int
    members: int
    solves: int


def latent_sampler(
    denoiser: Denoiser,
    settings: SamplerSettings,
    members: Sequence[int] | None = None,
    silent: bool = True,
    generator: torch.Generator | None = None,
) -> AncestralPCSampler:
    """The latent sampler of ``settings`` (steps, corrections, delta) on ``denoiser``.

    Member i draws its noise from its own generator (``settings.seed``, i), for i in
    ``members`` (default: all ``settings.members``), so a member is the same in any batch; or,
    with ``generator``, every member draws from that one stream (the training rollouts).
    """
    noise = generator
    if noise is None:
        chosen = range(settings.members) if members is None else members
        noise = member_generators(settings.seed, chosen)
    return AncestralPCSampler(
        denoiser,
        steps=settings.steps,
        corrections=settings.corrections,
        delta=settings.delta,
        generator=noise,
        silent=silent,
    )


class SampleCodec:
    """The codec seen from the sampler's variable x, for one background latent z_b.

    A plain prior samples the latent itself; an increment prior samples (z - z_b) / s. Its
    ``decode``/``encode`` go between x and the physical state, so guidance needs no case.
    """

    def __init__(self, codec: LatentCodec, denoiser: EpsilonDenoiser, zb: Tensor) -> None:
        self.codec, self.denoiser, self.zb = codec, denoiser, zb
        self.stats = codec.stats

    def encode(self, x: Tensor) -> Tensor:
        """Physical state -> sampler variable."""
        return self.denoiser.from_latent(self.codec.encode(x), self.zb)

    def decode(self, x: Tensor) -> Tensor:
        """Sampler variable -> physical state."""
        return self.codec.decode(self.denoiser.to_latent(x, self.zb))


def uses_observations(mode: str) -> bool:
    """Whether an analysis mode uses the observations (all but ``obsfree``: the prior alone)."""
    return mode != "obsfree"


#: Every analysis mode: the guidance modes of the latent sampler, and the hybrid
#: ensemble-variational solve with prior members as its ensemble (:mod:`alignda.analysis.hybrid`).
HYBRID = "hybrid"
ANALYSIS_MODES = (*MODES, HYBRID)
#: First guesses of the hybrid: the prior's conditional mean (:mod:`alignda.analysis.first_guess`)
#: or the background itself.
FIRST_GUESSES = ("prior-mean", "background")


def latent_background(codec: LatentCodec, background: np.ndarray) -> torch.Tensor:
    """The background's latent (1, c, h, w); refuses a background that is not finite (C, H, W)."""
    xb = torch.as_tensor(np.asarray(background), dtype=torch.float32)
    if xb.ndim != 3 or not torch.isfinite(xb).all():
        raise ValueError("background must be a finite (C, nlat, nlon) array")
    with torch.no_grad():
        return codec.encode(xb[None])


def guided_denoiser(
    denoiser: EpsilonDenoiser,
    codec: LatentCodec | SampleCodec,
    obs: Observations | None,
    settings: SamplerSettings,
) -> Denoiser:
    """The prior's denoiser under the settings' guidance mode (observations in latent space)."""
    lobs = None
    if settings.mode != "obsfree":
        if obs is None or obs.count == 0:
            raise ValueError(f"mode {settings.mode!r} needs at least one observation")
        lobs = LatentObservation(codec.decode, codec.encode, obs, scale=codec.stats.std)
    return guided(settings.mode, denoiser, lobs, settings.zeta, gamma=settings.gamma)


def analyse(
    denoiser: EpsilonDenoiser,
    codec: LatentCodec,
    background: np.ndarray,
    obs: Observations | None,
    settings: SamplerSettings,
    progress: bool = False,
    workers: int = 1,
    stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Members (members, C, nlat, nlon) in physical units of the latent sampler under a
    guidance mode (``settings.latent``; the hybrid is
    :class:`~alignda.analysis.methods.HybridMethod`).

    Member i draws its noise from its own generator (seed, i), so the members are the same
    however they are split: ``workers > 1`` samples groups of members in parallel threads
    (give torch one intra-op thread per worker; the progress bar follows the first group).
    Every mode is thread-safe (MMPS uses reverse-mode autograd only). ``stop``: asked before
    every denoiser evaluation; when it answers true the sampling raises :class:`Cancelled`.
    """
    if not settings.latent:
        raise ValueError(
            f"mode {settings.mode!r} is not a guidance of the latent sampler: run it through "
            "alignda.analysis.methods.prior_method"
        )
    zb = latent_background(codec, background)
    view = SampleCodec(codec, denoiser, zb)
    den = guided_denoiser(denoiser, view, obs, settings)
    if stop is not None:
        den = Interruptible(den, stop)

    def sample(members: np.ndarray, show: bool) -> np.ndarray:
        sampler = latent_sampler(den, settings, members, silent=not show)
        shape = (len(members), *zb.shape[1:])
        with torch.no_grad():  # grad mode is per thread
            z = sampler(sampler.init(shape), z_b=zb.expand(shape))
            return view.decode(z).cpu().numpy()

    x = in_parallel(
        lambda members, first: sample(members, progress and first), settings.members, workers
    )
    if not np.isfinite(x).all():
        hint = f"lower the guidance strength zeta (now {settings.zeta}) or " * (
            settings.mode == "dps"
        )
        raise DivergenceError(
            f"the {settings.mode} sampler diverged (non-finite analysis); {hint}try another mode"
        )
    return x


def evaluation_seconds(
    denoiser: EpsilonDenoiser,
    codec: LatentCodec,
    background: np.ndarray,
    obs: Observations,
    modes: tuple[str, ...] = MODES,
    batch: int = 2,
    repeats: int = 3,
    workers: int = 1,
) -> dict[str, float]:
    """Seconds of one denoiser evaluation per ensemble member, for each guidance mode.

    Each mode is evaluated on a batch of ``batch`` members at a mid noise level once to warm
    up (first calls allocate), then ``repeats`` times, timed; the fastest time is divided by
    ``batch`` (the cost grows about linearly with the members): other work on the cores only
    ever slows a run down, so the fastest is the machine's own speed. With ``workers > 1`` as
    many threads evaluate at once, as analyses run side by side: the cores then slow each
    other down (measured 1.7x on 2 cores), and the figure includes it. About 1 s in all.
    """
    zb = latent_background(codec, background)
    shape = (batch, *zb.shape[1:])
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(0.5)

    def timings(den: Denoiser, first: bool) -> list[float]:
        times = []
        with torch.no_grad():
            for _ in range(1 + repeats):
                t0 = time.perf_counter()
                den(x, t, z_b=zb.expand(shape))
                times.append(time.perf_counter() - t0)
        return times[1:]

    view = SampleCodec(codec, denoiser, zb)
    seconds = {}
    for mode in modes:
        den = guided_denoiser(denoiser, view, obs, SamplerSettings(mode=mode))
        jobs = {i: partial(timings, den) for i in range(max(1, workers))}
        times = [t for ts in side_by_side(jobs, len(jobs)).values() for t in ts]
        seconds[mode] = min(times) / batch
    return seconds


def analysis_dataset(
    members: np.ndarray, grid: Grid, time: np.datetime64 | None = None, attrs: dict | None = None
) -> xr.Dataset:
    """Members (M, C, H, W) -> Dataset with member fields plus ``<var>_mean``/``_spread``."""
    ds = to_dataset(members, grid, leading=[("member", np.arange(len(members)))])
    for v in list(ds.data_vars):
        ds[f"{v}_mean"] = (
            ds[v]
            .mean("member")
            .assign_attrs(ds[v].attrs, long_name=ds[v].attrs["long_name"] + " (ensemble mean)")
        )
        spread = ds[v].std("member", ddof=1) if len(members) > 1 else 0.0 * ds[v].isel(member=0)
        ds[f"{v}_spread"] = spread.assign_attrs(
            ds[v].attrs, long_name=ds[v].attrs["long_name"] + " (ensemble spread)"
        )
    if time is not None:
        ds = ds.assign_coords(time=np.datetime64(time, "ns"))
    ds.attrs.update({"Conventions": "CF-1.8", **(attrs or {})})
    return ds
