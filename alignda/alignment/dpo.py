"""Diffusion-DPO (Wallace et al. 2024) of the latent prior against its frozen reference.

:func:`train_dpo` fine-tunes a copy of the prior on preference pairs
(:mod:`alignda.alignment.preferences`); the result is stored as a delta theta - theta_ref,
which the reward soup (:mod:`alignda.alignment.soup`) mixes by user weights.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from alignda.alignment.preferences import Preferences, preference_pairs
from alignda.alignment.soup import SnapshotWriter, delta_of
from alignda.model.diffusion import SDACosineSchedule, add_noise
from alignda.training.loop import TrainConfig, train


def dpo_loss(
    model: nn.Module,
    ref: nn.Module,
    z_w: torch.Tensor,
    z_l: torch.Tensor,
    z_b: torch.Tensor,
    beta: float,
    gen: torch.Generator,
    schedule: SDACosineSchedule | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Diffusion-DPO loss and implicit reward accuracy of a batch of pairs.

    Same t and noise for winner and loser; L = -log sigmoid(-beta/2 [(e_w - e_w^ref) -
    (e_l - e_l^ref)]) with e the per-sample mean squared noise-prediction error.
    """
    schedule = schedule or SDACosineSchedule()
    b = z_w.shape[0]
    t = torch.rand(b, generator=gen)
    eps = torch.randn(z_w.shape, generator=gen)
    x = torch.cat([add_noise(z, t, eps, schedule) for z in (z_w, z_l)])
    tt, zb2, eps2 = torch.cat([t, t]), torch.cat([z_b, z_b]), torch.cat([eps, eps])

    def errors(net: nn.Module) -> torch.Tensor:
        e = ((net(x, tt, z_b=zb2) - eps2) ** 2).mean(dim=(1, 2, 3))
        return e[:b] - e[b:]

    with torch.no_grad():
        ref_diff = errors(ref)
    inside = -0.5 * beta * (errors(model) - ref_diff)
    return -nn.functional.logsigmoid(inside).mean(), (inside > 0).float().mean()


@dataclass(frozen=True)
class DPOConfig:
    """Diffusion-DPO settings (paper: beta 8000, lr 1e-5, 500 steps)."""

    beta: float = 8000.0
    fraction: float = 0.25
    #: The -M set needs a wider cut: few candidates are in the top quarter on all three rewards.
    multi_fraction: float = 0.375
    #: > 1: pairs only within equal blocks of candidates (see ``preference_pairs``).
    groups: int = 1
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=500, batch=16, lr=1e-5, warmup=20, val_every=50, save_every=100
        )
    )


def train_dpo(
    ref: nn.Module,
    prefs: Preferences,
    kind: str,
    cfg: DPOConfig,
    workdir: str | Path,
    val_prefs: Preferences | None = None,
    progress: bool = True,
    snapshots: bool = False,
) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Align a copy of ``ref`` on the ``kind`` pairs; returns (delta state, training log).

    ``snapshots``: also write the delta at every validation step to
    ``workdir/deltas/step_<n>.safetensors`` (for model selection by sampled rewards).
    """
    fraction = cfg.multi_fraction if kind == "multi" else cfg.fraction
    pairs = torch.from_numpy(preference_pairs(prefs.rewards, kind, fraction, cfg.groups))
    if len(pairs) == 0:
        raise ValueError(f"no {kind!r} preference pairs: sample more candidates")
    val_pairs = None
    if val_prefs is not None:
        val_pairs = torch.from_numpy(
            preference_pairs(val_prefs.rewards, kind, fraction, cfg.groups)
        )
    ref = ref.eval().requires_grad_(False)
    model = copy.deepcopy(ref).requires_grad_(True)

    def batch(p: Preferences, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, w, ell = idx.T
        return p.z[b, w], p.z[b, ell], p.zb[b]

    def loss(net: nn.Module, gen: torch.Generator) -> torch.Tensor:
        i = torch.randint(len(pairs), (cfg.train.batch,), generator=gen)
        return dpo_loss(net, ref, *batch(prefs, pairs[i]), cfg.beta, gen)[0]

    ref_state = ref.state_dict()
    writer = SnapshotWriter(workdir, cfg.train) if snapshots else None

    def val(net: nn.Module) -> dict[str, float]:
        out = {}
        if writer is not None:
            writer.write(delta_of(net, ref_state))
        for name, p, idx in (("train", prefs, pairs), ("val", val_prefs, val_pairs)):
            if idx is None or len(idx) == 0:
                continue
            idx = idx[:256]
            gen = torch.Generator().manual_seed(99)
            lo, acc = dpo_loss(net, ref, *batch(p, idx), cfg.beta, gen)
            out[f"{name}_dpo_loss"], out[f"{name}_reward_accuracy"] = float(lo), float(acc)
        return out

    log = train(model, loss, cfg.train, workdir, val_fn=val, progress=progress)
    return delta_of(model, ref_state), log
