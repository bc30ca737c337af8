"""Training the latent prior p(z | z_b) on encoded (background, truth) pairs, and its export."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import save_file

from alignda.checkpoints import register
from alignda.model.codec import LatentCodec
from alignda.model.diffusion import SDACosineSchedule, denoising_loss
from alignda.model.nn.dit import DiT, DiTConfig
from alignda.paths import CHECKPOINT_DIR
from alignda.runtime import default_device
from alignda.training.datasets import roll_longitude
from alignda.training.loop import TrainConfig, train
from alignda.world.cases import Cases, as_cases


@torch.no_grad()
def encode_pairs(
    codec: LatentCodec, cases: Cases, batch: int = 64, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, ...]:
    """Latents (z_b, z) of all (background, truth) pairs of a case set (on ``device``)."""
    bg, truth = cases.pairs()
    codec = codec.to(device)
    out_b, out_t = [], []
    for i in range(0, len(bg), batch):
        out_b.append(codec.encode(torch.from_numpy(bg[i : i + batch]).to(device)))
        out_t.append(codec.encode(torch.from_numpy(truth[i : i + batch]).to(device)))
    return torch.cat(out_b), torch.cat(out_t)


def train_prior(
    codec: LatentCodec,
    train_cases: Cases | str | Path,
    val_cases: Cases | str | Path,
    workdir: str | Path,
    net_config: DiTConfig,
    cfg: TrainConfig,
    progress: bool = True,
    init: DiT | None = None,
) -> DiT:
    """Denoising score matching of p(z | z_b) on encoded training pairs (resumable).

    An ``increment`` network learns the scaled latent increment (z - z_b) / s, s the
    per-channel std of the training increments. Augmentation: the same random longitude
    rotation of z and z_b (whole latent columns, i.e. 4 grid points, under which the VAE is
    exactly equivariant). ``init``: a trained network of the same config to start from.
    """
    torch.manual_seed(cfg.seed)
    dev = default_device()
    zb, z = encode_pairs(codec, as_cases(train_cases), device=dev)
    vzb, vz = encode_pairs(codec, as_cases(val_cases), device=dev)
    codec.cpu()
    schedule = SDACosineSchedule()
    net = DiT(net_config).to(dev)
    if init is not None:  # warm start (fine-tuning): its weights and its increment scale
        net.load_state_dict(init.state_dict())
    elif net_config.increment:
        net.increment_scale.copy_((z - zb).std(dim=(0, 2, 3)).reshape(net.increment_scale.shape))
    x, vx = net.from_latent(z, zb), net.from_latent(vz, vzb)

    def loss(model: torch.nn.Module, gen: torch.Generator) -> torch.Tensor:
        i = torch.randint(len(x), (cfg.batch,), generator=gen).to(dev)
        s = torch.randint(x.shape[-1], (cfg.batch,), generator=gen)
        return denoising_loss(
            model, roll_longitude(x[i], s), schedule, gen, z_b=roll_longitude(zb[i], s)
        )

    def val(model: torch.nn.Module) -> dict[str, float]:
        gen = torch.Generator().manual_seed(1234)
        n = min(len(vx), 256)
        return {"val_loss": float(denoising_loss(model, vx[:n], schedule, gen, z_b=vzb[:n]))}

    train(net, loss, cfg, workdir, val_fn=val, progress=progress)
    return net.cpu().eval()


def export_prior(
    net: DiT, name: str = "prior", out: str | Path = CHECKPOINT_DIR, **manifest
) -> Path:
    """Write ``<name>.safetensors`` (weights + config metadata) and register it."""
    path = Path(out) / f"{name}.safetensors"
    tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(tensors, str(path), metadata={"config": json.dumps(asdict(net.config))})
    register(
        name,
        path,
        directory=out,
        config={"dit": asdict(net.config), **manifest.pop("config", {})},
        **manifest,
    )
    return path
