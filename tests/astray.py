"""A real analysis method that fits the observations worse than its background, for the tests
of the fit every Analysis carries (it answers through ``timed`` like every method)."""

from __future__ import annotations

import numpy as np

from alignda.analysis.methods import Analysis, timed
from alignda.obs.operator import Observations


class Astray:
    """Moves the state away from every observation: each observed value is mirrored about
    the background, so O-A = 2 O-B."""

    name = "astray"

    def analyse(self, background: np.ndarray, obs: Observations, seed: int = 0) -> Analysis:
        """The background with each observed point mirrored about the observation."""
        away = np.where(obs.mask, 2 * background - obs.values, background)
        return timed(self.name, lambda: away[None], background, obs)
