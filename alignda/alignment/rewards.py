"""The three Align-DA rewards (accuracy, forecast, physics), each defined once, in two forms.

Candidate rewards (higher is better) score a set of candidates, numpy states (N, C, nlat, nlon)
with the world's variables (z, u, v, tracer) -> (N,), with one signature,
``reward(candidates, case: RewardCase)`` (:class:`Reward`): the preference data, model
selection and the Studio's scores. Reward terms (lower is better) are their differentiable
torch forms per state, ``term(states, case: TermCase) -> (B,)`` (:class:`Term`): the
reward-gradient fine-tune. :data:`REWARD_DEFINITIONS` names both forms of each reward.

- accuracy: latitude-weighted RMSE per variable against the truth, turned into a
  Bradley-Terry preference over a set of candidates (:func:`accuracy_reward`): the
  probability that a candidate beats another one on a variable,
  P(i > j) = sigmoid(log(RMSE_j / RMSE_i) / tau), averaged over the variables and the other
  candidates (0.5 = as good as the rest; scale-free). A preference needs the set; its term per
  state is the normalised MSE against the truth (:func:`accuracy_term`), of the same errors.
- forecast: skill of a 48 h forecast started from the analysis with the forecaster's model
  (the world's imperfect model, as for the backgrounds): the term is the normalised MSE
  against the truth 48 h later (:func:`forecast_term`), the reward minus it
  (:func:`forecast_reward`).
- physics: dynamical balance, the balance score min(1, T_truth / T) (:func:`balance_score`)
  where T is the initialisation shock of :mod:`alignda.world.shock`: the rms height tendency
  over the first hour of a forecast from the state, T_truth the truth's. An analysis as calm
  as the truth scores 1 (100 %); one that shakes the model twice as hard scores 0.5. Analyses
  that fit scattered observations closely excite gravity waves, so the score trades against
  accuracy. Its term is the excess T / T_truth - 1 floored at 0 (:func:`physics_term`),
  1 / score - 1. The paper's Geo-Score min(1, D_truth / D) (:func:`geo_score`, D the
  geostrophic deviation of :mod:`alignda.world.balance`) stays a diagnostic: every analysis
  of this world is at least as geostrophic as the truth, so it saturates at 100 %.

The normalised MSE is :func:`alignda.evaluation.metrics.normalised_msq`, the score tables' MSE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from alignda.evaluation.metrics import normalised_msq, weighted_msq
from alignda.runtime import in_parallel
from alignda.world.balance import geostrophic_deviation
from alignda.world.grid import Grid
from alignda.world.model import ShallowWaterModel, WorldConfig
from alignda.world.shock import height_tendency
from alignda.world.variables import VARIABLE_NAMES

REWARDS = ("accuracy", "forecast", "physics")
#: Bradley-Terry temperature on log RMSE: a 5 % lower RMSE wins with probability 0.73.
BT_TAU = 0.05
FORECAST_HOURS = 48


def _check_states(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[1] != len(VARIABLE_NAMES):
        raise ValueError(
            f"{what} must be (N, {len(VARIABLE_NAMES)}, nlat, nlon) states, got {x.shape}"
        )
    if not np.isfinite(x).all():
        raise ValueError(f"{what} has NaN or inf values")
    return x


def weighted_rmse(candidates: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Cell-area-weighted RMSE per candidate and variable (N, C), physical units."""
    x = _check_states(candidates, "candidates")
    t = _check_states(np.asarray(truth)[None], "truth")[0]
    return np.sqrt(weighted_msq(torch.from_numpy(x), torch.from_numpy(t)).numpy())


def bradley_terry(rmse: np.ndarray, tau: float = BT_TAU) -> np.ndarray:
    """Mean win probability of each candidate over the others, per variable, averaged (N,)."""
    rmse = np.asarray(rmse, dtype=np.float64)
    n = len(rmse)
    if n < 2:
        return np.full(n, 0.5)
    logr = np.log(np.maximum(rmse, 1e-12))  # (N, C)
    p = 1.0 / (1.0 + np.exp(-(logr[None] - logr[:, None]) / tau))  # P(i beats j), (N, N, C)
    p = p.mean(axis=-1)
    return (p.sum(axis=1) - np.diag(p)) / (n - 1)


def accuracy_reward(candidates: np.ndarray, truth: np.ndarray, tau: float = BT_TAU) -> np.ndarray:
    """Bradley-Terry accuracy preference of each candidate among the set (N,), in (0, 1)."""
    return bradley_terry(weighted_rmse(candidates, truth), tau)


def normalised_mse(states: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Area-weighted MSE per state of the variables divided by ``scale`` (C,), averaged (N,):
    :func:`alignda.evaluation.metrics.normalised_msq` of checked states, in float64."""
    x = _check_states(states, "states")
    t = _check_states(np.asarray(truth)[None], "truth")[0]
    return normalised_msq(torch.from_numpy(x), torch.from_numpy(t), scale).numpy()


class Forecaster:
    """The forecaster's model, the imperfect model of the truth's ``world`` (default: world
    v1): deterministic 48 h forecasts of batches of states."""

    def __init__(self, world: WorldConfig | None = None, batch: int = 32, workers: int = 1) -> None:
        self.world = world or WorldConfig()
        self.model = ShallowWaterModel(self.world.imperfect())
        self.batch = batch
        self.workers = workers  # states split over this many threads (one torch thread each)

    def __call__(self, states: np.ndarray, hours: float = FORECAST_HOURS) -> np.ndarray:
        """Forecasts (N, C, nlat, nlon) of states ``hours`` ahead."""
        x = _check_states(states, "states").astype(np.float32)

        def run(rows: np.ndarray, progress: bool) -> np.ndarray:
            part = torch.from_numpy(x[rows])
            out = [
                self.model.forecast(part[i : i + self.batch], hours)
                for i in range(0, len(part), self.batch)
            ]
            return torch.cat(out).numpy()

        return in_parallel(run, len(x), self.workers)

    def differentiable(self, states: torch.Tensor, hours: float = FORECAST_HOURS) -> torch.Tensor:
        """Forecasts of a batch of state tensors ``hours`` ahead, differentiable (no checks)."""
        return self.model.forecast(states, hours, grad=True)


def forecast_reward(
    forecasts: np.ndarray, future_truth: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """Minus the normalised MSE of forecasts (N, C, H, W) vs the truth at their valid time."""
    return -normalised_mse(forecasts, future_truth, scale)


def geostrophic_deviations(states: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Geostrophic deviation D of each state (N,) (0 = exactly geostrophic); of a tensor, a
    differentiable tensor (no checks: the reward-gradient fine-tune's hot path)."""
    x = states if torch.is_tensor(states) else _check_states(states, "states")
    grid = Grid(*x.shape[-2:])
    z, u, v = (x[:, VARIABLE_NAMES.index(k)] for k in ("z", "u", "v"))
    return geostrophic_deviation(z, u, v, grid.lat, grid.lon)


def geo_score(states: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Geo-Score min(1, D_truth / D) of each state (N,), in [0, 1]."""
    d = geostrophic_deviations(states)
    d_truth = geostrophic_deviations(np.asarray(truth)[None])[0]
    return np.minimum(1.0, d_truth / np.maximum(d, 1e-12))


def balance_score(
    states: np.ndarray, truth: np.ndarray, world: WorldConfig | None = None
) -> np.ndarray:
    """Balance score min(1, T_truth / T) of each state (N,), in (0, 1]: T the initialisation
    shock (:func:`alignda.world.shock.height_tendency`, by the forecaster's model of the
    truth's ``world``) of the state, T_truth the truth's."""
    shock = height_tendency(_check_states(states, "states"), world=world)
    truth = _check_states(np.asarray(truth)[None], "truth")
    shock_truth = height_tendency(truth, world=world)[0]
    return np.minimum(1.0, shock_truth / np.maximum(shock, 1e-12))


@dataclass(frozen=True)
class RewardCase:
    """What every reward scores candidates against: the truth at the analysis time, the
    truth ``FORECAST_HOURS`` later and the candidates' forecasts to it (either None: no
    forecast reward), the per-variable scales (C,) of the forecast MSE and the truth's world
    (whose model measures the balance; None: world v1)."""

    truth: np.ndarray
    future_truth: np.ndarray | None = None
    forecasts: np.ndarray | None = None
    scale: np.ndarray | None = None
    world: WorldConfig | None = None


class Reward(Protocol):
    """The one signature of a reward: candidates (N, C, nlat, nlon) -> (N,), higher is better."""

    def __call__(self, candidates: np.ndarray, case: RewardCase) -> np.ndarray: ...


def accuracy(candidates: np.ndarray, case: RewardCase) -> np.ndarray:
    """The accuracy reward (:func:`accuracy_reward`) as a :class:`Reward`."""
    return accuracy_reward(candidates, case.truth)


def forecast(candidates: np.ndarray, case: RewardCase) -> np.ndarray:
    """The forecast reward (:func:`forecast_reward`) as a :class:`Reward`; NaN without
    forecasts or a future truth."""
    if case.forecasts is None or case.future_truth is None or case.scale is None:
        return np.full(len(candidates), np.nan)
    return forecast_reward(case.forecasts, case.future_truth, case.scale)


def physics(candidates: np.ndarray, case: RewardCase) -> np.ndarray:
    """The physics reward (:func:`balance_score`) as a :class:`Reward`."""
    return balance_score(candidates, case.truth, case.world)


@dataclass(frozen=True)
class TermCase:
    """What every reward term scores states (B, C, nlat, nlon) against, one row per state: the
    truth, the truth ``FORECAST_HOURS`` later, the truth's initialisation shock (B,), the
    per-variable scales (C,) of the MSEs and the forecaster whose model runs the forecasts."""

    truth: torch.Tensor
    future_truth: torch.Tensor
    shock_truth: torch.Tensor
    scale: np.ndarray
    forecaster: Forecaster


class Term(Protocol):
    """The one signature of a reward term: states (B, C, nlat, nlon) -> (B,), lower is better,
    differentiable."""

    def __call__(self, states: torch.Tensor, case: TermCase) -> torch.Tensor: ...


def accuracy_term(states: torch.Tensor, case: TermCase) -> torch.Tensor:
    """The accuracy term: the normalised MSE of each state against the truth."""
    return normalised_msq(states, case.truth, case.scale)


def forecast_term(states: torch.Tensor, case: TermCase) -> torch.Tensor:
    """The forecast term: the normalised MSE of each state's differentiable 48 h forecast
    against the truth then (the forecast reward is minus it)."""
    return normalised_msq(case.forecaster.differentiable(states), case.future_truth, case.scale)


def physics_term(states: torch.Tensor, case: TermCase) -> torch.Tensor:
    """The physics term: the initialisation shock beyond the truth's, relative,
    max(0, T / T_truth - 1) = 1 / balance score - 1. Relative to the truth, so a calmer state
    than the truth gains nothing (damping the flow is not balance)."""
    shock = height_tendency(states, world=case.forecaster.world)
    return torch.relu(shock / case.shock_truth - 1.0)


@dataclass(frozen=True)
class RewardDefinition:
    """One reward in its two forms: the candidate reward and its differentiable term."""

    reward: Reward
    term: Term


#: Every reward by name, in the order of :data:`REWARDS`: both forms of each.
REWARD_DEFINITIONS: dict[str, RewardDefinition] = {
    "accuracy": RewardDefinition(accuracy, accuracy_term),
    "forecast": RewardDefinition(forecast, forecast_term),
    "physics": RewardDefinition(physics, physics_term),
}
#: Every candidate reward by name, in the order of :data:`REWARDS`, with the one signature.
REWARD_FUNCTIONS: dict[str, Reward] = {k: d.reward for k, d in REWARD_DEFINITIONS.items()}


def candidate_rewards(
    candidates: np.ndarray,
    truth: np.ndarray,
    forecasts: np.ndarray | None,
    future_truth: np.ndarray | None,
    scale: np.ndarray,
    world: WorldConfig | None = None,
) -> dict[str, np.ndarray]:
    """The three rewards of a candidate set (each (N,)) from its 48 h forecasts (NaN forecast
    reward when ``forecasts`` or ``future_truth`` is None) in the truth's ``world``."""
    case = RewardCase(truth, future_truth, forecasts, scale, world)
    return {name: reward(candidates, case) for name, reward in REWARD_FUNCTIONS.items()}


def all_rewards(
    candidates: np.ndarray,
    truth: np.ndarray,
    future_truth: np.ndarray,
    scale: np.ndarray,
    forecaster: Forecaster,
) -> dict[str, np.ndarray]:
    """The three rewards of a candidate set (each (N,)); runs the 48 h forecasts."""
    fcs = forecaster(candidates)
    return candidate_rewards(candidates, truth, fcs, future_truth, scale, forecaster.world)
