"""Alignment of the latent prior with rewards: preference data, fine-tunes, the reward soup.

- :mod:`~alignda.alignment.rewards`: the three rewards of an analysis (accuracy, 48 h
  forecast skill, physical balance: the Geo-Score), each higher-is-better;
- :mod:`~alignda.alignment.preferences`: candidates of the reference prior scored by the
  rewards, and the preference pairs drawn from them;
- :mod:`~alignda.alignment.dpo`: Diffusion-DPO of the prior against its frozen reference;
- :mod:`~alignda.alignment.reward_tune`: reward-gradient fine-tuning (ReFL / DRaFT style),
  the rewards' gradients flowing through the decoder into the prior;
- :mod:`~alignda.alignment.selection`: aligned priors judged by the guided analyses they
  give on held-out cases (sampled rewards, paired comparisons);
- :mod:`~alignda.alignment.recipe`: the sweep: a delta per reward (by either fine-tune), the
  best snapshot of each selected on validation;
- :mod:`~alignda.alignment.soup`: the reward soup theta_ref + sum_i w_i delta_i for user
  weights, and the deltas on disk.

The names below are the package's public interface (the fine-tune function itself stays
:func:`alignda.alignment.reward_tune.reward_tune`: here that name is its module).
"""

from alignda.alignment.dpo import DPOConfig, dpo_loss, train_dpo
from alignda.alignment.preferences import (
    PreferenceConfig,
    Preferences,
    generate_preferences,
    preference_pairs,
)
from alignda.alignment.recipe import DPOTrainer, Setting, save_selected, select, selected_deltas
from alignda.alignment.reward_tune import TuneConfig, TuneData, TuneSetting, TuneTrainer
from alignda.alignment.rewards import (
    FORECAST_HOURS,
    REWARD_FUNCTIONS,
    REWARDS,
    Forecaster,
    RewardCase,
    accuracy_reward,
    all_rewards,
    bradley_terry,
    candidate_rewards,
    forecast_reward,
    geo_score,
    weighted_rmse,
)
from alignda.alignment.selection import (
    ResultCache,
    Scenario,
    evaluate,
    paired_bootstrap,
    scenarios,
    selection_score,
)
from alignda.alignment.soup import (
    DELTAS,
    PRESETS,
    RewardSoup,
    export_deltas,
    load_deltas,
    normalise_weights,
)

__all__ = [
    "DELTAS",
    "FORECAST_HOURS",
    "PRESETS",
    "REWARDS",
    "REWARD_FUNCTIONS",
    "DPOConfig",
    "DPOTrainer",
    "Forecaster",
    "PreferenceConfig",
    "Preferences",
    "ResultCache",
    "RewardCase",
    "RewardSoup",
    "Scenario",
    "Setting",
    "TuneConfig",
    "TuneData",
    "TuneSetting",
    "TuneTrainer",
    "accuracy_reward",
    "all_rewards",
    "bradley_terry",
    "candidate_rewards",
    "dpo_loss",
    "evaluate",
    "export_deltas",
    "forecast_reward",
    "generate_preferences",
    "geo_score",
    "load_deltas",
    "normalise_weights",
    "paired_bootstrap",
    "preference_pairs",
    "save_selected",
    "scenarios",
    "select",
    "selected_deltas",
    "selection_score",
    "train_dpo",
    "weighted_rmse",
]
