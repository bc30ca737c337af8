"""Models placed on a device: the prior and the codec where the sampler runs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from alignda.model.codec import LatentCodec


# --- models on a device ---------------------------------------------------------------------------
def _to(x: Any, device: torch.device) -> Any:
    return x.to(device) if isinstance(x, Tensor) else x


class Placed(nn.Module):
    """A network on ``device`` called from a CPU sampler: inputs go there, outputs come back."""

    def __init__(self, net: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.net, self.device = net, device

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        args = tuple(_to(a, self.device) for a in args)
        kwargs = {k: _to(v, self.device) for k, v in kwargs.items()}
        return self.net(*args, **kwargs).cpu()

    def to_latent(self, x: Tensor, z_b: Tensor) -> Tensor:
        """The network's sample -> latent map (identity for a plain prior)."""
        f = getattr(self.net, "to_latent", None)
        return x if f is None else f(x.to(self.device), z_b.to(self.device)).cpu()

    def from_latent(self, z: Tensor, z_b: Tensor) -> Tensor:
        """Inverse of :meth:`to_latent`."""
        f = getattr(self.net, "from_latent", None)
        return z if f is None else f(z.to(self.device), z_b.to(self.device)).cpu()


class PlacedCodec:
    """A :class:`LatentCodec` on ``device`` with CPU tensors in and out (as ``analyse`` uses)."""

    def __init__(self, codec: LatentCodec, device: torch.device) -> None:
        self.codec, self.device, self.stats = codec.to(device), device, codec.stats

    def encode(self, x: Tensor) -> Tensor:
        """Physical state -> latent."""
        return self.codec.encode(x.to(self.device)).cpu()

    def decode(self, z: Tensor) -> Tensor:
        """Latent -> physical state."""
        return self.codec.decode(z.to(self.device)).cpu()
