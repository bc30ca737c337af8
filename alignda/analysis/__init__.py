"""Analysis methods: a background and observations in, an analysis ensemble out.

- :mod:`~alignda.analysis.methods`: the one interface (:class:`AnalysisMethod` ->
  :class:`Analysis`) and its classes: 3D-Var, the guided latent prior, the hybrid;
  :func:`prior_method` is the only place that maps a mode name to its class;
- :mod:`~alignda.analysis.score`: :class:`SamplerSettings` (a mode and its settings; its
  defaults are the project's), guided sampling of the latent prior, the analysis netCDF;
- :mod:`~alignda.analysis.threedvar`: 3D-Var with the static balanced background error B;
- :mod:`~alignda.analysis.hybrid`: 3DEnVar with an ensemble beside the static B;
- :mod:`~alignda.analysis.first_guess`: the prior's conditional mean as the hybrid's first
  guess;
- :mod:`~alignda.analysis.single_obs`: the single-observation experiment.

The names below are the package's public interface.
"""

from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.methods import (
    Analysis,
    AnalysisMethod,
    HybridMethod,
    PriorMethod,
    VariationalMethod,
    prior_method,
)
from alignda.analysis.score import (
    ANALYSIS_MODES,
    FIRST_GUESSES,
    HYBRID,
    Cancelled,
    DivergenceError,
    SamplerSettings,
    analysis_dataset,
)
from alignda.analysis.single_obs import SingleObservation, single_observation
from alignda.analysis.threedvar import BackgroundError, ThreeDVar

__all__ = [
    "ANALYSIS_MODES",
    "FIRST_GUESSES",
    "HYBRID",
    "Analysis",
    "AnalysisMethod",
    "BackgroundError",
    "Cancelled",
    "DivergenceError",
    "HybridEnVar",
    "HybridMethod",
    "PriorMethod",
    "SamplerSettings",
    "SingleObservation",
    "ThreeDVar",
    "VariationalMethod",
    "analysis_dataset",
    "prior_method",
    "single_observation",
]
