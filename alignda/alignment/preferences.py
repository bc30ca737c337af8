"""Preference data: candidates of the reference prior scored by the three rewards.

:func:`generate_preferences` samples N candidates per training background from the reference
prior, decodes and scores them: ``obsfree`` samples, or (``guidance="dps"``) guided analyses
as the app samples them, in ``groups`` groups per background, each with its own random
observation network (density and seed) and guidance strength zeta, so that the candidates
differ in what the rewards measure. The candidates' latents are the sampler's own final
variable (:func:`guided_candidates`), not re-encoded decodes. Generation is resumable
(``partial``) and may stop on a time budget. :func:`preference_pairs` draws winners and
losers per reward ("-P": top-k vs bottom-k) or on all rewards at once ("-M": top fraction on
every reward vs bottom fraction on every reward).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from alignda.alignment.rewards import FORECAST_HOURS, REWARDS, Forecaster, all_rewards
from alignda.alignment.soup import DELTAS
from alignda.analysis.score import (
    SampleCodec,
    SamplerSettings,
    guided_denoiser,
    latent_sampler,
    uses_observations,
)
from alignda.checkpoints import safetensors_metadata
from alignda.model.codec import LatentCodec
from alignda.model.diffusion import EpsilonDenoiser
from alignda.model.prior import prior_denoiser
from alignda.obs.operator import Observations, observe_case
from alignda.world.cases import Cases

GUIDANCES = ("obsfree", "dps")


@dataclass(frozen=True)
class PreferenceConfig:
    """How candidates are sampled for the preference data."""

    candidates: int = 16
    backgrounds: int = 48
    steps: int = SamplerSettings().steps
    corrections: int = 1
    seed: int = 0
    guidance: str = "obsfree"
    #: dps: candidates per background are split into this many groups, each guided by its own
    #: random network (a density drawn from ``densities``, its own seed) and zeta.
    groups: int = 4
    densities: tuple[float, ...] = field(default=(0.005, 0.01, 0.02, 0.05))
    zetas: tuple[float, ...] = field(default=(0.5, 1.0, 2.0))

    def __post_init__(self) -> None:
        if self.candidates < 2:
            raise ValueError(f"need at least 2 candidates per background, got {self.candidates}")
        if self.backgrounds < 1:
            raise ValueError(f"need at least 1 background, got {self.backgrounds}")
        if self.guidance not in GUIDANCES:
            raise ValueError(f"guidance must be one of {GUIDANCES}, got {self.guidance!r}")
        if not 1 <= self.groups <= self.candidates:
            raise ValueError(f"groups must be in 1..candidates, got {self.groups}")
        if not self.densities or not all(0 < d <= 1 for d in self.densities):
            raise ValueError(f"densities must be fractions in (0, 1], got {self.densities}")
        if not self.zetas or not all(z >= 0 for z in self.zetas):
            raise ValueError(f"zetas must be >= 0, got {self.zetas}")


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


def guided_candidates(
    denoiser: EpsilonDenoiser,
    codec: LatentCodec,
    background: np.ndarray,
    obs: Observations | None,
    settings: SamplerSettings,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(sampler variables (M, c, h, w), background latent (1, c, h, w), decoded members).

    The same members as :func:`alignda.analysis.score.analyse` draws for these settings (same
    guidance, sampler and per-member generators; not the hybrid mode), plus the sampler's final
    variable: what the prior models and what Diffusion-DPO must score. Re-encoding the decoded
    members would give other latents (the encoder is not the decoder's exact inverse).
    """
    if not settings.latent:
        raise ValueError(f"guided_candidates samples the latent prior: not mode {settings.mode!r}")
    with torch.no_grad():
        zb = codec.encode(torch.as_tensor(np.asarray(background), dtype=torch.float32)[None])
    view = SampleCodec(codec, denoiser, zb)
    den = guided_denoiser(denoiser, view, obs, settings)
    sampler = latent_sampler(den, settings)
    shape = (settings.members, *zb.shape[1:])
    with torch.no_grad():
        x = sampler(sampler.init(shape), z_b=zb.expand(shape))
        return x, zb, view.decode(x).cpu().numpy()


def candidate_plan(cfg: PreferenceConfig, index: int) -> list[dict]:
    """The candidate groups of background ``index``: members, density, zeta, obs/noise seeds."""
    rng = np.random.default_rng([cfg.seed, index])
    sizes = np.diff(np.linspace(0, cfg.candidates, cfg.groups + 1).round().astype(int))
    return [
        {
            "members": int(m),
            "density": float(rng.choice(cfg.densities)),
            "zeta": float(rng.choice(cfg.zetas)),
            "obs_seed": int(rng.integers(2**31)),
            "seed": int(rng.integers(2**31)),
        }
        for m in sizes
    ]


def _sample_background(
    cases: Cases,
    t: np.datetime64,
    index: int,
    codec: LatentCodec,
    denoiser: EpsilonDenoiser,
    cfg: PreferenceConfig,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(background latent (c, h, w), candidates (N, c, h, w), decoded (N, C, H, W))."""
    background = cases.background_state(t)
    if not uses_observations(cfg.guidance):
        zb = codec.encode(torch.from_numpy(background)[None])
        shape = (cfg.candidates, *zb.shape[1:])
        prior = SamplerSettings(mode="obsfree", steps=cfg.steps, corrections=cfg.corrections)
        sampler = latent_sampler(denoiser, prior, generator=gen)  # one stream: all backgrounds
        z = sampler(sampler.init(shape), z_b=zb.expand(shape))
        return zb[0], z, codec.decode(denoiser.to_latent(z, zb)).numpy()
    truth = cases.truth_state(t)
    zs, xs = [], []
    for g in candidate_plan(cfg, index):
        obs = observe_case(truth, g["obs_seed"], density=g["density"])
        settings = SamplerSettings(
            mode=cfg.guidance,
            steps=cfg.steps,
            corrections=cfg.corrections,
            zeta=g["zeta"],
            members=g["members"],
            seed=g["seed"],
        )
        z, zb, x = guided_candidates(denoiser, codec, background, obs, settings)
        zs.append(z)
        xs.append(x)
    return zb[0], torch.cat(zs), np.concatenate(xs)


@torch.no_grad()
def generate_preferences(
    cases: Cases,
    codec: LatentCodec,
    net: nn.Module,
    stats_std: np.ndarray,
    cfg: PreferenceConfig,
    progress: bool = True,
    partial: str | Path | None = None,
    budget_s: float = float("inf"),
) -> Preferences:
    """Sample and score ``cfg.candidates`` candidates for evenly spaced backgrounds.

    Backgrounds without a truth 48 h later (end of a trajectory) are skipped. The backgrounds
    are visited in a seeded random order, so a run cut short still spreads over the
    trajectories. ``partial``: a file rewritten after every background and resumed from
    (same config); ``budget_s``: stop (with what is done) after the background that ends past
    this many seconds (at least one background is sampled per call).
    """
    times = [t for t in cases.times if cases.future_truth(t, FORECAST_HOURS) is not None]
    if not times:
        raise ValueError("no case has a truth 48 h later: cannot score forecasts")
    times = [times[i] for i in evenly_spaced(len(times), cfg.backgrounds)]
    order = np.random.default_rng(cfg.seed).permutation(len(times))
    denoiser = prior_denoiser(net)
    forecaster = Forecaster(cases.world, max(32, cfg.candidates))
    gen = torch.Generator().manual_seed(cfg.seed)
    config = {**asdict(cfg), "seconds_per_background": None}
    zbs, zs, ts, rewards = [], [], [], {k: [] for k in REWARDS}
    if partial is not None and Path(partial).exists():
        done = Preferences.load(partial)
        if {k: v for k, v in done.config.items() if k in asdict(cfg)} != json.loads(
            json.dumps(asdict(cfg))
        ):
            raise ValueError(f"{partial} was made with another config: {done.config}")
        zbs, zs, ts = list(done.zb), list(done.z), list(done.times)
        rewards = {k: list(done.rewards[k]) for k in REWARDS}
    t0, resumed = time.perf_counter(), len(ts)
    todo = order[len(ts) :]
    if not uses_observations(cfg.guidance):  # the shared generator: replay finished draws
        todo = order
    for i in tqdm(todo, desc="preference data", disable=not progress):
        t = times[i]
        zb, z, x = _sample_background(cases, t, int(i), codec, denoiser, cfg, gen)
        if not uses_observations(cfg.guidance) and any(t == s for s in ts):
            continue
        r = all_rewards(
            x, cases.truth_state(t), cases.future_truth(t, FORECAST_HOURS), stats_std, forecaster
        )
        zbs.append(zb)
        zs.append(z)
        ts.append(t)
        for k in REWARDS:
            rewards[k].append(r[k])
        new = max(1, len(ts) - resumed)
        config["seconds_per_background"] = (time.perf_counter() - t0) / new
        if partial is not None:
            _stack(zbs, zs, rewards, ts, config).save(partial)
        if time.perf_counter() - t0 > budget_s:
            break
    return _stack(zbs, zs, rewards, ts, config)


def _stack(zbs, zs, rewards, ts, config) -> Preferences:
    return Preferences(
        torch.stack(zbs),
        torch.stack(zs),
        {k: np.stack(v) for k, v in rewards.items()},
        np.array(ts, dtype="datetime64[ns]"),
        dict(config),
    )


def preference_pairs(
    rewards: Mapping[str, np.ndarray], kind: str, fraction: float = 0.25, groups: int = 1
) -> np.ndarray:
    """Winner/loser pairs (P, 3) of (background, winner, loser) indices, de-duplicated.

    ``kind`` is a reward name (-P: the top ``fraction`` of candidates by that reward vs the
    bottom ``fraction``) or ``"multi"`` (-M: candidates in the top ``fraction`` on every reward
    vs those in the bottom ``fraction`` on every reward). ``groups > 1``: candidates are ranked
    only within each of that many equal consecutive blocks (e.g. the candidates guided by one
    observation network), so that pairs do not merely prefer the denser network.
    """
    if groups > 1:
        n = np.shape(next(iter(rewards.values())))[1]
        if n % groups:
            raise ValueError(f"{n} candidates do not split into {groups} equal groups")
        size = n // groups
        blocks = [
            preference_pairs(
                {k: np.asarray(v)[:, g * size : (g + 1) * size] for k, v in rewards.items()},
                kind,
                fraction,
            )
            + np.array([0, g * size, g * size])
            for g in range(groups)
        ]
        return np.unique(np.concatenate(blocks), axis=0).reshape(-1, 3)
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
