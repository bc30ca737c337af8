"""Reward alignment of the latent prior: preference data, Diffusion-DPO, the reward soup.

1. :func:`generate_preferences`: for each training background, N candidates sampled
   ``obsfree`` from the reference prior, decoded and scored with the three rewards.
2. :func:`preference_pairs`: winners/losers per reward ("-P": top-k vs bottom-k) or on all
   rewards at once ("-M": top fraction on every reward vs bottom fraction on every reward).
3. :func:`train_dpo`: Diffusion-DPO (Wallace et al. 2024) of a copy of the prior against the
   frozen reference; the result is stored as a delta theta - theta_ref.
4. :class:`RewardSoup`: theta = theta_ref + sum_i w_i delta_i for user weights w (normalised;
   all zero = the unaligned prior): a standalone network copy with theta(w) loaded, made in
   milliseconds (the reference is never modified; copies can run in parallel threads).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from alignda.alignment.rewards import FORECAST_HOURS, REWARDS, Forecaster, all_rewards
from alignda.checkpoints import (
    CheckpointError,
    read_manifest,
    register,
    resolve,
    safetensors_metadata,
)
from alignda.model.codec import LatentCodec
from alignda.model.diffusion import AncestralPCSampler, EpsilonDenoiser, SDACosineSchedule, _expand
from alignda.paths import CHECKPOINT_DIR
from alignda.training.loop import TrainConfig, train
from alignda.world.cases import Cases

#: Names of the shipped deltas: one per reward (-P models) and the multi-reward "-M" model.
DELTAS = (*REWARDS, "multi")
#: Weight presets offered to users (weights over :data:`DELTAS`).
PRESETS: dict[str, dict[str, float]] = {
    "unaligned": {},
    "accuracy": {"accuracy": 1.0},
    "forecast": {"forecast": 1.0},
    "physics": {"physics": 1.0},
    "balanced": {"accuracy": 1.0, "forecast": 1.0, "physics": 1.0},
    "paper -M": {"multi": 1.0},
}


# --- preference data ------------------------------------------------------------------------
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


# --- Diffusion-DPO --------------------------------------------------------------------------
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
    alpha, sigma = schedule(t)
    x = torch.cat([_expand(alpha, z_w) * z + _expand(sigma, z_w) * eps for z in (z_w, z_l)])
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
) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Align a copy of ``ref`` on the ``kind`` pairs; returns (delta state, training log)."""
    fraction = cfg.multi_fraction if kind == "multi" else cfg.fraction
    pairs = torch.from_numpy(preference_pairs(prefs.rewards, kind, fraction))
    if len(pairs) == 0:
        raise ValueError(f"no {kind!r} preference pairs: sample more candidates")
    val_pairs = None
    if val_prefs is not None:
        val_pairs = torch.from_numpy(preference_pairs(val_prefs.rewards, kind, fraction))
    ref = ref.eval().requires_grad_(False)
    model = copy.deepcopy(ref).requires_grad_(True)

    def batch(p: Preferences, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, w, ell = idx.T
        return p.z[b, w], p.z[b, ell], p.zb[b]

    def loss(net: nn.Module, gen: torch.Generator) -> torch.Tensor:
        i = torch.randint(len(pairs), (cfg.train.batch,), generator=gen)
        return dpo_loss(net, ref, *batch(prefs, pairs[i]), cfg.beta, gen)[0]

    def val(net: nn.Module) -> dict[str, float]:
        out = {}
        for name, p, idx in (("train", prefs, pairs), ("val", val_prefs, val_pairs)):
            if idx is None or len(idx) == 0:
                continue
            idx = idx[:256]
            gen = torch.Generator().manual_seed(99)
            lo, acc = dpo_loss(net, ref, *batch(p, idx), cfg.beta, gen)
            out[f"{name}_dpo_loss"], out[f"{name}_reward_accuracy"] = float(lo), float(acc)
        return out

    log = train(model, loss, cfg.train, workdir, val_fn=val, progress=progress)
    ref_state = ref.state_dict()
    delta = {k: (v - ref_state[k]).detach() for k, v in model.state_dict().items()}
    return delta, log


# --- user weights: the reward soup ----------------------------------------------------------
def normalise_weights(
    weights: Mapping[str, float] | Sequence[float] | None, names: Sequence[str] = DELTAS
) -> dict[str, float]:
    """Validated weights over ``names`` summing to 1 (all zero -> all zero = unaligned).

    A sequence gives the weights in the order of ``names`` (its length must be
    ``len(names)``, or 3 for accuracy/forecast/physics); a mapping may name a subset.
    """
    if weights is None:
        weights = {}
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(f"unknown reward weight(s) {unknown}; known: {list(names)}")
        w = {k: weights.get(k, 0.0) for k in names}
    else:
        seq = list(weights)
        if len(seq) not in (len(names), len(REWARDS)):
            raise ValueError(
                f"expected {len(REWARDS)} weights {list(REWARDS)} or {len(names)} "
                f"{list(names)}, got {len(seq)}"
            )
        w = dict(zip(names, seq + [0.0] * (len(names) - len(seq)), strict=True))
    out = {}
    for k, v in w.items():
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"weight {k!r} must be a number, got {v!r}") from None
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"weight {k!r} must be finite and >= 0, got {v}")
        out[k] = v
    total = sum(out.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in out.items()}


class RewardSoup:
    """theta_ref + sum_i w_i delta_i for user reward weights, computed on the reference module."""

    def __init__(self, ref: nn.Module, deltas: Mapping[str, Mapping[str, torch.Tensor]]):
        self.ref = ref.eval().requires_grad_(False)
        self.names = tuple(deltas)
        self.ref_state = {k: v.detach() for k, v in ref.state_dict().items()}
        self.deltas = {
            n: {k: d[k].to(self.ref_state[k].dtype) for k in self.ref_state}
            for n, d in deltas.items()
        }

    def parameters_for(self, weights) -> dict[str, torch.Tensor]:
        """Parameters theta(w) for weights (see :func:`normalise_weights`)."""
        w = normalise_weights(weights, self.names)
        active = [(self.deltas[n], x) for n, x in w.items() if x > 0]
        if not active:
            return self.ref_state
        return {k: v + sum(x * d[k] for d, x in active) for k, v in self.ref_state.items()}

    def network(self, weights) -> nn.Module:
        """A standalone copy of the network with theta(w) (milliseconds; safe across threads)."""
        net = copy.deepcopy(self.ref)
        net.load_state_dict(self.parameters_for(weights))
        return net


# --- export / load --------------------------------------------------------------------------
def export_deltas(
    deltas: Mapping[str, Mapping[str, torch.Tensor]],
    name: str = "aligned",
    out: str | Path = CHECKPOINT_DIR,
    **manifest,
) -> Path:
    """Write the deltas as float16 safetensors (``<delta>.<param>``) and register them.

    The manifest config names the prior they belong to (``prior_sha256``): the one given in
    ``config``, else the prior registered in ``out`` (if any).
    """
    path = Path(out) / f"{name}.safetensors"
    config = dict(manifest.pop("config", None) or {})
    prior = read_manifest(out).get("prior")
    if "prior_sha256" not in config and prior is not None:
        config["prior_sha256"] = prior["sha256"]
    tensors = {
        f"{n}.{k}": v.to(torch.float16).contiguous()
        for n, d in deltas.items()
        for k, v in d.items()
    }
    save_file(tensors, str(path), metadata={"deltas": json.dumps(list(deltas))})
    register(name, path, directory=out, config=config, **manifest)
    return path


def load_deltas(
    name: str = "aligned", directory: str | Path = CHECKPOINT_DIR
) -> dict[str, dict[str, torch.Tensor]]:
    """The registered deltas (sha256-checked), float32.

    Where the folder also registers a prior, the deltas must name its sha256 (``prior_sha256``
    in their manifest config, written by ``alignda align``): deltas of another prior are
    refused, never mixed in.
    """
    path = resolve(name, directory)
    manifest = read_manifest(directory)
    if "prior" in manifest:
        theirs = manifest[name].get("config", {}).get("prior_sha256")
        ours = manifest["prior"]["sha256"]
        if theirs != ours:
            raise CheckpointError(
                f"{path.name} was aligned on prior {str(theirs)[:12]}, but the prior in "
                f"{directory} is {ours[:12]}: re-run `python -m alignda preferences` and "
                "`python -m alignda align` on this prior"
            )
    names = safetensors_metadata(path, "deltas", "a file of aligned deltas")
    out: dict[str, dict[str, torch.Tensor]] = {str(n): {} for n in names}
    for key, v in load_file(str(path)).items():
        n, _, k = key.partition(".")
        if n not in out or not k:
            raise CheckpointError(f"{path}: tensor {key!r} belongs to none of the deltas {names}")
        out[n][k] = v.float()
    return out


def load_soup(directory: str | Path = CHECKPOINT_DIR) -> RewardSoup:
    """The shipped prior with its shipped deltas."""
    from alignda.model.prior import load_prior

    return RewardSoup(load_prior(directory=directory), load_deltas(directory=directory))
