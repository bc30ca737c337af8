"""One source of defaults: the shipped manifest's training configurations are what the command
line produces, and the command line's defaults are the rebuild recipe."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from alignda.checkpoints import read_manifest
from alignda.cli import build_parser
from alignda.cli.train import prior_configs, vae_configs
from alignda.training.pipeline import Recipe

MANIFEST = read_manifest()
TRAIN_OPTIONS = ("steps", "batch", "lr", "seed", "val_every", "save_every")


def train_argv(train: dict) -> list[str]:
    """The training options of a command line that asks for the config ``train``."""
    return [a for k in TRAIN_OPTIONS for a in (f"--{k.replace('_', '-')}", str(train[k]))]


def test_the_shipped_vae_config_is_a_command_line() -> None:
    cfg = MANIFEST["vae"]["config"]
    vae = cfg["vae"]
    argv = ["train-vae", "--workdir", "w", *train_argv(cfg["train"])]
    argv += ["--width", str(vae["width"]), "--latent-channels", str(vae["latent_channels"])]
    argv += ["--fine-width", str(vae["fine_width"]), "--space", vae["space"]]
    argv += ["--kl-weight", str(cfg["kl_weight"]), "--balance-weight", str(cfg["balance_weight"])]
    args = build_parser().parse_args(argv)
    vcfg, tcfg = vae_configs(args)
    assert asdict(vcfg) == vae
    assert tcfg.to_dict() == cfg["train"]  # warm-up and EMA (no options) are the recipe's
    assert (args.kl_weight, args.balance_weight) == (cfg["kl_weight"], cfg["balance_weight"])


def test_the_shipped_prior_config_is_a_command_line() -> None:
    cfg = MANIFEST["prior"]["config"]
    dit = cfg["dit"]
    argv = ["train-prior", "--workdir", "w", *train_argv(cfg["train"])]
    argv += ["--dim", str(dit["dim"]), "--depth", str(dit["depth"]), "--heads", str(dit["heads"])]
    argv += [] if dit["increment"] else ["--full-latent"]
    net_cfg, tcfg = prior_configs(build_parser().parse_args(argv), dit["latent_channels"])
    assert net_cfg.to_dict() == dit
    assert tcfg.to_dict() == cfg["train"]


@pytest.mark.parametrize("command", ["train-vae", "train-prior"])
def test_command_line_defaults_are_the_recipe(command: str) -> None:
    recipe = Recipe()
    args = build_parser().parse_args([command, "--workdir", "w"])
    if command == "train-vae":
        vcfg, tcfg = vae_configs(args)
        assert vcfg == recipe.vae and tcfg == recipe.vae_train
        assert (args.kl_weight, args.balance_weight) == (recipe.kl_weight, recipe.balance_weight)
    else:
        net_cfg, tcfg = prior_configs(args, recipe.prior.latent_channels)
        assert net_cfg == recipe.prior and tcfg == recipe.prior_train
