"""One interface for every analysis method: 3D-Var, the score-based prior under any guidance
and the hybrid are called the same way and answer the same :class:`Analysis`.

    method.analyse(background, obs, seed=0) -> Analysis(members, mean, spread, seconds, fit)

- :class:`VariationalMethod`: 3D-Var with the static B;
- :class:`PriorMethod`: the latent prior sampled under a guidance mode (DPS, MMPS, ...);
- :class:`HybridMethod`: 3DEnVar whose ensemble is the prior's unguided members and whose
  first guess is the prior's conditional mean (or the background).

:func:`prior_method` is the one place that maps a mode name to its class. Code that compares
methods (the studio, the CLI, the evaluation, cycling and the benchmarks) takes any
:class:`AnalysisMethod` and never needs to know which one it runs.

Every :class:`Analysis` carries its fit to the observations (O-B of the background, O-A of
its mean, :mod:`alignda.obs.fit`), measured in one place, :func:`timed`, which every method
answers through: an analysis that fits the observations worse than its background says so
itself (:attr:`Analysis.fits_worse`, :attr:`Analysis.warning`), whoever called it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np

from alignda.analysis.first_guess import prior_mean_first_guess
from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.score import (
    HYBRID,
    SampleCodec,
    SamplerSettings,
    analyse,
    latent_background,
)
from alignda.analysis.threedvar import ThreeDVar
from alignda.model.codec import LatentCodec
from alignda.model.diffusion import EpsilonDenoiser, member_generators
from alignda.obs.fit import NO_FIT, ObsFit, obs_fit
from alignda.obs.operator import Observations


@dataclass(frozen=True)
class Analysis:
    """An analysis ensemble ``members`` (M, C, nlat, nlon) in physical units, made by
    ``method`` in ``seconds`` (wall clock). A deterministic method gives one member.

    ``fit``: O-B of the background and O-A of the mean against the observations the method
    was given (NaN without any); ``observed``: whether the method used them (obsfree does
    not)."""

    method: str
    members: np.ndarray
    seconds: float
    fit: ObsFit = NO_FIT
    observed: bool = True

    @property
    def fits_worse(self) -> bool:
        """Whether the analysis fits the observations worse than its background (O-A > O-B,
        or a non-finite O-A)."""
        return self.fit.worse

    @property
    def warning(self) -> str:
        """One line naming the method and both misfits when it fits worse; '' otherwise."""
        return self.fit.warning(self.method, self.observed)

    @property
    def mean(self) -> np.ndarray:
        """The ensemble mean (C, nlat, nlon): the analysis."""
        return self.members.mean(0)

    @property
    def spread(self) -> np.ndarray:
        """The ensemble standard deviation (C, nlat, nlon); zeros for one member."""
        if len(self.members) < 2:
            return np.zeros_like(self.members[0])
        return self.members.std(0, ddof=1)


@runtime_checkable
class AnalysisMethod(Protocol):
    """Anything that turns a background and observations into an :class:`Analysis`."""

    name: str

    def analyse(self, background: np.ndarray, obs: Observations, seed: int = 0) -> Analysis:
        """The analysis of ``background`` (C, nlat, nlon) given ``obs``; ``seed`` fixes the
        sampling noise of stochastic methods (deterministic ones ignore it)."""
        ...


def timed(
    name: str,
    make: Callable[[], np.ndarray],
    background: np.ndarray,
    obs: Observations | None,
    observed: bool = True,
) -> Analysis:
    """Run ``make`` (-> members) and wrap its members, wall-clock time and fit to ``obs``
    (O-B of ``background``, O-A of the members' mean; not timed) in an Analysis."""
    t0 = time.perf_counter()
    members = np.asarray(make())
    seconds = time.perf_counter() - t0
    fit = obs_fit(obs, background, members.mean(0))
    return Analysis(name, members, seconds, fit, observed)


@dataclass
class VariationalMethod:
    """3D-Var with the static background error B: one deterministic member."""

    threedvar: ThreeDVar
    name: str = "3D-Var"

    def analyse(self, background: np.ndarray, obs: Observations, seed: int = 0) -> Analysis:
        """The 3D-Var analysis (``seed`` is unused)."""
        return timed(
            self.name, lambda: self.threedvar.analyse(background, obs)[None], background, obs
        )


#: The noise stream of the hybrid's first guess: one no member (0..63) uses.
FIRST_GUESS_STREAM = 1000


@dataclass
class PriorMethod:
    """The latent prior p(x | x_b) sampled under ``settings`` (a guidance mode, its steps and
    members). ``workers``, ``progress`` and ``stop`` are passed to
    :func:`alignda.analysis.score.analyse`. ``name`` defaults to the mode."""

    denoiser: EpsilonDenoiser
    codec: LatentCodec
    settings: SamplerSettings
    workers: int = 1
    progress: bool = False
    stop: Callable[[], bool] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.settings.mode
        if not self.settings.latent:
            raise ValueError(f"PriorMethod samples a guidance mode, not {self.settings.mode!r}")

    def sample(self, background: np.ndarray, obs: Observations | None, seed: int) -> np.ndarray:
        """Members (M, C, H, W) sampled with ``seed`` (it replaces the settings' seed)."""
        return analyse(
            self.denoiser,
            self.codec,
            background,
            obs,
            replace(self.settings, seed=seed),
            progress=self.progress,
            workers=self.workers,
            stop=self.stop,
        )

    def analyse(self, background: np.ndarray, obs: Observations, seed: int = 0) -> Analysis:
        """Members sampled with ``seed`` (it replaces the settings' seed)."""
        return timed(
            self.name,
            lambda: self.sample(background, obs, seed),
            background,
            obs,
            self.settings.observed,
        )


@dataclass
class HybridMethod:
    """3DEnVar (:class:`~alignda.analysis.hybrid.HybridEnVar`) whose ensemble is ``prior``'s
    unguided members and whose first guess is the prior's conditional mean
    (``first_guess="prior-mean"``, :mod:`alignda.analysis.first_guess`) or the background.
    ``members``: analysis members; one gives the deterministic analysis (one solve)."""

    prior: PriorMethod
    envar: HybridEnVar
    first_guess: str = "prior-mean"
    members: int = 1
    name: str = HYBRID

    def __post_init__(self) -> None:
        if self.prior.settings.observed:
            raise ValueError("the hybrid's ensemble is the prior's unguided (obsfree) members")

    def guess(self, background: np.ndarray, seed: int) -> np.ndarray | None:
        """The first guess (None: the background)."""
        if self.first_guess == "background":
            return None
        den, codec = self.prior.denoiser, self.prior.codec
        view = SampleCodec(codec, den, latent_background(codec, background))
        noise = member_generators(seed, [FIRST_GUESS_STREAM])[0]
        return prior_mean_first_guess(den, view, background, self.envar.threedvar.sphere, noise)

    def analyse(self, background: np.ndarray, obs: Observations, seed: int = 0) -> Analysis:
        """The analysis members (one: the deterministic analysis) with ``seed``."""
        if obs.count == 0:
            raise ValueError("the hybrid needs at least one observation")

        def solve() -> np.ndarray:
            ensemble = self.prior.sample(background, None, seed)
            guess = self.guess(background, seed)
            if self.members == 1:
                return self.envar.centre(ensemble, obs, background, first_guess=guess)[None]
            return self.envar.analyse(ensemble, obs, background, seed=seed, first_guess=guess)

        return timed(self.name, solve, background, obs)


def prior_method(
    denoiser: EpsilonDenoiser,
    codec: LatentCodec,
    settings: SamplerSettings,
    envar: HybridEnVar | None = None,
    workers: int = 1,
    progress: bool = False,
    stop: Callable[[], bool] | None = None,
    name: str = "",
) -> PriorMethod | HybridMethod:
    """The analysis method of ``settings.mode`` on the prior ``denoiser``: a guidance mode's
    :class:`PriorMethod`, or the :class:`HybridMethod` (which needs ``envar``)."""
    if settings.latent:
        return PriorMethod(denoiser, codec, settings, workers, progress, stop, name)
    if envar is None:
        raise ValueError(f"mode {settings.mode!r} needs the 3D-Var B: pass envar=HybridEnVar(...)")
    ensemble = PriorMethod(denoiser, codec, settings.ensemble(), workers, progress, stop)
    return HybridMethod(ensemble, envar, settings.first_guess, settings.members, name or HYBRID)
