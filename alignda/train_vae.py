"""Train the VAE on twin-world states and export it (safetensors + manifest entry)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from alignda.cases import Cases
from alignda.checkpoints import CHECKPOINT_DIR, reading, register, resolve, safetensors_metadata
from alignda.climate import WorldStats
from alignda.codec import LatentCodec
from alignda.datasets import CaseTensors
from alignda.nn.vae import VAE, VAEConfig
from alignda.training import TrainConfig, train
from alignda.variables import VARIABLE_NAMES


def vae_loss(
    model: torch.nn.Module,
    x: torch.Tensor,
    weights: torch.Tensor,
    kl_weight: float,
    gen: torch.Generator,
) -> torch.Tensor:
    """Latitude-weighted MSE of the normalised reconstruction plus a small KL term."""
    recon, mu, logvar = model(x, gen)
    mse = ((recon - x) ** 2 * weights).mean()
    kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean()
    return mse + kl_weight * kl


@torch.no_grad()
def reconstruction_rmse(vae: VAE, data: CaseTensors, stats: WorldStats, n: int = 64) -> dict:
    """Per-variable RMSE (physical units) of mean-latent reconstructions of n states."""
    x = data.evenly_spaced_states(n)
    mu, _ = vae.encode(x)
    err = (stats.denormalise(vae.decode(mu)) - stats.denormalise(x)) ** 2
    mse = (err * data.weights).mean(dim=(0, 2, 3))
    return {f"recon_rmse_{v}": float(mse[i].sqrt()) for i, v in enumerate(VARIABLE_NAMES)}


def train_vae(
    train_path: str | Path,
    val_path: str | Path,
    workdir: str | Path,
    vae_config: VAEConfig,
    cfg: TrainConfig,
    kl_weight: float = 1e-4,
    progress: bool = True,
) -> VAE:
    """Train (resumably, in ``workdir``) and return the VAE."""
    torch.manual_seed(cfg.seed)
    stats = WorldStats.load(resolve("world_stats"))
    train_data = CaseTensors(Cases.open(train_path), stats)
    val_data = CaseTensors(Cases.open(val_path), stats)
    vae = VAE(vae_config)

    def loss(model: torch.nn.Module, gen: torch.Generator) -> torch.Tensor:
        return vae_loss(
            model, train_data.sample_states(cfg.batch, gen), train_data.weights, kl_weight, gen
        )

    train(
        vae,
        loss,
        cfg,
        workdir,
        val_fn=lambda m: reconstruction_rmse(m, val_data, stats),
        progress=progress,
    )
    return vae


@torch.no_grad()
def latent_scale(vae: VAE, data: CaseTensors, n: int = 256) -> torch.Tensor:
    """Per-channel std of the latent means over n training states."""
    x = data.evenly_spaced_states(n)
    mu, _ = vae.encode(x)
    return mu.std(dim=(0, 2, 3))


def export_vae(
    vae: VAE,
    train_path: str | Path,
    out: str | Path = CHECKPOINT_DIR,
    figures: dict | None = None,
    train_config: dict | None = None,
) -> Path:
    """Write ``vae.safetensors`` (weights, latent scale, config in metadata) and register it."""
    stats = WorldStats.load(resolve("world_stats", out))
    data = CaseTensors(Cases.open(train_path), stats)
    tensors = {k: v.contiguous() for k, v in vae.state_dict().items()}
    tensors["latent_scale"] = latent_scale(vae, data)
    path = Path(out) / "vae.safetensors"
    save_file(tensors, str(path), metadata={"config": json.dumps(asdict(vae.config))})
    register(
        "vae",
        path,
        directory=out,
        config={"vae": asdict(vae.config), **(train_config or {})},
        data={"train": str(train_path), "states": len(data.states)},
        figures=figures or {},
    )
    return path


def load_codec(directory: str | Path = CHECKPOINT_DIR) -> LatentCodec:
    """The shipped latent codec (sha256-checked VAE + world statistics)."""
    path = resolve("vae", directory)
    config = safetensors_metadata(path, "config", "a VAE checkpoint (VAE config)")
    with reading(path, "the weights of a VAE"):
        tensors = load_file(str(path))
        scale = tensors.pop("latent_scale")
        vae = VAE(VAEConfig(**config))
        vae.load_state_dict(tensors)
    vae.eval().requires_grad_(False)
    stats = WorldStats.load(resolve("world_stats", directory))
    return LatentCodec(vae, stats, scale).eval()
