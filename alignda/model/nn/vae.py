"""Convolutional VAE: normalised state (C, 64, 128) <-> latent (c, 16, 32), 4x per dimension.

Convolutions pad across the poles and periodically in longitude (:mod:`.spherepad`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from alignda.model.nn.spherepad import SphereConv2d

SPACES = ("state", "controls")


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of the VAE."""

    channels: int = 4  # state variables
    latent_channels: int = 8
    width: int = 96  # channels at latent resolution (16 x 32)
    fine_width: int = 16  # channels at full resolution (64 x 128)
    blocks: int = 2  # residual blocks at latent resolution, in encoder and in decoder
    # What the network sees and returns: "state" (normalised z, u, v, q) or "controls"
    # (normalised psi, chi, z_unbalanced, q; the codec turns them into a balanced state).
    space: str = "state"

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"VAE space must be one of {SPACES}, got {self.space!r}")

    def to_dict(self) -> dict:
        """Plain dict (for manifests)."""
        return asdict(self)


class ResBlock(nn.Module):
    """Pre-activation residual block with two sphere-padded 3x3 convolutions."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(8, width),
            nn.SiLU(),
            SphereConv2d(width, width),
            nn.GroupNorm(8, width),
            nn.SiLU(),
            SphereConv2d(width, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class VAE(nn.Module):
    """Encoder q(z|x) = N(mu, diag(exp(logvar))) and deterministic decoder x = D(z).

    Most of the work happens at the latent resolution: a light full-resolution convolution,
    then a 4x4 space-to-depth (pixel unshuffle) to 16 x 32, residual blocks there; the
    decoder mirrors it with depth-to-space. Cheap enough to differentiate through at every
    sampler step (DPS guidance).
    """

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or VAEConfig()
        fw, w = cfg.fine_width, cfg.width
        self.encoder = nn.Sequential(
            SphereConv2d(cfg.channels, fw),
            nn.SiLU(),
            nn.PixelUnshuffle(4),
            nn.Conv2d(16 * fw, w, 1),
            *[ResBlock(w) for _ in range(cfg.blocks)],
            nn.GroupNorm(8, w),
            nn.SiLU(),
            SphereConv2d(w, 2 * cfg.latent_channels),
        )
        self.decoder = nn.Sequential(
            SphereConv2d(cfg.latent_channels, w),
            *[ResBlock(w) for _ in range(cfg.blocks)],
            nn.GroupNorm(8, w),
            nn.SiLU(),
            nn.Conv2d(w, 16 * fw, 1),
            nn.PixelShuffle(4),
            nn.SiLU(),
            SphereConv2d(fw, fw),
            nn.SiLU(),
            SphereConv2d(fw, cfg.channels),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of the latent."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar.clamp(-20.0, 5.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised state from a latent."""
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction from a posterior sample, with mu and logvar (for the KL term)."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return self.decode(mu + eps * (0.5 * logvar).exp()), mu, logvar
