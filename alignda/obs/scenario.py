"""A scenario: one case observed (its time, truth, background, the truth 48 h later and the
observations): what a Studio request analyses, and what model selection judges priors on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignda.obs.operator import Observations


@dataclass
class Scenario:
    """A case observed: truth, background, observations (and the truth 48 h later, if any)."""

    time: np.datetime64
    truth: np.ndarray
    background: np.ndarray
    future_truth: np.ndarray | None
    obs: Observations
