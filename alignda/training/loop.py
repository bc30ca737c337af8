"""Shared training machinery: seeded batches, resumable safetensors state, DDP, logging.

One loop serves the VAE and the latent prior. Training state (model + Adam moments + step)
is saved as safetensors with JSON metadata: no pickle anywhere. When launched with
``torchrun --nproc_per_node N``, PyTorch DDP averages gradients across processes.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from alignda.runtime import default_device


@dataclass
class TrainConfig:
    """Optimisation settings shared by all trainers."""

    steps: int = 2000
    batch: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup: int = 100
    seed: int = 0
    val_every: int = 200
    save_every: int = 200
    grad_clip: float = 1.0
    ema: float = 0.0  # > 0: decay of an exponential moving average of the weights (kept, used)

    def to_dict(self) -> dict:
        """Plain dict."""
        return asdict(self)

    @classmethod
    def snapshots(cls, steps: int, batch: int, lr: float, every: int, seed: int = 0) -> TrainConfig:
        """A short fine-tune (e.g. of aligned deltas): warm-up of at most 20 steps, validation
        and saved state at every snapshot (each ``every`` steps)."""
        return cls(
            steps=steps,
            batch=batch,
            lr=lr,
            seed=seed,
            warmup=min(20, steps),
            val_every=every,
            save_every=every,
        )


def distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


def save_state(
    path: Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    step: int,
    meta: dict,
    ema: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write model, optimiser and EMA state (safetensors, atomic rename)."""
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    for k, v in (ema or {}).items():
        tensors[f"ema.{k}"] = v.detach().contiguous().cpu()
    state = opt.state_dict()
    for pid, st in state["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = torch.as_tensor(v).detach().contiguous().cpu()
    metadata = {
        "step": str(step),
        "param_groups": json.dumps(state["param_groups"]),
        "meta": json.dumps(meta),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def load_state(
    path: Path,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    ema: dict[str, torch.Tensor] | None = None,
) -> int:
    """Restore a state written by :func:`save_state` (EMA into ``ema``); returns the step."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict = {"state": {}, "param_groups": json.loads(metadata["param_groups"])}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state["state"].setdefault(int(pid), {})[name] = v
    opt.load_state_dict(state)
    for k, v in tensors.items():
        if ema is not None and k.startswith("ema.") and k[4:] in ema:
            ema[k[4:]].copy_(v)
    return int(metadata["step"])


def ema_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the floating-point entries of a model's state (EMA start)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}


def with_weights(model: nn.Module, weights: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` carrying ``weights`` (e.g. the EMA ones)."""
    import copy

    twin = copy.deepcopy(model)
    twin.load_state_dict(weights, strict=False)
    return twin


def last_log(workdir: str | Path) -> dict:
    """The last entry of ``workdir/log.jsonl`` written by :func:`train` ({} if empty)."""
    lines = (Path(workdir) / "log.jsonl").read_text().splitlines()
    return json.loads(lines[-1]) if lines else {}


def train(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, torch.Generator], torch.Tensor],
    cfg: TrainConfig,
    workdir: str | Path,
    val_fn: Callable[[nn.Module], dict[str, float]] | None = None,
    progress: bool = True,
) -> list[dict]:
    """Optimise ``loss_fn(model, generator)`` with AdamW; resumes from ``workdir/state``.

    Logs (step, loss, val figures, seconds) to ``workdir/log.jsonl``; returns the log.
    """
    workdir = Path(workdir)
    rank, world = distributed()
    dev = default_device()
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state_path = workdir / "state.safetensors"
    ema = ema_weights(model) if cfg.ema > 0 else None
    start = load_state(state_path, model, opt, ema) if state_path.exists() else 0
    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank + 7919 * start)

    def lr_at(step: int) -> float:
        warm = min(1.0, (step + 1) / max(cfg.warmup, 1))
        return cfg.lr * warm * 0.5 * (1 + math.cos(math.pi * min(step / cfg.steps, 1.0)))

    log: list[dict] = []
    bar = tqdm(
        range(start, cfg.steps),
        desc=f"train {workdir.name}",
        disable=not progress or rank != 0,
        initial=start,
        total=cfg.steps,
    )
    t0, running = time.perf_counter(), 0.0
    model.train()
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = loss_fn(net, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        if ema is not None:
            # Warm-up of the decay: the start (random) weights fade out after a few steps
            # instead of keeping a weight cfg.ema ** steps in the average.
            decay = min(cfg.ema, (1.0 + step) / (10.0 + step))
            with torch.no_grad():
                for k, v in model.state_dict().items():
                    if k in ema:
                        ema[k].lerp_(v, 1.0 - decay)
        running = 0.98 * running + 0.02 * loss.item() if step > start else loss.item()
        bar.set_postfix(loss=f"{running:.4g}")
        last = step + 1 == cfg.steps
        if rank == 0 and (last or (step + 1) % cfg.val_every == 0):
            entry = {"step": step + 1, "loss": running, "seconds": time.perf_counter() - t0}
            if val_fn is not None:
                judged = model if ema is None else with_weights(model, ema)
                judged.eval()
                with torch.no_grad():
                    entry.update(val_fn(judged))
                model.train()
            log.append(entry)
            workdir.mkdir(parents=True, exist_ok=True)
            with open(workdir / "log.jsonl", "a") as f:
                f.write(json.dumps(entry) + "\n")
            bar.write(json.dumps(entry))
        if rank == 0 and (last or (step + 1) % cfg.save_every == 0):
            save_state(state_path, model, opt, step + 1, {"train": cfg.to_dict()}, ema)
    if ema is not None:
        model.load_state_dict(ema, strict=False)
    model.eval()
    return log
