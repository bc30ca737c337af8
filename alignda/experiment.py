"""Experiments as data: one dataclass family holds every setting of an analysis experiment,
and its defaults are the project's defaults.

- :class:`Observing`: the observation network (pattern, density as a fraction of the grid
  points, error scale);
- :class:`Experiment`: a case, how it is observed, the analysis method and its settings
  (:class:`~alignda.analysis.score.SamplerSettings`), the reward weights, the seed;
- :data:`DEFAULT`: the experiment the app opens on and the command line runs without flags.

The app's request (:class:`alignda.studio.request.Request`), the command-line flags
(:mod:`alignda.cli.flags`), the reproduction command (:meth:`Experiment.argv`), the benchmarks
and the lessons are all built from these classes, so a default is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from alignda.alignment.soup import DELTAS, PRESETS, normalise_weights
from alignda.analysis.score import SamplerSettings
from alignda.obs.networks import DEFAULT_DENSITY
from alignda.obs.operator import Observations, observe_case

#: The preset the app's weight sliders open on.
DEFAULT_PRESET = "balanced"


def preset_weights(name: str) -> tuple[float, ...]:
    """Weights over :data:`~alignda.alignment.soup.DELTAS` of a named preset."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {list(PRESETS)}")
    return tuple(float(PRESETS[name].get(k, 0.0)) for k in DELTAS)


@dataclass(frozen=True)
class Observing:
    """How a case is observed: a network ``pattern`` at ``density`` (a fraction of the grid
    points, 0.01 = 1 %) with errors ``noise_scale`` times the default observation error."""

    pattern: str = "random"
    density: float = DEFAULT_DENSITY
    noise_scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 < self.density <= 1.0:
            raise ValueError(f"density must be in (0, 1] (a fraction), got {self.density}")
        if not (np.isfinite(self.noise_scale) and self.noise_scale >= 0):
            raise ValueError(f"noise scale must be finite and >= 0, got {self.noise_scale}")


@dataclass(frozen=True)
class Experiment:
    """One analysis experiment: ``case`` (index or time label), how it is observed, the
    analysis ``method`` (mode and sampler settings), the reward ``weights`` over
    :data:`~alignda.alignment.soup.DELTAS` (all zero: the unaligned prior) and the ``seed`` of
    the observation network and of the members."""

    case: str = "0"
    observing: Observing = field(default_factory=Observing)
    method: SamplerSettings = field(default_factory=SamplerSettings)
    weights: tuple[float, ...] = preset_weights(DEFAULT_PRESET)
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.weights) != len(DELTAS):
            raise ValueError(f"expected {len(DELTAS)} weights {list(DELTAS)}, got {self.weights}")
        normalise_weights(dict(zip(DELTAS, self.weights, strict=True)))
        if self.seed < 0:
            raise ValueError(f"the seed must be >= 0, got {self.seed}")

    @property
    def sampler(self) -> SamplerSettings:
        """The method's settings with the experiment's seed."""
        return replace(self.method, seed=self.seed)

    @property
    def weight_dict(self) -> dict[str, float]:
        """Normalised weights by name (all zero: unaligned)."""
        return normalise_weights(dict(zip(DELTAS, self.weights, strict=True)))

    def observe(self, truth: np.ndarray) -> Observations:
        """The experiment's observations of a truth state (C, H, W)."""
        o = self.observing
        return observe_case(
            truth, self.seed, pattern=o.pattern, density=o.density, noise_scale=o.noise_scale
        )

    def argv(self, aligned: bool = True) -> list[str]:
        """The ``alignda assimilate`` flags that run this experiment (every setting explicit;
        ``aligned=False``: its unaligned twin)."""
        s, o = self.method, self.observing
        weights = self.weights if aligned else (0.0,) * len(DELTAS)
        return [
            *("--case", str(self.case), "--pattern", o.pattern, "--density", repr(o.density)),
            *("--noise-scale", repr(o.noise_scale), "--mode", s.mode, "--steps", str(s.steps)),
            *("--corrections", str(s.corrections), "--zeta", repr(s.zeta)),
            *("--gamma", repr(s.gamma), "--members", str(s.members)),
            *("--first-guess", s.first_guess, "--weights=" + ",".join(map(repr, weights))),
            *("--seed", str(self.seed)),
        ]


#: The project's default experiment: the app opens on it, the command line runs it.
DEFAULT = Experiment()
