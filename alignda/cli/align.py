"""Commands of the reward alignment: preferences, align."""

from __future__ import annotations

import argparse
from pathlib import Path

from alignda.paths import CHECKPOINT_DIR
from alignda.training.loop import TrainConfig, last_log
from alignda.world.cases import (
    Cases,
)


def cmd_preferences(args: argparse.Namespace) -> None:
    """Sample and score candidates for the preference data (safetensors)."""
    from alignda.alignment.preferences import PreferenceConfig, generate_preferences
    from alignda.checkpoints import resolve
    from alignda.model.codec import load_codec
    from alignda.model.prior import load_prior
    from alignda.world.stats import WorldStats

    cfg = PreferenceConfig(
        candidates=args.candidates,
        backgrounds=args.backgrounds,
        steps=args.steps,
        corrections=args.corrections,
        seed=args.seed,
    )
    folder = Path(args.checkpoints)
    stats = WorldStats.load(resolve("world_stats", folder))
    prefs = generate_preferences(
        Cases.open(args.cases),
        load_codec(folder),
        load_prior(directory=folder),
        stats.std,
        cfg,
        progress=not args.quiet,
    )
    prefs.config["cases"] = str(args.cases)
    path = prefs.save(args.out)
    means = {k: round(float(v.mean()), 4) for k, v in prefs.rewards.items()}
    print(f"{prefs.z.shape[0]} backgrounds x {prefs.z.shape[1]} candidates -> {path}; {means}")


def cmd_align(args: argparse.Namespace) -> None:
    """Diffusion-DPO of one delta per preference kind; export them as ``aligned``."""
    from alignda.alignment.dpo import DPOConfig, train_dpo
    from alignda.alignment.preferences import Preferences
    from alignda.alignment.soup import DELTAS, export_deltas
    from alignda.checkpoints import read_manifest
    from alignda.model.prior import load_prior

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    for k in kinds:
        if k not in DELTAS:
            raise ValueError(f"unknown kind {k!r}; choose from {DELTAS}")
    train_cfg = TrainConfig(
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        warmup=min(20, args.steps),
        val_every=args.val_every,
        save_every=args.val_every,
    )
    cfg = DPOConfig(
        beta=args.beta, fraction=args.fraction, multi_fraction=args.multi_fraction, train=train_cfg
    )
    prefs = Preferences.load(args.prefs)
    val = Preferences.load(args.val_prefs) if args.val_prefs else None
    ref = load_prior(directory=args.checkpoints)
    deltas, figures = {}, {}
    for k in kinds:
        deltas[k], _ = train_dpo(
            ref, prefs, k, cfg, Path(args.workdir) / k, val, progress=not args.quiet
        )
        figures[k] = last_log(Path(args.workdir) / k)
        print(f"{k}: {figures[k]}")
    if not args.no_export:
        path = export_deltas(
            deltas,
            "aligned",
            args.out,
            config={
                "dpo": {
                    "beta": cfg.beta,
                    "fraction": cfg.fraction,
                    "multi_fraction": cfg.multi_fraction,
                    "train": train_cfg.to_dict(),
                },
                "preferences": prefs.config,
                "prior_sha256": read_manifest(args.checkpoints)["prior"]["sha256"],
            },
            data={"prefs": str(args.prefs), "pairs_from_backgrounds": int(prefs.z.shape[0])},
            figures=figures,
        )
        print(f"exported {path}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser's subcommands."""
    pr = sub.add_parser("preferences", help="sample and score candidates for DPO")
    pr.add_argument("--cases", default="data/world/train.nc")
    pr.add_argument("--out", required=True, help="safetensors file")
    pr.add_argument("--candidates", type=int, default=16)
    pr.add_argument("--backgrounds", type=int, default=32)
    pr.add_argument("--steps", type=int, default=32)
    pr.add_argument("--corrections", type=int, default=1)
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--checkpoints", default=str(CHECKPOINT_DIR))
    pr.add_argument("--quiet", action="store_true")
    pr.set_defaults(func=cmd_preferences)

    al = sub.add_parser("align", help="Diffusion-DPO deltas per reward (+ multi) -> checkpoints")
    al.add_argument("--prefs", required=True, help="training preference file")
    al.add_argument("--val-prefs", dest="val_prefs", help="held-out preference file")
    al.add_argument("--kinds", default="accuracy,forecast,physics,multi")
    al.add_argument("--workdir", required=True)
    al.add_argument("--out", default=str(CHECKPOINT_DIR))
    al.add_argument("--checkpoints", default=str(CHECKPOINT_DIR), help="reference prior folder")
    al.add_argument("--steps", type=int, default=200)
    al.add_argument("--batch", type=int, default=8)
    al.add_argument("--lr", type=float, default=1e-5)
    al.add_argument("--beta", type=float, default=8000.0)
    al.add_argument("--fraction", type=float, default=0.25, help="top/bottom fraction (-P)")
    al.add_argument("--multi-fraction", dest="multi_fraction", type=float, default=0.5)
    al.add_argument("--seed", type=int, default=0)
    al.add_argument("--val-every", dest="val_every", type=int, default=50)
    al.add_argument("--no-export", action="store_true")
    al.add_argument("--quiet", action="store_true")
    al.set_defaults(func=cmd_align)
