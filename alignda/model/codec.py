"""The latent space: VAE + world statistics, physical state <-> unit-scale latent.

``encode`` normalises a physical state, takes the VAE posterior mean and divides by the
per-channel latent scale measured on training data, so the diffusion prior sees latents of
roughly unit variance; ``decode`` inverts all of it.

A VAE of space ``"controls"`` works on balanced control variables (:mod:`alignda.world.controls`):
the state is turned into (psi, chi, z_unbalanced, q), normalised by their training mean and
std, encoded; a decoded latent is turned back through the spectral transforms, so the decoded
height and winds of psi are in balance by construction and free of grid-scale noise.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from alignda.checkpoints import reading, resolve, safetensors_metadata
from alignda.model.nn.vae import VAE, VAEConfig
from alignda.paths import CHECKPOINT_DIR
from alignda.world.controls import ControlTransform
from alignda.world.stats import WorldStats


class LatentCodec(nn.Module):
    """Physical state (B, C, 64, 128) <-> latent (B, c, 16, 32)."""

    def __init__(
        self,
        vae: VAE,
        stats: WorldStats,
        latent_scale: torch.Tensor | None = None,
        control_moments: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        super().__init__()
        self.vae = vae
        self.stats = stats
        c = vae.config.latent_channels
        scale = torch.ones(c) if latent_scale is None else torch.as_tensor(latent_scale)
        self.register_buffer("latent_scale", scale.float().reshape(1, c, 1, 1))
        self.controls: ControlTransform | None = None
        if vae.config.space == "controls":
            if control_moments is None:
                raise ValueError("a controls-space VAE needs the controls' mean and std")
            self.controls = ControlTransform()
            mean, std = (torch.as_tensor(m).float().reshape(1, -1, 1, 1) for m in control_moments)
            self.register_buffer("control_mean", mean)
            self.register_buffer("control_std", std)

    @property
    def config(self) -> VAEConfig:
        """The VAE architecture."""
        return self.vae.config

    def to_network(self, x: torch.Tensor) -> torch.Tensor:
        """Physical state -> what the VAE sees (normalised state or normalised controls)."""
        if self.controls is None:
            return self.stats.normalise(x)
        return (self.controls.to_controls(x) - self.control_mean) / self.control_std

    def from_network(self, y: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_network` (band-limited, balanced state for controls)."""
        if self.controls is None:
            return self.stats.denormalise(y)
        return self.controls.to_state(y * self.control_std + self.control_mean)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Physical state -> scaled latent (posterior mean)."""
        mu, _ = self.vae.encode(self.to_network(x))
        return mu / self.latent_scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latent -> physical state."""
        return self.from_network(self.vae.decode(z * self.latent_scale))


def load_codec(directory: str | Path = CHECKPOINT_DIR) -> LatentCodec:
    """The shipped latent codec (sha256-checked VAE + world statistics)."""
    path = resolve("vae", directory)
    config = safetensors_metadata(path, "config", "a VAE checkpoint (VAE config)")
    with reading(path, "the weights of a VAE"):
        tensors = load_file(str(path))
        scale = tensors.pop("latent_scale")
        moments = None
        if "control_mean" in tensors:
            moments = (tensors.pop("control_mean"), tensors.pop("control_std"))
        vae = VAE(VAEConfig(**config))
        vae.load_state_dict(tensors)
    vae.eval().requires_grad_(False)
    stats = WorldStats.load(resolve("world_stats", directory))
    return LatentCodec(vae, stats, scale, control_moments=moments).eval()
