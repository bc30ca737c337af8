"""The reward soup: theta = theta_ref + sum_i w_i delta_i for user weights w.

Weights are normalised (all zero = the unaligned prior); a soup is a standalone network copy
with theta(w) loaded, made in milliseconds (the reference is never modified; copies can run
in parallel threads). The deltas on disk record the sha256 of the prior they were trained on.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from alignda.alignment.rewards import REWARDS
from alignda.checkpoints import (
    CheckpointError,
    read_manifest,
    register,
    resolve,
    safetensors_metadata,
)
from alignda.paths import CHECKPOINT_DIR
from alignda.training.loop import TrainConfig

#: Names of the shipped deltas: one per reward (-P models) and the multi-reward "-M" model.
DELTAS = (*REWARDS, "multi")

#: The registered delta files, by the pipeline they were tuned on: the latent sampler's
#: (guided rollouts) and the hybrid's (its first guess through the variational solve).
ALIGNED = "aligned"
ALIGNED_HYBRID = "aligned_hybrid"


def delta_set(latent: bool) -> str:
    """The delta file for a latent sampler (``latent``) or for the hybrid."""
    return ALIGNED if latent else ALIGNED_HYBRID


#: Weight presets offered to users (weights over :data:`DELTAS`).
PRESETS: dict[str, dict[str, float]] = {
    "unaligned": {},
    "accuracy": {"accuracy": 1.0},
    "forecast": {"forecast": 1.0},
    "physics": {"physics": 1.0},
    "balanced": {"accuracy": 1.0, "forecast": 1.0, "physics": 1.0},
    "paper -M": {"multi": 1.0},
}


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


def delta_of(net: nn.Module, ref_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The delta theta - theta_ref of a fine-tuned copy of the reference network."""
    return {k: (v - ref_state[k]).detach().clone() for k, v in net.state_dict().items()}


def delta_digest(delta: Mapping[str, torch.Tensor]) -> str:
    """A short content hash of a delta (names which deltas a cached evaluation judged)."""
    h = hashlib.sha256()
    for k in sorted(delta):
        h.update(k.encode())
        h.update(delta[k].detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


class SnapshotWriter:
    """Writes the deltas of a fine-tune at its validation steps to
    ``workdir/deltas/step_<n>.safetensors`` (model selection judges every snapshot)."""

    def __init__(self, workdir: str | Path, train: TrainConfig) -> None:
        self.folder = Path(workdir) / "deltas"
        self.every, self.steps = train.val_every, train.steps

    def write(self, delta: Mapping[str, torch.Tensor]) -> Path:
        """Save the next snapshot (its step follows from the snapshots already there)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        n = len(list(self.folder.glob("step_*.safetensors")))
        step = min((n + 1) * self.every, self.steps)
        path = self.folder / f"step_{step:05d}.safetensors"
        save_file(dict(delta), str(path))
        return path


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
