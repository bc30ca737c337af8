"""Convolutional VAE: normalised state (C, 64, 128) <-> latent (c, 16, 32), 4x per dimension.

Convolutions pad across the poles and periodically in longitude (:mod:`.spherepad`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from alignda.nn.spherepad import SphereConv2d


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of the VAE."""

    channels: int = 4  # state variables
    latent_channels: int = 8
    width: int = 48  # channels at full resolution; doubled after the first downsampling
    blocks: int = 1  # residual blocks per resolution

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


class Upsample(nn.Module):
    """Nearest-neighbour x2 then a sphere-padded convolution."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = SphereConv2d(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.interpolate(x, scale_factor=2, mode="nearest"))


class VAE(nn.Module):
    """Encoder q(z|x) = N(mu, diag(exp(logvar))) and deterministic decoder x = D(z)."""

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or VAEConfig()
        w1, w2 = cfg.width, 2 * cfg.width

        def blocks(w: int) -> list[nn.Module]:
            return [ResBlock(w) for _ in range(cfg.blocks)]

        self.encoder = nn.Sequential(
            SphereConv2d(cfg.channels, w1),
            *blocks(w1),
            SphereConv2d(w1, w2, stride=2),
            *blocks(w2),
            SphereConv2d(w2, w2, stride=2),
            *blocks(w2),
            nn.GroupNorm(8, w2),
            nn.SiLU(),
            SphereConv2d(w2, 2 * cfg.latent_channels),
        )
        self.decoder = nn.Sequential(
            SphereConv2d(cfg.latent_channels, w2),
            *blocks(w2),
            Upsample(w2, w2),
            *blocks(w2),
            Upsample(w2, w1),
            *blocks(w1),
            nn.GroupNorm(8, w1),
            nn.SiLU(),
            SphereConv2d(w1, cfg.channels),
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
