"""The learned models: the latent space, the score-based prior on it and its guidance.

- :mod:`~alignda.model.codec`: the latent codec, physical state <-> unit-scale latent (the
  VAE plus the world statistics), and its loading from the shipped checkpoints;
- :mod:`~alignda.model.diffusion`: the noise schedule, the epsilon denoiser, the ancestral
  predictor-corrector sampler and the denoising loss (on azula's split);
- :mod:`~alignda.model.guidance`: observation guidance of the prior in four modes (obsfree,
  repaint, dps, mmps) through one interface;
- :mod:`~alignda.model.prior`: the background-conditioned latent prior p(z | z_b), loaded
  from a checkpoint as a denoiser;
- :mod:`~alignda.model.nn`: the networks: the convolutional VAE, the DiT score network and
  padding across the poles.

The names below are the package's public interface.
"""

from alignda.model.codec import LatentCodec, load_codec
from alignda.model.diffusion import (
    AncestralPCSampler,
    EpsilonDenoiser,
    SDACosineSchedule,
    add_noise,
    denoising_loss,
    member_generators,
)
from alignda.model.guidance import MODES, LatentObservation, guided
from alignda.model.nn.dit import DiT, DiTConfig
from alignda.model.nn.vae import VAE, VAEConfig
from alignda.model.prior import load_prior, prior_denoiser

__all__ = [
    "MODES",
    "VAE",
    "AncestralPCSampler",
    "DiT",
    "DiTConfig",
    "EpsilonDenoiser",
    "LatentCodec",
    "LatentObservation",
    "SDACosineSchedule",
    "VAEConfig",
    "add_noise",
    "denoising_loss",
    "guided",
    "load_codec",
    "load_prior",
    "member_generators",
    "prior_denoiser",
]
