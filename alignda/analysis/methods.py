"""One interface for every analysis method: 3D-Var and the score-based prior (any guidance
mode, the hybrid included) are called the same way and answer the same :class:`Analysis`.

    method.analyse(background, obs, seed=0) -> Analysis(members, mean, spread, seconds)

Code that compares methods (the studio, the CLI, the evaluation and the benchmarks) takes any
:class:`AnalysisMethod` and never needs to know which one it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np

from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.score import SamplerSettings, analyse
from alignda.analysis.threedvar import ThreeDVar
from alignda.model.codec import LatentCodec
from alignda.model.diffusion import EpsilonDenoiser
from alignda.obs.operator import Observations


@dataclass(frozen=True)
class Analysis:
    """An analysis ensemble ``members`` (M, C, nlat, nlon) in physical units, made by
    ``method`` in ``seconds`` (wall clock). A deterministic method gives one member."""

    method: str
    members: np.ndarray
    seconds: float

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


def timed(name: str, make: Callable[[], np.ndarray]) -> Analysis:
    """Run ``make`` (-> members) and wrap its members and wall-clock time in an Analysis."""
    t0 = time.perf_counter()
    members = np.asarray(make())
    return Analysis(name, members, time.perf_counter() - t0)


@dataclass
class VariationalMethod:
    """3D-Var with the static background error B: one deterministic member."""

    threedvar: ThreeDVar
    name: str = "3D-Var"

    def analyse(self, background: np.ndarray, obs: Observations, seed: int = 0) -> Analysis:
        """The 3D-Var analysis (``seed`` is unused)."""
        return timed(self.name, lambda: self.threedvar.analyse(background, obs)[None])


@dataclass
class PriorMethod:
    """The score-based prior p(x | x_b) under ``settings`` (guidance mode, steps, members);
    the hybrid mode needs ``hybrid``. ``workers``, ``progress`` and ``stop`` are passed to
    :func:`alignda.analysis.score.analyse`. ``name`` defaults to the mode."""

    denoiser: EpsilonDenoiser
    codec: LatentCodec
    settings: SamplerSettings
    hybrid: HybridEnVar | None = None
    workers: int = 1
    progress: bool = False
    stop: Callable[[], bool] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.settings.mode

    def analyse(self, background: np.ndarray, obs: Observations, seed: int = 0) -> Analysis:
        """Members sampled with ``seed`` (it replaces the settings' seed)."""
        settings = replace(self.settings, seed=seed)
        return timed(
            self.name,
            lambda: analyse(
                self.denoiser,
                self.codec,
                background,
                obs,
                settings,
                progress=self.progress,
                workers=self.workers,
                stop=self.stop,
                hybrid=self.hybrid,
            ),
        )
