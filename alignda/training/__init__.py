"""Training the models from twin-world data, and rebuilding every checkpoint from a seed.

- :mod:`~alignda.training.loop`: the shared loop: seeded batches, resumable safetensors
  state, DDP under ``torchrun``, logging;
- :mod:`~alignda.training.datasets`: normalised training tensors from case files, with
  random rotations in longitude as augmentation;
- :mod:`~alignda.training.vae`: the VAE trained on the decoded physical state (and the
  decoder fine-tune), exported as a checkpoint;
- :mod:`~alignda.training.prior`: the latent prior trained on encoded (background, truth)
  pairs, exported as a checkpoint;
- :mod:`~alignda.training.pipeline`: the whole rebuild, data -> statistics and B -> VAE ->
  prior, scaled to a time budget.

The names below are the package's public interface.
"""

from alignda.training.datasets import CaseTensors, roll_longitude
from alignda.training.loop import TrainConfig, last_log, load_state, save_state, train
from alignda.training.pipeline import ALL_STAGES, STAGES, Recipe, fit_to_budget, rebuild, scaled
from alignda.training.prior import export_prior, train_prior
from alignda.training.vae import (
    ReconstructionLoss,
    export_finetuned_decoder,
    export_vae,
    finetune_decoder,
    train_vae,
)

__all__ = [
    "ALL_STAGES",
    "STAGES",
    "CaseTensors",
    "Recipe",
    "ReconstructionLoss",
    "TrainConfig",
    "export_finetuned_decoder",
    "export_prior",
    "export_vae",
    "finetune_decoder",
    "fit_to_budget",
    "last_log",
    "load_state",
    "rebuild",
    "roll_longitude",
    "save_state",
    "scaled",
    "train",
    "train_prior",
    "train_vae",
]
