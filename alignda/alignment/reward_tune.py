"""Reward-gradient fine-tuning of the latent prior (ReFL / DRaFT style), beside Diffusion-DPO.

The three rewards are differentiable here, as their terms
(:data:`alignda.alignment.rewards.REWARD_DEFINITIONS`): the analysis error against the truth,
the geostrophic deviation behind the Geo-Score, and the 48 h forecast error through the
differentiable world model. One training step:

1. the network's own sampler (with a step count drawn from ``schedules``) runs from noise
   down to a random step t in [``t_min``, ``t_max``], without gradients (on-policy states
   x_t): obsfree, or guided (``sampler.mode``, e.g. DPS) by a random network at ``density``
   drawn per state, like the app's analyses (the guided deltas won every reward on
   validation). Tuned on one step count only, a delta learns that schedule's states: the
   shipped deltas, tuned at 32 steps, lose 5-34 % MSE at 16 (all but accuracy and -M);
2. the network's denoised estimate x_hat(x_t) is decoded to a physical state and scored; the
   reward's gradient flows through the decoder into the network (one evaluation, as ReFL).
   Every guidance mode reads the prior through x_hat at every step, so x_hat is what a
   guided analysis is built from;
3. each reward term is divided by the frozen reference network's value on the same x_t
   (scale-free: at most 1 at the start, so the kinds mix in ``multi``), and a denoising term on
   the (background, truth) pairs (``anchor``) keeps the network a prior.

The hybrid (the default mode) reads the prior through its first guess only; its deltas are
tuned through that first guess and the variational solve instead of step 1-2
(:mod:`alignda.alignment.hybrid_tune`, ``sampler.mode="hybrid"``).

The result is a delta theta - theta_ref, like Diffusion-DPO's, mixed by the same reward soup.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from azula.denoise import Denoiser
from torch import nn

from alignda.alignment.hybrid_tune import TUNE_DRAWS, hybrid_analyses
from alignda.alignment.rewards import (
    FORECAST_HOURS,
    REWARD_DEFINITIONS,
    REWARDS,
    Forecaster,
    TermCase,
)
from alignda.alignment.soup import DELTAS, SnapshotWriter, delta_of
from alignda.analysis.score import (
    SampleCodec,
    SamplerSettings,
    guided_denoiser,
    latent_sampler,
    uses_observations,
)
from alignda.analysis.threedvar import ThreeDVar
from alignda.model.codec import LatentCodec
from alignda.model.diffusion import denoising_loss
from alignda.model.prior import prior_denoiser
from alignda.obs.networks import DEFAULT_DENSITY
from alignda.obs.operator import Observations, observe_case
from alignda.training.loop import TrainConfig, train
from alignda.world.cases import Cases
from alignda.world.model import WorldConfig
from alignda.world.shock import height_tendency


@dataclass(frozen=True)
class TuneConfig:
    """Reward-gradient fine-tune settings."""

    #: Weight of the denoising loss on the (background, truth) pairs (0: rewards only).
    anchor: float = 1.0
    #: The scored step is drawn uniformly among the sampler's steps with t_min <= t <= t_max.
    #: The high-noise estimates set where the ensemble goes (its mean: the accuracy term moves
    #: there), the later ones its details; above 0.9, x_hat divides eps by alpha_t < 0.03 and
    #: its gradients would swamp the rest (alpha_1 ~ 1e-3).
    t_min: float = 0.3
    t_max: float = 0.9
    #: The rollouts: the app's sampler, obsfree or guided (its step count: validation), or
    #: the hybrid (its first guess through the variational solve; needs the 3D-Var B).
    sampler: SamplerSettings = field(default_factory=lambda: SamplerSettings(mode="obsfree"))
    #: Random observation density of guided rollouts (a fresh network per state and step).
    density: float = DEFAULT_DENSITY
    #: Step counts the training rollouts draw from (the app offers 4-256; default 32).
    schedules: tuple[int, ...] = (16, 32, 64)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=200, batch=4, lr=1e-5, warmup=20, val_every=50, save_every=50
        )
    )

    def __post_init__(self) -> None:
        if self.anchor < 0:
            raise ValueError(f"anchor must be >= 0, got {self.anchor}")
        if not 0.0 <= self.t_min <= self.t_max <= 1.0:
            raise ValueError(f"need 0 <= t_min <= t_max <= 1, got {self.t_min}, {self.t_max}")
        if not 0.0 < self.density <= 1.0:
            raise ValueError(f"density must be in (0, 1], got {self.density}")
        if not self.schedules or min(self.schedules) < 1:
            raise ValueError(f"schedules must be positive step counts, got {self.schedules}")
        for n in {self.sampler.steps, *self.schedules}:
            self.scored_steps(n)

    def scored_steps(self, steps: int | None = None) -> torch.Tensor:
        """Indices of the steps of a ``steps``-step sampler (default: ``sampler.steps``) whose
        t is in [t_min, t_max] (the steps run before the scored estimate)."""
        steps = steps or self.sampler.steps
        times = torch.linspace(1.0, 0.0, steps + 1)[:-1]
        allowed = torch.nonzero((times >= self.t_min) & (times <= self.t_max)).flatten()
        if len(allowed) == 0:
            raise ValueError(
                f"no step of a {steps}-step sampler has t in [{self.t_min}, {self.t_max}]"
            )
        return allowed


class TuneData:
    """Training states as tensors: background and truth latents, truth, truth 48 h later, and
    the truth's geostrophic deviation (cases without a truth 48 h later are left out)."""

    def __init__(self, cases: Cases, codec: LatentCodec, limit: int | None = None) -> None:
        future = {t: cases.future_truth(t, FORECAST_HOURS) for t in cases.times}
        times = [t for t, f in future.items() if f is not None]
        if limit is not None:
            times = [times[i] for i in np.linspace(0, len(times) - 1, limit).round().astype(int)]
        if not times:
            raise ValueError(f"no case has a truth {FORECAST_HOURS} h later")

        def stack(f) -> torch.Tensor:
            return torch.from_numpy(np.stack([f(t) for t in times]).astype(np.float32))

        self.truth = stack(cases.truth_state)
        self.background = stack(cases.background_state)
        self.future = stack(future.get)
        with torch.no_grad():
            self.zb = torch.cat([codec.encode(b) for b in self.background.split(32)])
            self.z = torch.cat([codec.encode(x) for x in self.truth.split(32)])
        #: The truth's world (its imperfect model forecasts and measures the balance).
        self.world = cases.world
        self.shock_truth = height_tendency(self.truth, world=self.world)

    def __len__(self) -> int:
        return len(self.truth)


class RewardTerms:
    """The differentiable reward terms (lower is better) of decoded states of cases ``idx`` of
    a :class:`TuneData`, per state (B,): the terms of
    :data:`alignda.alignment.rewards.REWARD_DEFINITIONS`."""

    #: Smallest reference value a term is divided by (a batch already as balanced as its
    #: truth has a physics term of 0).
    FLOOR = 1e-2

    def __init__(self, scale: np.ndarray, world: WorldConfig | None = None) -> None:
        self.scale = np.asarray(scale)
        self.forecaster = Forecaster(world)

    def __call__(
        self, kind: str, states: torch.Tensor, data: TuneData, idx: torch.Tensor
    ) -> torch.Tensor:
        """The term of ``kind`` (accuracy, forecast or physics) for states of cases ``idx``."""
        if kind not in REWARD_DEFINITIONS:
            raise ValueError(f"unknown reward term {kind!r}")
        case = TermCase(
            data.truth[idx], data.future[idx], data.shock_truth[idx], self.scale, self.forecaster
        )
        return REWARD_DEFINITIONS[kind].term(states, case)


def _rollout(
    den: Denoiser, zb: torch.Tensor, stop: int, settings: SamplerSettings, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    sampler = latent_sampler(den, settings, generator=gen)
    pairs = sampler.timesteps.unfold(0, 2, 1)
    with torch.no_grad():  # guidance takes its own gradients inside
        x = sampler.init(zb.shape)
        for t, s in pairs[:stop]:
            x = sampler.step(x, t, s, z_b=zb)
    return x, sampler.timesteps[stop]


def onpolicy_state(
    net: nn.Module,
    zb: torch.Tensor,
    stop: int,
    settings: SamplerSettings,
    gen: torch.Generator,
    codec: LatentCodec | None = None,
    obs: list[Observations] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, t): the network's sampler run from noise for ``stop`` of its steps, no gradient;
    guided by ``obs`` (one per row of ``zb``, through ``codec``) unless ``settings`` is obsfree."""
    den = prior_denoiser(net)
    if not settings.observed:
        return _rollout(den, zb, stop, settings, gen)
    if codec is None or obs is None or len(obs) != len(zb):
        raise ValueError(f"a {settings.mode} rollout needs the codec and one obs set per state")
    rows = []
    for i, o in enumerate(obs):
        view = SampleCodec(codec, den, zb[i : i + 1])
        x, t = _rollout(guided_denoiser(den, view, o, settings), zb[i : i + 1], stop, settings, gen)
        rows.append(x)
    return torch.cat(rows), t


def decoded_estimate(
    net: nn.Module, codec: LatentCodec, x_t: torch.Tensor, t: torch.Tensor, zb: torch.Tensor
) -> torch.Tensor:
    """The network's denoised estimate x_hat(x_t) at time ``t``, decoded to physical states."""
    den = prior_denoiser(net)
    return codec.decode(den.to_latent(den(x_t, t.expand(len(x_t)), z_b=zb).mean, zb))


def tune_loss(
    net: nn.Module,
    ref: nn.Module,
    codec: LatentCodec,
    data: TuneData,
    terms: RewardTerms,
    kind: str,
    cfg: TuneConfig,
    gen: torch.Generator,
    idx: torch.Tensor | None = None,
    stops: torch.Tensor | None = None,
    threedvar: ThreeDVar | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one batch (reward ratios to the reference + anchor) and its parts.

    ``idx`` (cases) and ``stops`` (steps run before scoring, of a ``cfg.sampler.steps``-step
    sampler) are drawn from ``gen`` unless given (fixed ones give a validation figure); drawn
    stops come with a step count drawn from ``cfg.schedules``. The hybrid's states are its
    analyses (``threedvar``: the 3D-Var of its solve).
    """
    if kind not in DELTAS:
        raise ValueError(f"unknown kind {kind!r}; choose from {DELTAS}")
    b = cfg.train.batch
    if idx is None:
        idx = torch.randint(len(data), (b,), generator=gen)
    sampler = cfg.sampler
    if stops is None:
        n = cfg.schedules[int(torch.randint(len(cfg.schedules), (1,), generator=gen))]
        sampler = replace(sampler, steps=n)
        allowed = cfg.scored_steps(n)
        stops = allowed[torch.randint(len(allowed), (1,), generator=gen)]
    zb = data.zb[idx]
    obs = None
    if sampler.observed:
        seeds = torch.randint(2**31 - 1, (len(idx),), generator=gen).tolist()
        obs = [
            observe_case(data.truth[i].numpy(), seed, density=cfg.density)
            for i, seed in zip(idx.tolist(), seeds, strict=True)
        ]
    if sampler.latent:
        x_t, t = onpolicy_state(net, zb, int(stops[0]), sampler, gen, codec, obs)

        def scored(n: nn.Module) -> torch.Tensor:
            return decoded_estimate(n, codec, x_t, t, zb)
    else:
        if threedvar is None or obs is None:
            raise ValueError("a hybrid fine-tune needs the 3D-Var B (threedvar)")
        eps = torch.randn((len(idx), TUNE_DRAWS, *zb.shape[1:]), generator=gen)

        def scored(n: nn.Module) -> torch.Tensor:
            return hybrid_analyses(n, codec, threedvar, data.background[idx], zb, obs, eps)

    names = REWARDS if kind == "multi" else (kind,)
    with torch.no_grad():
        ref_states = scored(ref)
        ref_terms = {
            n: terms(n, ref_states, data, idx).mean().clamp_min(terms.FLOOR) for n in names
        }
    states = scored(net)
    ratios = {n: terms(n, states, data, idx).mean() / ref_terms[n] for n in names}
    loss = sum(ratios.values()) / len(ratios)
    parts = {f"{n}_ratio": float(r.detach()) for n, r in ratios.items()}
    if cfg.anchor > 0:
        den = prior_denoiser(net)
        anchor = denoising_loss(net, den.from_latent(data.z[idx], zb), den.schedule, gen, z_b=zb)
        loss = loss + cfg.anchor * anchor
        parts["anchor"] = float(anchor.detach())
    return loss, parts


def reward_tune(
    ref: nn.Module,
    codec: LatentCodec,
    data: TuneData,
    scale: np.ndarray,
    kind: str,
    cfg: TuneConfig,
    workdir: str | Path,
    val_data: TuneData | None = None,
    progress: bool = True,
    threedvar: ThreeDVar | None = None,
) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Fine-tune a copy of ``ref`` on the ``kind`` reward; returns (delta state, training log).
    A hybrid fine-tune (``cfg.sampler``) needs ``threedvar``.

    A delta snapshot is written at every validation step to ``workdir/deltas`` (for model
    selection by sampled rewards); with ``val_data``, the log holds the reward ratios on a
    fixed validation batch (the learning curve). Resumable like every training run.
    """
    ref = ref.eval().requires_grad_(False)
    model = copy.deepcopy(ref).requires_grad_(True)
    codec = codec.eval().requires_grad_(False)
    terms = RewardTerms(scale, data.world)
    ref_state = ref.state_dict()
    snapshots = SnapshotWriter(workdir, cfg.train)

    def loss(net: nn.Module, gen: torch.Generator) -> torch.Tensor:
        return tune_loss(net, ref, codec, data, terms, kind, cfg, gen, threedvar=threedvar)[0]

    def val(net: nn.Module) -> dict[str, float]:
        snapshots.write(delta_of(net, ref_state))
        if val_data is None:
            return {}
        n = min(len(val_data), cfg.train.batch)
        idx = torch.from_numpy(np.linspace(0, len(val_data) - 1, n).round().astype(np.int64))
        allowed = cfg.scored_steps()
        stop = allowed[len(allowed) // 2 : len(allowed) // 2 + 1]  # a mid noise level
        gen = torch.Generator().manual_seed(99)
        _, parts = tune_loss(net, ref, codec, val_data, terms, kind, cfg, gen, idx, stop, threedvar)
        return {f"val_{k}": v for k, v in parts.items()}

    log = train(model, loss, cfg.train, workdir, val_fn=val, progress=progress)
    return delta_of(model, ref_state), log


@dataclass(frozen=True)
class TuneSetting:
    """One reward-gradient setting of the sweep."""

    lr: float
    steps: int
    anchor: float = 1.0
    batch: int = 4
    snapshot_every: int = 50
    t_min: float = 0.3
    t_max: float = 0.9
    schedules: tuple[int, ...] = (16, 32, 64)
    #: Rollouts: obsfree, or a guidance mode at 1 % random observations; or the hybrid.
    mode: str = "obsfree"

    @property
    def name(self) -> str:
        """Folder name (``_n16-32-64``: the step counts of the rollouts, unless only 32;
        ``_dps``: guided rollouts, ``_hybrid``: the hybrid's; ``_t0.1``: scored from t 0.1,
        not 0.3)."""
        tail = "" if self.schedules == (32,) else "_n" + "-".join(map(str, self.schedules))
        tail += f"_{self.mode}" if uses_observations(self.mode) else ""
        tail += "" if self.t_min == 0.3 else f"_t{self.t_min:g}"
        return f"tune_lr{self.lr:g}_s{self.steps}_a{self.anchor:g}{tail}"

    @classmethod
    def from_spec(cls, spec: str, **fields) -> tuple[TuneSetting, tuple[str, ...] | None]:
        """The setting of a spec ``lr:steps:anchor[:kind+kind]`` (``align-select --tune``; the
        other fields as given) and the kinds it names (None: none named)."""
        lr, steps, anchor, *only = spec.split(":")
        kinds = tuple(only[0].split("+")) if only else None
        return cls(float(lr), int(steps), float(anchor), **fields), kinds

    def config(self) -> TuneConfig:
        """The fine-tune config of this setting."""
        train = TrainConfig.snapshots(self.steps, self.batch, self.lr, self.snapshot_every)
        return TuneConfig(
            anchor=self.anchor,
            t_min=self.t_min,
            t_max=self.t_max,
            sampler=SamplerSettings(mode=self.mode),
            schedules=self.schedules,
            train=train,
        )


class TuneTrainer:
    """The reward-gradient fine-tune of one :class:`TuneSetting` as a delta trainer of the
    alignment recipe (:func:`alignda.alignment.recipe.select`)."""

    def __init__(
        self,
        setting: TuneSetting,
        codec: LatentCodec,
        data: TuneData,
        scale: np.ndarray,
        kinds: tuple[str, ...],
        val_data: TuneData | None = None,
        threedvar: ThreeDVar | None = None,
    ) -> None:
        self.setting, self.codec, self.data, self.scale = setting, codec, data, scale
        self.kinds, self.val_data, self.name = kinds, val_data, setting.name
        self.threedvar = threedvar

    def train(self, ref: nn.Module, kind: str, folder: Path) -> None:
        """Fine-tune the ``kind`` delta with snapshots."""
        data, cfg = self.data, self.setting.config()
        args = (ref, self.codec, data, self.scale, kind, cfg, folder, self.val_data, False)
        reward_tune(*args, threedvar=self.threedvar)
