"""Train the VAE on twin-world states and export it (safetensors + manifest entry).

The loss is measured on the *decoded physical state*: each variable's latitude-weighted
squared error in units of its target accuracy (``RECON_TARGETS``: 2 m, 0.3 m/s, 0.3 m/s,
0.01), plus the error of the ageostrophic wind (u - u_g(z), v - v_g(z)) outside the tropics,
the quantity the Geo-Score measures, plus a small KL term.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from alignda.checkpoints import read_manifest, register, resolve
from alignda.model.codec import LatentCodec
from alignda.model.nn.vae import VAE, VAEConfig
from alignda.paths import CHECKPOINT_DIR
from alignda.runtime import default_device
from alignda.training.datasets import CaseTensors, roll_longitude
from alignda.training.loop import TrainConfig, train
from alignda.world.balance import TROPICS_DEG
from alignda.world.cases import Cases, as_cases
from alignda.world.grid import cell_area_weights
from alignda.world.sphere import GRAVITY, Sphere
from alignda.world.stats import WorldStats
from alignda.world.variables import VARIABLE_NAMES

RECON_TARGETS = (2.0, 0.3, 0.3, 0.01)  # z (m), u, v (m/s), tracer: the acceptance accuracy


class AgeostrophicWind(torch.nn.Module):
    """(u - u_g, v - v_g) of physical states (B, 4, nlat, nlon), zero where |lat| < 15 deg."""

    def __init__(self, sphere: Sphere | None = None) -> None:
        super().__init__()
        self.sphere = sp = sphere or Sphere()
        f = sp.coriolis
        extra = torch.rad2deg(torch.asin(f / f.abs().max())).abs() >= TROPICS_DEG
        self.register_buffer("g_over_f", torch.where(extra, GRAVITY / f, torch.zeros_like(f)))
        self.register_buffer("mask", extra.to(f.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dzdx, dzdy = self.sphere.grad(self.sphere.to_spec(x[:, 0]))
        ua = (x[:, 1] + self.g_over_f * dzdy) * self.mask
        va = (x[:, 2] - self.g_over_f * dzdx) * self.mask
        return torch.stack((ua, va), dim=1)


class ReconstructionLoss(torch.nn.Module):
    """Target-scaled physical reconstruction error + ageostrophic-wind error + KL."""

    def __init__(self, weights: torch.Tensor, kl_weight: float, balance_weight: float) -> None:
        super().__init__()
        self.register_buffer("weights", weights.float().reshape(-1, 1))
        self.register_buffer("targets", torch.tensor(RECON_TARGETS).reshape(1, -1, 1, 1))
        self.ageo = AgeostrophicWind()
        self.kl_weight, self.balance_weight = kl_weight, balance_weight

    def forward(self, codec: LatentCodec, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Loss of a batch of physical states x (B, 4, nlat, nlon)."""
        mu, logvar = codec.vae.encode(codec.to_network(x))
        eps = torch.randn(mu.shape, generator=gen).to(mu.device)
        recon = codec.from_network(codec.vae.decode(mu + eps * (0.5 * logvar).exp()))
        loss = (((recon - x) / self.targets) ** 2 * self.weights).mean()
        if self.balance_weight:
            da = (self.ageo(recon) - self.ageo(x)) / self.targets[:, 1:3]
            loss = loss + self.balance_weight * (da**2 * self.weights).mean()
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean()
        return loss + self.kl_weight * kl


@torch.no_grad()
def reconstruction_figures(codec: LatentCodec, states: torch.Tensor, batch: int = 32) -> dict:
    """Per-variable RMSE (physical units) and mean Geo-Score (%) of decode(encode(x))."""
    from alignda.alignment.rewards import geo_score

    lat = codec.stats.latitude
    w = torch.from_numpy(cell_area_weights(lat).astype(np.float32)).to(states.device)
    w = w.reshape(-1, 1)
    sq, geo = [], []
    for i in range(0, len(states), batch):
        x = states[i : i + batch]
        r = codec.decode(codec.encode(x))
        sq.append((((r - x) ** 2) * w).mean(dim=(2, 3)))
        xn, rn = x.cpu().numpy(), r.cpu().numpy()
        geo.extend(float(geo_score(rn[k : k + 1], xn[k])[0]) for k in range(len(xn)))
    mse = torch.cat(sq).mean(dim=0)
    out = {f"recon_rmse_{v}": float(mse[i].sqrt()) for i, v in enumerate(VARIABLE_NAMES)}
    out["recon_geo_score_pct"] = 100.0 * float(np.mean(geo))
    return out


@torch.no_grad()
def control_moments(stats: WorldStats, data: CaseTensors, n: int = 512) -> tuple[torch.Tensor, ...]:
    """Mean and std (4,) of the control fields of n training states."""
    from alignda.world.controls import ControlTransform

    ct = ControlTransform().to(data.states.device)
    c = torch.cat(
        [ct.to_controls(stats.denormalise(x)) for x in data.evenly_spaced_states(n).split(64)]
    )
    return c.mean(dim=(0, 2, 3)).cpu(), c.std(dim=(0, 2, 3)).cpu()


def train_vae(
    train_cases: Cases | str | Path,
    val_cases: Cases | str | Path,
    workdir: str | Path,
    vae_config: VAEConfig,
    cfg: TrainConfig,
    kl_weight: float = 1e-4,
    balance_weight: float = 1.0,
    stats: WorldStats | None = None,
    progress: bool = True,
) -> LatentCodec:
    """Train (resumably, in ``workdir``) and return the codec (VAE, statistics, scales).

    ``stats`` default: the registered world statistics of the default checkpoint folder.
    """
    torch.manual_seed(cfg.seed)
    dev = default_device()
    stats = stats or WorldStats.load(resolve("world_stats"))
    train_data = CaseTensors(as_cases(train_cases), stats).to(dev)
    val_data = CaseTensors(as_cases(val_cases), stats).to(dev)
    moments = control_moments(stats, train_data) if vae_config.space == "controls" else None
    codec = LatentCodec(VAE(vae_config), stats, control_moments=moments).to(dev)
    criterion = ReconstructionLoss(train_data.weights, kl_weight, balance_weight).to(dev)
    val_states = stats.denormalise(val_data.evenly_spaced_states(64))

    def loss(model: torch.nn.Module, gen: torch.Generator) -> torch.Tensor:
        x = stats.denormalise(train_data.sample_states(cfg.batch, gen))
        return criterion(model, x, gen)

    train(
        codec,
        loss,
        cfg,
        workdir,
        val_fn=lambda m: reconstruction_figures(m, val_states),
        progress=progress,
    )
    codec.latent_scale.copy_(latent_scale(codec, train_data).reshape(codec.latent_scale.shape))
    return codec.cpu().eval()


@torch.no_grad()
def latent_scale(codec: LatentCodec, data: CaseTensors, n: int = 256) -> torch.Tensor:
    """Per-channel std of the (unscaled) latent means over n training states."""
    x = codec.stats.denormalise(data.evenly_spaced_states(n))
    mu = torch.cat([codec.vae.encode(codec.to_network(b))[0] for b in x.split(64)])
    return mu.std(dim=(0, 2, 3))


def export_vae(
    codec: LatentCodec,
    out: str | Path = CHECKPOINT_DIR,
    figures: dict | None = None,
    train_config: dict | None = None,
    data: dict | None = None,
) -> Path:
    """Write ``vae.safetensors`` (weights, latent scale, control moments, config) and register."""
    tensors = {k: v.contiguous() for k, v in codec.vae.state_dict().items()}
    tensors["latent_scale"] = codec.latent_scale.reshape(-1).contiguous()
    if codec.controls is not None:
        tensors["control_mean"] = codec.control_mean.reshape(-1).contiguous()
        tensors["control_std"] = codec.control_std.reshape(-1).contiguous()
    path = Path(out) / "vae.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"config": json.dumps(asdict(codec.config))})
    register(
        "vae",
        path,
        directory=out,
        config={"vae": asdict(codec.config), **(train_config or {})},
        data=data or {},
        figures=figures or {},
    )
    return path


def finetune_decoder(
    codec: LatentCodec,
    train_cases: list[Cases | str | Path],
    val_cases: Cases | str | Path,
    workdir: str | Path,
    cfg: TrainConfig,
    balance_weight: float = 1.0,
    progress: bool = True,
) -> LatentCodec:
    """Train the decoder alone against a frozen encoder (resumable).

    The latents of every state stay what they were, so a prior trained on them stays valid;
    only decode(z) gets closer to the state. Same loss as :func:`train_vae` (no KL term: the
    encoder does not move).
    """
    torch.manual_seed(cfg.seed)
    dev = default_device()
    stats = codec.stats
    sets = [CaseTensors(as_cases(c), stats) for c in train_cases]
    states = torch.cat([s.states for s in sets]).to(dev)
    weights = sets[0].weights.to(dev)
    val_states = stats.denormalise(CaseTensors(as_cases(val_cases), stats).evenly_spaced_states(64))
    codec = codec.to(dev).requires_grad_(False)
    codec.vae.decoder.requires_grad_(True)
    criterion = ReconstructionLoss(weights, 0.0, balance_weight).to(dev)

    def loss(model: torch.nn.Module, gen: torch.Generator) -> torch.Tensor:
        i = torch.randint(len(states), (cfg.batch,), generator=gen).to(dev)
        shifts = torch.randint(states.shape[-1], (cfg.batch,), generator=gen)
        return criterion(model, stats.denormalise(roll_longitude(states[i], shifts)), gen)

    train(
        codec,
        loss,
        cfg,
        workdir,
        val_fn=lambda m: reconstruction_figures(m, val_states.to(dev)),
        progress=progress,
    )
    return codec.cpu().eval().requires_grad_(False)


def export_finetuned_decoder(
    codec: LatentCodec,
    out: str | Path,
    cfg: TrainConfig,
    cases: str,
    figures: dict | None = None,
    note: str | None = None,
) -> Path:
    """Export a decoder fine-tune over the VAE in ``out``, keeping its record.

    The previous manifest entry's configuration and data stay; ``decoder_finetune`` names
    this fine-tune and a line for it is appended to the ``provenance`` list (``note``, or
    its steps, batch, learning rate and cases), so earlier fine-tunes stay on record.
    """
    before = read_manifest(out)["vae"]
    config = dict(before["config"])
    config["decoder_finetune"] = {"train": cfg.to_dict(), "cases": cases}
    note = note or (
        f"decoder fine-tune (`finetune-decoder`, {cfg.steps} steps, batch {cfg.batch}, "
        f"lr {cfg.lr:g}) on {cases}"
    )
    config["provenance"] = [*config.get("provenance", []), note]
    return export_vae(codec, out, figures=figures, train_config=config, data=before["data"])
