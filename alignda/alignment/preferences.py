"""Preference data: candidates of the reference prior scored by the three rewards.

:func:`generate_preferences` samples N ``obsfree`` candidates per training background from the
reference prior, decodes and scores them; :func:`preference_pairs` draws winners and losers
per reward ("-P": top-k vs bottom-k) or on all rewards at once ("-M": top fraction on every
reward vs bottom fraction on every reward).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from alignda.alignment.rewards import FORECAST_HOURS, REWARDS, Forecaster, all_rewards
from alignda.alignment.soup import DELTAS
from alignda.checkpoints import (
    safetensors_metadata,
)
from alignda.model.codec import LatentCodec
from alignda.model.diffusion import AncestralPCSampler, EpsilonDenoiser, SDACosineSchedule
from alignda.world.cases import Cases


@dataclass(frozen=True)
class PreferenceConfig:
    """How candidates are sampled for the preference data."""

    candidates: int = 16
    backgrounds: int = 48
    steps: int = 32
    corrections: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.candidates < 2:
            raise ValueError(f"need at least 2 candidates per background, got {self.candidates}")
        if self.backgrounds < 1:
            raise ValueError(f"need at least 1 background, got {self.backgrounds}")


@dataclass
class Preferences:
    """Scored candidates: background latents (B, c, h, w), candidate latents (B, N, c, h, w),
    rewards per name (B, N) and the analysis times (B,)."""

    zb: torch.Tensor
    z: torch.Tensor
    rewards: dict[str, np.ndarray]
    times: np.ndarray
    config: dict

    def save(self, path: str | Path) -> Path:
        """Write to safetensors."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"zb": self.zb.contiguous(), "z": self.z.contiguous()}
        tensors.update(
            {
                f"reward.{k}": torch.from_numpy(np.ascontiguousarray(v))
                for k, v in self.rewards.items()
            }
        )
        tensors["times"] = torch.from_numpy(self.times.astype("datetime64[ns]").astype(np.int64))
        save_file(tensors, str(path), metadata={"config": json.dumps(self.config)})
        return path

    @classmethod
    def load(cls, path: str | Path) -> Preferences:
        """Read what :meth:`save` wrote."""
        config = safetensors_metadata(path, "config", "a preference-data file")
        t = load_file(str(path))
        rewards = {k[7:]: v.numpy() for k, v in t.items() if k.startswith("reward.")}
        times = t["times"].numpy().astype("datetime64[ns]")
        return cls(t["zb"], t["z"], rewards, times, config)


def evenly_spaced(n_total: int, n: int) -> np.ndarray:
    """n indices spread evenly over range(n_total)."""
    return np.unique(np.linspace(0, n_total - 1, min(n, n_total)).round().astype(int))


@torch.no_grad()
def generate_preferences(
    cases: Cases,
    codec: LatentCodec,
    net: nn.Module,
    stats_std: np.ndarray,
    cfg: PreferenceConfig,
    progress: bool = True,
) -> Preferences:
    """Sample and score ``cfg.candidates`` obsfree candidates for evenly spaced backgrounds.

    Backgrounds without a truth 48 h later (end of a trajectory) are skipped.
    """
    times = [t for t in cases.times if cases.future_truth(t, FORECAST_HOURS) is not None]
    if not times:
        raise ValueError("no case has a truth 48 h later: cannot score forecasts")
    times = [times[i] for i in evenly_spaced(len(times), cfg.backgrounds)]
    denoiser = EpsilonDenoiser(net, SDACosineSchedule())
    forecaster = Forecaster()
    gen = torch.Generator().manual_seed(cfg.seed)
    zbs, zs, rewards = [], [], {k: [] for k in REWARDS}
    for t in tqdm(times, desc="preference data", disable=not progress):
        zb = codec.encode(torch.from_numpy(cases.background_state(t))[None])
        shape = (cfg.candidates, *zb.shape[1:])
        sampler = AncestralPCSampler(
            denoiser, steps=cfg.steps, corrections=cfg.corrections, generator=gen, silent=True
        )
        z = sampler(sampler.init(shape), z_b=zb.expand(shape))
        r = all_rewards(
            codec.decode(denoiser.to_latent(z, zb)).numpy(),
            cases.truth_state(t),
            cases.future_truth(t, FORECAST_HOURS),
            stats_std,
            forecaster,
        )
        zbs.append(zb[0])
        zs.append(z)
        for k in REWARDS:
            rewards[k].append(r[k])
    return Preferences(
        torch.stack(zbs),
        torch.stack(zs),
        {k: np.stack(v) for k, v in rewards.items()},
        np.array(times),
        asdict(cfg),
    )


def preference_pairs(
    rewards: Mapping[str, np.ndarray], kind: str, fraction: float = 0.25
) -> np.ndarray:
    """Winner/loser pairs (P, 3) of (background, winner, loser) indices, de-duplicated.

    ``kind`` is a reward name (-P: the top ``fraction`` of candidates by that reward vs the
    bottom ``fraction``) or ``"multi"`` (-M: candidates in the top ``fraction`` on every reward
    vs those in the bottom ``fraction`` on every reward).
    """
    if kind not in DELTAS:
        raise ValueError(f"unknown preference kind {kind!r}; choose one of {DELTAS}")
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}")
    names = REWARDS if kind == "multi" else (kind,)
    arrays = [np.asarray(rewards[k], dtype=np.float64) for k in names]
    n_bg, n = arrays[0].shape
    k = max(1, int(round(fraction * n)))
    pairs = set()
    for b in range(n_bg):
        ranks = [np.argsort(np.argsort(-a[b])) for a in arrays]  # 0 = best
        top = np.all([r < k for r in ranks], axis=0).nonzero()[0]
        bottom = np.all([r >= n - k for r in ranks], axis=0).nonzero()[0]
        for w in top:
            for ell in bottom:
                if all(a[b, w] > a[b, ell] for a in arrays):
                    pairs.add((b, int(w), int(ell)))
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 3)
