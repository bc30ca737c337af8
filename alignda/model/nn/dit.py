"""DiT-style score network on latent patches with the background injected by cross-attention.

Input: noisy latent z_t (B, c, 16, 32), diffusion time t (B,), background latent z_b.
Tokens are 2x2 latent patches (8 x 16 = 128 tokens). Each block: adaLN-Zero modulated
self-attention, cross-attention to the background tokens, adaLN-Zero MLP (Peebles & Xie 2023).
Output: the noise epsilon (epsilon-prediction), same shape as z_t. Optionally the background
latent is also concatenated to the input channels (a strong, cheap local conditioning).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of the score network."""

    latent_channels: int = 8
    height: int = 16
    width: int = 32
    patch: int = 2
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    concat_background: bool = True
    # True: the network models the scaled latent increment (z - z_b) / increment_scale, not z.
    increment: bool = False

    def to_dict(self) -> dict:
        """Plain dict (for manifests)."""
        return asdict(self)


def time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1] (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    arg = 1000.0 * t.reshape(-1, 1).float() * freqs
    return torch.cat((arg.sin(), arg.cos()), dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation of token features (B, N, D) by (B, D) shift and scale."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Block(nn.Module):
    """Self-attention, cross-attention to the background, MLP; adaLN-Zero on time."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_q = nn.LayerNorm(dim, eps=1e-6)
        self.norm_kv = nn.LayerNorm(dim, eps=1e-6)
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim)
        )
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
        s1, sc1, g1, s2, sc2, g2 = self.ada(cond).chunk(6, dim=-1)
        h = modulate(self.norm1(x), s1, sc1)
        x = x + g1.unsqueeze(1) * self.attn(h, h, h, need_weights=False)[0]
        x = x + self.cross(self.norm_q(x), bg, bg, need_weights=False)[0]
        h = modulate(self.norm2(x), s2, sc2)
        return x + g2.unsqueeze(1) * self.mlp(h)


class DiT(nn.Module):
    """Background-conditioned epsilon-prediction network p(z | z_b) in latent space."""

    def __init__(self, config: DiTConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or DiTConfig()
        c, p, d = cfg.latent_channels, cfg.patch, cfg.dim
        self.grid = (cfg.height // p, cfg.width // p)
        n = self.grid[0] * self.grid[1]
        cin = 2 * c if cfg.concat_background else c
        self.embed = nn.Conv2d(cin, d, p, stride=p)
        self.embed_bg = nn.Conv2d(c, d, p, stride=p)
        self.pos = nn.Parameter(torch.randn(1, n, d) * 0.02)
        self.pos_bg = nn.Parameter(torch.randn(1, n, d) * 0.02)
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.out = nn.Linear(d, p * p * c)
        for layer in (self.ada_out[-1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        if cfg.increment:
            self.register_buffer("increment_scale", torch.ones(1, c, 1, 1))

    def to_latent(self, x: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """The latent z of a sample x of this network's diffusion variable."""
        return z_b + self.increment_scale * x if self.config.increment else x

    def from_latent(self, z: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """The diffusion variable of a latent z (inverse of :meth:`to_latent`)."""
        return (z - z_b) / self.increment_scale if self.config.increment else z

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        """Predicted noise (B, c, H, W)."""
        cfg = self.config
        b = z_t.shape[0]
        t = t.reshape(-1).expand(b) if t.numel() == 1 else t.reshape(b)
        inp = torch.cat((z_t, z_b), dim=1) if cfg.concat_background else z_t
        x = self.embed(inp).flatten(2).transpose(1, 2) + self.pos
        bg = self.embed_bg(z_b).flatten(2).transpose(1, 2) + self.pos_bg
        cond = self.time(time_features(t, cfg.dim).to(x.dtype))
        for block in self.blocks:
            x = block(x, cond, bg)
        shift, scale = self.ada_out(cond).chunk(2, dim=-1)
        x = self.out(modulate(self.norm_out(x), shift, scale))  # (B, N, p*p*c)
        gh, gw = self.grid
        x = x.reshape(b, gh, gw, cfg.patch, cfg.patch, cfg.latent_channels)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(b, cfg.latent_channels, cfg.height, cfg.width)
