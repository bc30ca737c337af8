"""The fit of an analysis to its observations: O-B beside O-A.

    obs_fit(obs, background, analysis) -> ObsFit(background=O-B, analysis=O-A)

Both are :meth:`Observations.misfit <alignda.obs.operator.Observations.misfit>` (the rms of
(observation - state) / observation error std over the observed points), the one home of the
misfit. An analysis whose O-A is above its background's O-B (or not finite) fits the
observations worse than the state it started from: :attr:`ObsFit.worse`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from alignda.obs.operator import Observations


@dataclass(frozen=True)
class ObsFit:
    """The observation misfit of a background (O-B) and of its analysis (O-A); NaN where
    there were no observations to measure them with."""

    background: float = math.nan
    analysis: float = math.nan

    @property
    def measured(self) -> bool:
        """Whether there were observations (O-B is finite)."""
        return math.isfinite(self.background)

    @property
    def worse(self) -> bool:
        """Whether the analysis fits the observations worse than the background: O-A > O-B,
        or a non-finite O-A (a diverged analysis) where O-B was measured."""
        return self.measured and not self.analysis <= self.background

    def numbers(self) -> str:
        """'O-A 14.70 > O-B 4.70' (the comparison as it stands)."""
        sign = ">" if self.worse else "<="
        return f"O-A {self.analysis:.2f} {sign} O-B {self.background:.2f}"

    def warning(self, who: str, observed: bool = True) -> str:
        """One line saying that ``who`` fits the observations worse than its background, with
        both numbers; '' when it does not. ``observed``: whether ``who`` used the
        observations at all (an analysis that ignores them is said to)."""
        if not self.worse:
            return ""
        why = "" if observed else f"; {who} ignores the observations"
        return (
            f"{who} fits the observations worse than the background ({self.numbers()}, rms of "
            f"(obs - state) / obs error std){why}"
        )

    def attrs(self, who: str = "the analysis", observed: bool = True) -> dict[str, float | str]:
        """The fit as netCDF attributes: both misfits, whether it fits worse ('yes'/'no')
        and, when it does, :meth:`warning`."""
        out: dict[str, float | str] = {
            "obs_misfit_background": self.background,
            "obs_misfit_analysis": self.analysis,
            "fits_obs_worse": "yes" if self.worse else "no",
        }
        return out | ({"obs_fit_warning": self.warning(who, observed)} if self.worse else {})


#: The fit of an analysis made without observations.
NO_FIT = ObsFit()


def obs_fit(obs: Observations | None, background: np.ndarray, analysis: np.ndarray) -> ObsFit:
    """O-B of ``background`` and O-A of ``analysis`` (each (C, nlat, nlon)) against ``obs``;
    :data:`NO_FIT` without observations."""
    if obs is None or obs.count == 0:
        return NO_FIT
    return ObsFit(obs.misfit(background), obs.misfit(analysis))
