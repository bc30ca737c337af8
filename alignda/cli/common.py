"""Shared pieces of the command line: the arguments every training command takes."""

from __future__ import annotations

import argparse
from dataclasses import replace

from alignda.paths import CHECKPOINT_DIR
from alignda.training.loop import TrainConfig


def train_config(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default: TrainConfig()) with the options given on the command line."""
    keys = ("steps", "batch", "lr", "seed", "val_every", "save_every")
    given = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    return replace(base or TrainConfig(), **given)


def add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", default="data/world/train.nc")
    p.add_argument("--val", default="data/world/val.nc")
    p.add_argument("--workdir", required=True, help="resumable training state and log")
    p.add_argument("--out", default=str(CHECKPOINT_DIR), help="export folder")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--val-every", dest="val_every", type=int)
    p.add_argument("--save-every", dest="save_every", type=int)
    p.add_argument("--no-export", action="store_true", help="train only")
    p.add_argument("--quiet", action="store_true")
