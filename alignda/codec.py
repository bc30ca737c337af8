"""The latent space: VAE + world statistics, physical state <-> unit-scale latent.

``encode`` normalises a physical state, takes the VAE posterior mean and divides by the
per-channel latent scale measured on training data, so the diffusion prior sees latents of
roughly unit variance; ``decode`` inverts all of it.
"""

from __future__ import annotations

import torch
from torch import nn

from alignda.climate import WorldStats
from alignda.nn.vae import VAE, VAEConfig


class LatentCodec(nn.Module):
    """Physical state (B, C, 64, 128) <-> latent (B, c, 16, 32)."""

    def __init__(self, vae: VAE, stats: WorldStats, latent_scale: torch.Tensor | None = None):
        super().__init__()
        self.vae = vae
        self.stats = stats
        c = vae.config.latent_channels
        scale = torch.ones(c) if latent_scale is None else torch.as_tensor(latent_scale)
        self.register_buffer("latent_scale", scale.float().reshape(1, c, 1, 1))

    @property
    def config(self) -> VAEConfig:
        """The VAE architecture."""
        return self.vae.config

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Physical state -> scaled latent (posterior mean)."""
        mu, _ = self.vae.encode(self.stats.normalise(x))
        return mu / self.latent_scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latent -> physical state."""
        return self.stats.denormalise(self.vae.decode(z * self.latent_scale))
