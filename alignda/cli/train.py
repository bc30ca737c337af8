"""Commands that train and publish the models: train-vae, train-prior, finetune-decoder,
rebuild, upload."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from alignda.cli.common import (
    add_choice,
    add_command,
    add_out,
    add_train_args,
    comma_list,
    out_path,
    train_config,
)
from alignda.model.nn.dit import DiTConfig
from alignda.model.nn.vae import SPACES, VAEConfig
from alignda.paths import CHECKPOINT_DIR
from alignda.training.loop import TrainConfig, last_log
from alignda.training.pipeline import ALL_STAGES, Recipe
from alignda.upload import upload
from alignda.world.generation import WORLDS, with_world


def vae_configs(args: argparse.Namespace) -> tuple[VAEConfig, TrainConfig]:
    """The VAE architecture and training configuration a ``train-vae`` command line asks for
    (the recipe's, where an option is not given)."""
    vcfg = VAEConfig(
        width=args.width,
        latent_channels=args.latent_channels,
        fine_width=args.fine_width,
        space=args.space,
    )
    return vcfg, train_config(args, Recipe().vae_train)


def prior_configs(args: argparse.Namespace, latent_channels: int) -> tuple[DiTConfig, TrainConfig]:
    """The prior architecture (on a codec of ``latent_channels``) and training configuration a
    ``train-prior`` command line asks for (the recipe's, where an option is not given)."""
    net_cfg = DiTConfig(
        latent_channels=latent_channels,
        dim=args.dim,
        depth=args.depth,
        heads=args.heads,
        increment=not args.full_latent,
    )
    return net_cfg, train_config(args, Recipe().prior_train)


def cmd_train_vae(args: argparse.Namespace) -> None:
    """Train the VAE (resumable) and export it to the checkpoint folder."""
    from alignda.checkpoints import resolve
    from alignda.training.vae import export_vae, train_vae
    from alignda.world.stats import WorldStats

    if not args.no_export:
        out_path(args)
    vcfg, cfg = vae_configs(args)
    codec = train_vae(
        args.train,
        args.val,
        args.workdir,
        vcfg,
        cfg,
        args.kl_weight,
        args.balance_weight,
        stats=WorldStats.load(resolve("world_stats", args.out)),
        progress=not args.quiet,
    )
    if not args.no_export:
        figures = last_log(args.workdir)
        path = export_vae(
            codec,
            args.out,
            figures=figures,
            train_config={
                "train": cfg.to_dict(),
                "kl_weight": args.kl_weight,
                "balance_weight": args.balance_weight,
            },
            data={"train": str(args.train)},
        )
        print(f"exported {path}: {figures}")


def cmd_train_prior(args: argparse.Namespace) -> None:
    """Train the latent prior (resumable) and export it."""
    from alignda.model.codec import load_codec
    from alignda.training.prior import export_prior, train_prior

    if not args.no_export:
        out_path(args)
    codec = load_codec(args.out)
    net_cfg, cfg = prior_configs(args, codec.config.latent_channels)
    net = train_prior(
        codec, args.train, args.val, args.workdir, net_cfg, cfg, progress=not args.quiet
    )
    if not args.no_export:
        figures = last_log(args.workdir)
        path = export_prior(
            net,
            "prior",
            args.out,
            figures=figures,
            config={"train": cfg.to_dict()},
            data={"train": str(args.train)},
        )
        print(f"exported {path}: {figures}")


def cmd_finetune_decoder(args: argparse.Namespace) -> None:
    """Fine-tune the VAE decoder against its frozen encoder (the prior stays valid)."""
    from alignda.model.codec import load_codec
    from alignda.training.vae import export_finetuned_decoder, finetune_decoder

    if not args.no_export:
        out_path(args)
    cfg = train_config(args)
    codec = finetune_decoder(
        load_codec(args.out),
        [p.strip() for p in args.train.split(",") if p.strip()],
        args.val,
        args.workdir,
        cfg,
        progress=not args.quiet,
    )
    if not args.no_export:
        figures = last_log(args.workdir)
        path = export_finetuned_decoder(codec, args.out, cfg, args.train, figures=figures)
        print(f"exported {path}: {figures}")


def cmd_rebuild(args: argparse.Namespace) -> None:
    """Rebuild the checkpoints from a seed (data, statistics and B, VAE, prior)."""

    from alignda.training.pipeline import rebuild, scaled

    stages = tuple(comma_list(args.stages, ALL_STAGES, "stage", "--stages"))
    out = out_path(args)
    recipe = Recipe()
    if args.world:
        recipe = replace(recipe, generate=with_world(recipe.generate, args.world))
    if args.data_parts:
        recipe = replace(recipe, data_parts=args.data_parts)
    recipe = scaled(recipe, args.scale) if args.scale != 1.0 else recipe
    if args.vae_steps:
        recipe = replace(recipe, vae_train=replace(recipe.vae_train, steps=args.vae_steps))
    if args.prior_steps:
        recipe = replace(recipe, prior_train=replace(recipe.prior_train, steps=args.prior_steps))
    if args.prior_batch or args.prior_lr:
        pt = recipe.prior_train
        pt = replace(pt, batch=args.prior_batch or pt.batch, lr=args.prior_lr or pt.lr)
        recipe = replace(recipe, prior_train=pt)
    figures = rebuild(
        recipe,
        out=out,
        data=args.data,
        runs=args.runs,
        stages=stages,
        save_data=not args.no_save_data,
        progress=not args.quiet,
        budget_seconds=args.budget_minutes * 60 if args.budget_minutes else None,
        prior_init=args.prior_init,
        data_workers=args.data_workers,
        use_parts=args.use_parts,
    )
    print(json.dumps(figures, indent=1))


def cmd_upload(args: argparse.Namespace) -> None:
    """Upload a checkpoint folder to a Hugging Face Hub model repo (``--dry-run``: write the
    model card and list the files, without network)."""
    if not args.dry_run and not args.repo_id:
        raise ValueError("--repo-id is required (unless --dry-run)")
    print(upload(args.folder, args.repo_id, dry_run=args.dry_run))


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser's subcommands."""
    recipe = Recipe()
    v = add_command(sub, "train-vae", "train the VAE and export it")
    add_train_args(
        v,
        recipe.vae_train,
        "checkpoint folder: its world_stats are read, the VAE is exported into it",
    )
    v.add_argument(
        "--width", type=int, default=recipe.vae.width, help="channels at latent resolution"
    )
    v.add_argument(
        "--latent-channels",
        dest="latent_channels",
        type=int,
        default=recipe.vae.latent_channels,
        help="channels of the latent (the prior's variable)",
    )
    v.add_argument(
        "--fine-width",
        dest="fine_width",
        type=int,
        default=recipe.vae.fine_width,
        help="channels at full grid resolution",
    )
    add_choice(
        v,
        "--space",
        choices=SPACES,
        what="VAE space",
        default=recipe.vae.space,
        help="what the network sees and returns: the normalised state (z, u, v, tracer) or "
        "controls (psi, chi, unbalanced z, tracer; the codec balances them)",
    )
    v.add_argument(
        "--kl-weight",
        dest="kl_weight",
        type=float,
        default=recipe.kl_weight,
        help="weight of the KL term of the VAE loss",
    )
    v.add_argument(
        "--balance-weight",
        dest="balance_weight",
        type=float,
        default=recipe.balance_weight,
        help="weight of the ageostrophic-wind error in the loss (0: none)",
    )
    v.set_defaults(func=cmd_train_vae)

    r = add_command(sub, "train-prior", "train the latent score prior and export it")
    add_train_args(
        r,
        recipe.prior_train,
        "checkpoint folder: its VAE encodes the cases, the prior is exported into it",
    )
    r.add_argument(
        "--dim", type=int, default=recipe.prior.dim, help="token width of the transformer"
    )
    r.add_argument("--depth", type=int, default=recipe.prior.depth, help="transformer blocks")
    r.add_argument(
        "--heads", type=int, default=recipe.prior.heads, help="attention heads per block"
    )
    r.add_argument(
        "--full-latent",
        dest="full_latent",
        action="store_true",
        help="model the latent itself, not the increment z - z_b",
    )
    r.set_defaults(func=cmd_train_prior)

    fd = add_command(
        sub, "finetune-decoder", "fine-tune the VAE decoder alone (latents, prior unchanged)"
    )
    add_train_args(
        fd,
        TrainConfig(),
        "checkpoint folder: its VAE is fine-tuned and exported back into it",
        train_help="training cases (netCDF); comma-separated for several files",
    )
    fd.set_defaults(func=cmd_finetune_decoder)

    rb = add_command(
        sub, "rebuild", "rebuild the checkpoints from a seed: data, stats and B, VAE, prior"
    )
    add_out(rb, "checkpoint folder to write", default=str(CHECKPOINT_DIR))
    rb.add_argument(
        "--data",
        default="data/rebuild",
        help="folder of the generated cases (kept, and reused when their config matches)",
    )
    rb.add_argument(
        "--runs", default="runs/rebuild", help="folder of the resumable training states"
    )
    rb.add_argument(
        "--world",
        choices=tuple(WORLDS),
        help=f"world version of the data (default: the recipe's, {recipe.generate.version})",
    )
    rb.add_argument(
        "--data-parts",
        dest="data_parts",
        type=int,
        help="generate the data in this many parts, each kept as it finishes (a stopped data "
        f"stage resumes at the part it was on; default {recipe.data_parts})",
    )
    rb.add_argument(
        "--data-workers",
        dest="data_workers",
        type=int,
        default=1,
        help="on the CPU, processes (one thread each) that generate missing data parts side by "
        "side (e.g. 2 on a 2-core machine)",
    )
    rb.add_argument(
        "--use-parts",
        dest="use_parts",
        type=int,
        help="train on the first this many data parts only, neither generating nor reading "
        "the rest (a budgeted CPU rebuild; the manifests say how many)",
    )
    rb.add_argument(
        "--stages",
        default="data,stats,vae,prior",
        help=f"comma list of the stages to run, of: {', '.join(ALL_STAGES)} (decoder: "
        "fine-tune of the VAE decoder in --out)",
    )
    rb.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the recipe's trajectories and training steps by this (e.g. 0.01: a "
        "smoke test)",
    )
    rb.add_argument(
        "--vae-steps",
        dest="vae_steps",
        type=int,
        help=f"VAE optimiser steps (default: the recipe's, {recipe.vae_train.steps}, x --scale)",
    )
    rb.add_argument(
        "--prior-steps",
        dest="prior_steps",
        type=int,
        help="prior optimiser steps (default: the recipe's, "
        f"{recipe.prior_train.steps}, x --scale)",
    )
    rb.add_argument(
        "--prior-batch",
        dest="prior_batch",
        type=int,
        help=f"prior batch size (default: the recipe's, {recipe.prior_train.batch})",
    )
    rb.add_argument(
        "--prior-lr",
        dest="prior_lr",
        type=float,
        help=f"prior peak learning rate (default: the recipe's, {recipe.prior_train.lr:g})",
    )
    rb.add_argument(
        "--prior-init",
        dest="prior_init",
        help="checkpoint folder whose prior the prior stage fine-tunes (default: from scratch)",
    )
    rb.add_argument(
        "--no-save-data",
        dest="no_save_data",
        action="store_true",
        help="do not write the generated cases to --data",
    )
    rb.add_argument(
        "--budget-minutes",
        dest="budget_minutes",
        type=float,
        help="wall-clock budget: training steps are cut to fit it on this machine",
    )
    rb.add_argument("--quiet", action="store_true", help="no progress bars")
    rb.set_defaults(func=cmd_rebuild)

    u = add_command(sub, "upload", "upload a checkpoint folder to the Hugging Face Hub")
    u.add_argument(
        "--repo-id",
        dest="repo_id",
        help="Hub model repo to upload to, e.g. you/alignda (required unless --dry-run)",
    )
    u.add_argument("--folder", default=str(CHECKPOINT_DIR), help="checkpoint folder to upload")
    u.add_argument(
        "--dry-run",
        dest="dry_run",
        action="store_true",
        help="write the model card and list the files that would be uploaded, without network",
    )
    u.set_defaults(func=cmd_upload)
