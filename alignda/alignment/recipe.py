"""The alignment recipe: deltas per reward, selected by sampled rewards on validation.

Each trainer of a sweep (:class:`DPOTrainer`: Diffusion-DPO on preference pairs;
:class:`alignda.alignment.reward_tune.TuneTrainer`: the reward-gradient fine-tune) trains a
delta per kind with snapshots; each snapshot, alone and scaled, is judged by the guided
analyses it gives on held-out validation cases (:mod:`alignda.alignment.selection`), and the
best per kind is kept, whichever method made it. Every evaluation is cached in
``workdir/evaluations.json``, so a run that stops resumes where it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from alignda.alignment.dpo import DPOConfig, train_dpo
from alignda.alignment.preferences import Preferences
from alignda.alignment.rewards import Forecaster
from alignda.alignment.selection import ResultCache, evaluate, selection_score
from alignda.alignment.soup import RewardSoup, delta_digest
from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.score import SamplerSettings
from alignda.model.codec import LatentCodec
from alignda.obs.scenario import Scenario
from alignda.training.loop import TrainConfig
from alignda.world.model import WorldConfig


@dataclass(frozen=True)
class Setting:
    """One DPO setting of the sweep."""

    beta: float
    lr: float
    steps: int
    batch: int = 8
    snapshot_every: int = 100
    groups: int = 1

    @property
    def name(self) -> str:
        """Folder name."""
        tail = f"_g{self.groups}" if self.groups > 1 else ""
        return f"b{self.beta:g}_lr{self.lr:g}_s{self.steps}{tail}"

    @classmethod
    def from_spec(cls, spec: str, batch: int = 8, snapshot_every: int = 100) -> Setting:
        """The setting of a spec ``beta:lr:steps[:groups]`` (``align-select --settings``)."""
        beta, lr, steps, *groups = spec.split(":")
        g = int(groups[0]) if groups else 1
        return cls(float(beta), float(lr), int(steps), batch, snapshot_every, g)

    def config(self) -> DPOConfig:
        """The DPO config of this setting."""
        train = TrainConfig.snapshots(self.steps, self.batch, self.lr, self.snapshot_every)
        return DPOConfig(
            beta=self.beta, fraction=0.25, multi_fraction=0.5, groups=self.groups, train=train
        )


class DeltaTrainer(Protocol):
    """Trains one delta per kind, writing snapshots to ``folder/deltas`` (see
    :class:`alignda.alignment.soup.SnapshotWriter`)."""

    name: str
    kinds: tuple[str, ...]

    def train(self, ref: nn.Module, kind: str, folder: Path) -> None:
        """Train the ``kind`` delta of ``ref`` in ``folder`` (resumable)."""
        ...


class Announced:
    """A delta trainer that prints a line when each of its (silent) trainings starts and ends:
    the progress of a sweep (``alignda align-select``)."""

    def __init__(self, trainer: DeltaTrainer) -> None:
        self.trainer, self.name, self.kinds = trainer, trainer.name, trainer.kinds

    def train(self, ref: nn.Module, kind: str, folder: Path) -> None:
        """Train as the wrapped trainer does, announced."""
        print(f"training {self.name}/{kind} -> {folder}", flush=True)
        t0 = time.perf_counter()
        self.trainer.train(ref, kind, folder)
        print(f"trained {self.name}/{kind} in {time.perf_counter() - t0:.0f} s", flush=True)


class DPOTrainer:
    """Diffusion-DPO of one :class:`Setting` on a preference set (its last ``n_val``
    backgrounds held out for the implicit reward accuracy)."""

    def __init__(
        self, setting: Setting, prefs: Preferences, kinds: tuple[str, ...], n_val: int = 6
    ) -> None:
        self.setting, self.kinds, self.name = setting, kinds, setting.name
        self.train_p, self.val_p = split_preferences(prefs, n_val)

    def train(self, ref: nn.Module, kind: str, folder: Path) -> None:
        """Diffusion-DPO of the ``kind`` pairs with snapshots."""
        cfg = self.setting.config()
        train_dpo(ref, self.train_p, kind, cfg, folder, self.val_p, False, snapshots=True)


def split_preferences(prefs: Preferences, n_val: int) -> tuple[Preferences, Preferences]:
    """(training part, last ``n_val`` backgrounds) of a preference set."""
    if not 0 < n_val < len(prefs.zb):
        raise ValueError(f"n_val must be in 1..{len(prefs.zb) - 1}, got {n_val}")

    def part(s: slice) -> Preferences:
        rewards = {k: v[s] for k, v in prefs.rewards.items()}
        return Preferences(prefs.zb[s], prefs.z[s], rewards, prefs.times[s], prefs.config)

    return part(slice(None, -n_val)), part(slice(-n_val, None))


def select(
    ref: nn.Module,
    codec: LatentCodec,
    val_cases: list[Scenario],
    trainers: Sequence[DeltaTrainer],
    scale: np.ndarray,
    workdir: str | Path,
    sampler: SamplerSettings,
    delta_scales: tuple[float, ...] = (1.0,),
    shipped: dict[str, dict[str, torch.Tensor]] | None = None,
    log=print,
    hybrid: HybridEnVar | None = None,
    world: WorldConfig | None = None,
) -> dict:
    """Train, evaluate and pick the best delta per kind; returns (and writes) the selection.

    Every snapshot is judged as it is; the last one also times each of ``delta_scales``.
    A hybrid ``sampler`` judges with ``hybrid`` (its variational solve). ``world``: the
    truth's world of ``val_cases`` (its imperfect model forecasts; default v1).
    """
    workdir = Path(workdir)
    cache = ResultCache(workdir / "evaluations.json")
    forecaster = Forecaster(world)

    def judged(key: str, net: nn.Module) -> dict:
        def run() -> dict:
            t0 = time.perf_counter()
            figs = evaluate(net, codec, val_cases, sampler, scale, forecaster, hybrid)
            figs["seconds"] = time.perf_counter() - t0
            return figs

        out = cache.get(key, run)
        log(f"{key}: " + ", ".join(f"{k} {np.mean(v):.5g}" for k, v in out.items()))
        return out

    base = judged("unaligned", ref)
    kinds = tuple(dict.fromkeys(k for tr in trainers for k in tr.kinds))
    # keyed by content: a workdir reused after an export judges the new shipped deltas
    shipped_keys = {k: f"shipped/{k}/{delta_digest(d)}" for k, d in (shipped or {}).items()}
    if shipped:
        soup = RewardSoup(ref, shipped)
        for k in kinds:
            if k in shipped:
                judged(shipped_keys[k], soup.network({k: 1.0}))
    candidates: dict[str, list[tuple[float, str, Path, float]]] = {k: [] for k in kinds}
    for tr in trainers:
        for k in tr.kinds:
            folder = workdir / tr.name / k
            if not (folder / "done").exists():
                t0 = time.perf_counter()
                tr.train(ref, k, folder)
                (folder / "done").write_text(f"{time.perf_counter() - t0:.1f} s\n")
            snaps = sorted((folder / "deltas").glob("step_*.safetensors"))
            for snap in snaps:
                delta = load_file(str(snap))
                for c in delta_scales if snap == snaps[-1] else (1.0,):
                    key = f"{tr.name}/{k}/{snap.stem}/x{c:g}"
                    soup = RewardSoup(ref, {k: {n: c * v for n, v in delta.items()}})
                    figs = judged(key, soup.network({k: 1.0}))
                    candidates[k].append((selection_score(k, figs, base), key, snap, c))
    selection = {}
    for k, cands in candidates.items():
        score, key, snap, c = max(cands, key=lambda x: x[0])
        ship = cache.data.get(shipped_keys[k]) if k in shipped_keys else None
        selection[k] = {
            "key": key,
            "snapshot": str(snap),
            "scale": c,
            "score": score,
            "shipped_score": None if ship is None else selection_score(k, ship, base),
        }
        log(f"best {k}: {key} score {score:+.4f} (shipped {selection[k]['shipped_score']})")
    (workdir / "selection.json").write_text(json.dumps(selection, indent=1))
    return selection


def selected_deltas(selection: dict) -> dict[str, dict[str, torch.Tensor]]:
    """The chosen deltas (snapshot times scale) of a selection."""
    return {
        k: {n: s["scale"] * v for n, v in load_file(s["snapshot"]).items()}
        for k, s in selection.items()
    }


def save_selected(selection: dict, path: str | Path) -> Path:
    """The chosen deltas as one safetensors file ``<kind>.<param>`` (not registered)."""
    tensors = {
        f"{k}.{n}": v.contiguous()
        for k, d in selected_deltas(selection).items()
        for n, v in d.items()
    }
    save_file(tensors, str(path), metadata={"deltas": json.dumps(list(selection))})
    return Path(path)
