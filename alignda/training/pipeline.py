"""Rebuild every model checkpoint from a seed: data -> statistics and B -> VAE -> prior.

An optional ``decoder`` stage fine-tunes the decoder of the VAE in ``out`` against its frozen
encoder on the recipe's data (the latents, hence the prior, stay valid).

One command (``python -m alignda rebuild``) runs the stages in order on CUDA when present,
else on the CPU. It is resumable: generated cases are kept as netCDF in ``data`` (reused
when their generation config matches) and training resumes from its ``runs/<stage>`` state.
The recipe (this module's defaults) is what the shipped checkpoints were built with; the
manifest records the configuration actually run.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from alignda.checkpoints import read_manifest, register
from alignda.model.nn.dit import DiTConfig
from alignda.model.nn.vae import VAEConfig
from alignda.paths import CHECKPOINT_DIR
from alignda.runtime import default_device
from alignda.training.data_stage import recipe_cases, say
from alignda.training.loop import TrainConfig, last_log
from alignda.world.generation import GenerateConfig
from alignda.world.stats import WorldStats

STAGES = ("data", "stats", "vae", "prior")
ALL_STAGES = ("data", "stats", "vae", "decoder", "prior")


@dataclass(frozen=True)
class Recipe:
    """Everything the rebuild depends on (seeded)."""

    generate: GenerateConfig = field(
        default_factory=lambda: GenerateConfig(
            n_trajectories=192, splits=(0.8, 0.1, 0.1), batch=1024, seed=1
        )
    )
    vae: VAEConfig = field(
        default_factory=lambda: VAEConfig(
            latent_channels=16, width=96, fine_width=32, space="controls"
        )
    )
    vae_train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=12000, batch=32, lr=1e-3, warmup=200, val_every=1000, save_every=500, ema=0.999
        )
    )
    decoder_train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=12000, batch=64, lr=3e-4, warmup=200, val_every=1000, save_every=500, ema=0.0
        )
    )
    #: generations the data are cut into (each kept as it finishes: a resumable data stage)
    data_parts: int = 1
    kl_weight: float = 1e-6
    balance_weight: float = 1.0
    prior: DiTConfig = field(
        default_factory=lambda: DiTConfig(latent_channels=16, dim=128, depth=4, increment=True)
    )
    prior_train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=30000, batch=64, lr=3e-4, warmup=500, val_every=2000, save_every=1000, ema=0.999
        )
    )

    def to_dict(self) -> dict:
        """Plain dict (manifests, logs)."""
        return asdict(self)


def scaled(recipe: Recipe, factor: float) -> Recipe:
    """The recipe with trajectories and training steps times ``factor`` (smoke tests)."""

    def steps(t: TrainConfig) -> TrainConfig:
        n = max(2, int(t.steps * factor))
        return replace(t, steps=n, warmup=min(t.warmup, n), val_every=n, save_every=n)

    parts = recipe.data_parts
    n_traj = max(3 * parts, int(recipe.generate.n_trajectories * factor) // parts * parts)
    return replace(
        recipe,
        generate=replace(recipe.generate, n_trajectories=n_traj),
        vae_train=steps(recipe.vae_train),
        decoder_train=steps(recipe.decoder_train),
        prior_train=steps(recipe.prior_train),
    )


def step_seconds(recipe: Recipe, dev: torch.device, steps: int = 12) -> dict[str, float]:
    """Measured seconds per optimiser step of the VAE, its decoder alone and the prior on
    ``dev`` (random data)."""
    from alignda.model.codec import LatentCodec
    from alignda.model.nn.dit import DiT
    from alignda.model.nn.vae import VAE
    from alignda.training.vae import ReconstructionLoss

    gen = torch.Generator().manual_seed(0)
    g = recipe.generate.world
    w = torch.ones(g.nlat)
    stats = WorldStats(
        mean=torch.zeros(4).numpy(), std=torch.ones(4).numpy(), climatology=None, latitude=None
    )
    moments = (torch.zeros(4), torch.ones(4)) if recipe.vae.space == "controls" else None
    codec = LatentCodec(VAE(recipe.vae), stats, control_moments=moments).to(dev)
    crit = ReconstructionLoss(w, recipe.kl_weight, recipe.balance_weight).to(dev)
    net = DiT(recipe.prior).to(dev)
    p = recipe.prior
    z = torch.randn(recipe.prior_train.batch, p.latent_channels, p.height, p.width).to(dev)

    def reconstruction_step(batch: int):
        x = torch.randn(batch, 4, g.nlat, g.nlon, generator=gen).to(dev)
        return lambda: crit(codec, x, gen)

    def prior_step() -> torch.Tensor:
        t = torch.rand(len(z)).to(dev)
        return ((net(z, t, z_b=z) - z) ** 2).mean()

    out = {}
    steps_of = (
        ("vae", codec, reconstruction_step(recipe.vae_train.batch)),
        ("decoder", codec, reconstruction_step(recipe.decoder_train.batch)),
        ("prior", net, prior_step),
    )
    for name, model, fn in steps_of:
        if name == "decoder":
            codec.requires_grad_(False)
            codec.vae.decoder.requires_grad_(True)
        params = [q for q in model.parameters() if q.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-6)
        for i in range(steps):
            if i == steps // 3:
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            opt.zero_grad()
            fn().backward()
            opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out[name] = (time.perf_counter() - t0) / (steps - steps // 3)
    return out


def fit_to_budget(
    recipe: Recipe, seconds: float, per_step: dict[str, float], stages: tuple[str, ...] = STAGES
) -> Recipe:
    """The recipe with the steps of the trained ``stages`` cut (never raised) to fit
    ``seconds`` of training; the other stages' settings are left as they are.

    With both trained, the VAE gets 40 % of the time and the prior 60 % (a decoder stage
    weighs 0.4 like the VAE); 15 % is held back for validation and export.
    """
    weights = (("vae", 0.4), ("decoder", 0.4), ("prior", 0.6))
    shares = {k: v for k, v in weights if k in stages}
    total = sum(shares.values()) or 1.0

    def fit(t: TrainConfig, share: float, name: str) -> TrainConfig:
        n = max(int(min(t.steps, 0.85 * share * seconds / per_step[name])), 10)
        return replace(
            t,
            steps=n,
            warmup=min(t.warmup, n // 5),
            val_every=max(n // 4, 1),
            save_every=max(n // 10, 1),
        )

    fields = {"vae": "vae_train", "decoder": "decoder_train", "prior": "prior_train"}
    cut = {
        f: fit(getattr(recipe, f), shares[k] / total, k) for k, f in fields.items() if k in shares
    }
    return replace(recipe, **cut)


def rebuild(
    recipe: Recipe,
    out: str | Path = CHECKPOINT_DIR,
    data: str | Path = "data/rebuild",
    runs: str | Path = "runs/rebuild",
    stages: tuple[str, ...] = STAGES,
    save_data: bool = True,
    progress: bool = True,
    budget_seconds: float | None = None,
    prior_init: str | Path | None = None,
    data_workers: int = 1,
    use_parts: int | None = None,
) -> dict[str, dict]:
    """Run ``stages`` of the recipe; returns each stage's figures.

    ``data_workers``: processes (one thread each) that generate missing data parts side by
    side on the CPU (a 2-core machine generates two at once).

    ``budget_seconds``: wall-clock budget of the whole rebuild; after the data stage the
    training steps are cut to fit what is left (:func:`fit_to_budget`; the manifest records
    the steps actually run). ``prior_init``: checkpoint folder whose prior the prior stage
    fine-tunes (recorded in the manifest) instead of starting from scratch.
    """
    start = time.perf_counter()
    from alignda.analysis.threedvar import fit_background_error
    from alignda.model.codec import load_codec
    from alignda.model.prior import load_prior
    from alignda.training.prior import export_prior, train_prior
    from alignda.training.vae import (
        export_finetuned_decoder,
        export_vae,
        finetune_decoder,
        train_vae,
    )

    out, data, runs = Path(out), Path(data), Path(runs)
    out.mkdir(parents=True, exist_ok=True)
    dev = default_device()
    say(f"device {dev}; stages {stages}; recipe {json.dumps(recipe.to_dict())}")
    figures: dict[str, dict] = {}
    count = recipe.data_parts
    parts = recipe_cases(
        recipe.generate, count, data, save_data, progress, dev, data_workers, use_parts
    )
    source = {"generate": asdict(recipe.generate), "data": str(data)}
    if use_parts is not None:
        source["parts"] = f"the first {use_parts} of {count}"
    train_pairs = len(parts["train"])
    say(f"cases: {', '.join(f'{k} {len(v)}' for k, v in parts.items())} (analysis times)")

    if "stats" in stages:
        bg, truth = parts["train"].pairs()
        info = {**source, "cases": train_pairs}
        berr = fit_background_error(bg, truth)
        stats = WorldStats.from_cases(parts["train"])
        for name, thing in (("threedvar_b", berr), ("world_stats", stats)):
            register(name, thing.save(out / f"{name}.safetensors"), directory=out, data=info)
        say("B and world statistics registered")
    stats = WorldStats.load(out / "world_stats.safetensors")
    if budget_seconds is not None:
        left = budget_seconds - (time.perf_counter() - start)
        per_step = step_seconds(recipe, dev)
        recipe = fit_to_budget(recipe, left, per_step, stages)
        say(
            f"{left:.0f} s left; s/step {per_step}: VAE {recipe.vae_train.steps} steps, "
            f"decoder {recipe.decoder_train.steps}, prior {recipe.prior_train.steps} steps"
        )

    if "vae" in stages:
        t0 = time.perf_counter()
        codec = train_vae(
            parts["train"],
            parts["val"],
            runs / "vae",
            recipe.vae,
            recipe.vae_train,
            recipe.kl_weight,
            recipe.balance_weight,
            stats=stats,
            progress=progress,
        )
        figures["vae"] = last_log(runs / "vae") | {"wall_seconds": time.perf_counter() - t0}
        export_vae(
            codec,
            out,
            figures=figures["vae"],
            train_config={
                "train": recipe.vae_train.to_dict(),
                "kl_weight": recipe.kl_weight,
                "balance_weight": recipe.balance_weight,
            },
            data={**source, "train_pairs": train_pairs},
        )
        say(f"VAE exported: {figures['vae']}")

    if "decoder" in stages:
        t0 = time.perf_counter()
        codec = finetune_decoder(
            load_codec(out),
            [parts["train"]],
            parts["val"],
            runs / "decoder",
            recipe.decoder_train,
            recipe.balance_weight,
            progress=progress,
        )
        figures["decoder"] = last_log(runs / "decoder") | {"wall_seconds": time.perf_counter() - t0}
        cfg = recipe.decoder_train
        export_finetuned_decoder(
            codec,
            out,
            cfg,
            f"rebuild: world seed {recipe.generate.seed}, train split ({train_pairs} pairs)",
            figures=figures["decoder"],
            note=(
                f"decoder fine-tune (`rebuild --stages data,decoder`, {cfg.steps} steps, "
                f"batch {cfg.batch}, lr {cfg.lr:g}) on {train_pairs} training pairs of the "
                f"recipe's world seed {recipe.generate.seed} on {dev.type}"
            ),
        )
        say(f"decoder exported: {figures['decoder']}")

    if "prior" in stages:
        t0 = time.perf_counter()
        codec = load_codec(out)
        init = load_prior(directory=prior_init) if prior_init else None
        net = train_prior(
            codec,
            parts["train"],
            parts["val"],
            runs / "prior",
            init.config if init is not None else recipe.prior,
            recipe.prior_train,
            progress=progress,
            init=init,
        )
        figures["prior"] = last_log(runs / "prior") | {"wall_seconds": time.perf_counter() - t0}
        export_prior(
            net,
            "prior",
            out,
            figures=figures["prior"],
            config={
                "train": recipe.prior_train.to_dict(),
                **({"init": read_manifest(prior_init)["prior"]} if prior_init else {}),
            },
            data={**source, "train_pairs": train_pairs},
        )
        say(f"prior exported: {figures['prior']}")
    return figures
