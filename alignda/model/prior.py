"""The background-conditioned latent prior p(z | z_b): training, export and loading."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from alignda.checkpoints import reading, resolve, safetensors_metadata
from alignda.model.diffusion import EpsilonDenoiser, SDACosineSchedule
from alignda.model.nn.dit import DiT, DiTConfig
from alignda.paths import CHECKPOINT_DIR


def load_prior(name: str = "prior", directory: str | Path = CHECKPOINT_DIR) -> DiT:
    """A registered score network (sha256-checked; CheckpointError if it is not a prior)."""
    path = resolve(name, directory)
    config = safetensors_metadata(path, "config", "a prior checkpoint (DiT config)")
    with reading(path, "the weights of a prior"):
        net = DiT(DiTConfig(**config))
        net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False)


def prior_denoiser(net: DiT) -> EpsilonDenoiser:
    """The azula denoiser of a score network with the SDA cosine schedule."""
    return EpsilonDenoiser(net, SDACosineSchedule())
