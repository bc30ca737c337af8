"""Device benchmark: seconds of a DPS analysis with the shipped checkpoints, placed as the app
places them (network and codec on the device, sampler loop on the CPU), and peak GPU memory.

Run: ``python benchmarks/gpu_bench.py`` (CUDA when present, else CPU; ``--device cpu`` to force).
Configurations: the app's defaults (32 steps x 4 members) and 128 steps x 2 members; ``--request``
adds one full app request (3D-Var, unaligned and aligned DPS, scores). ``--quick`` (CPU: well
under 2 minutes) times one repeat of smaller settings. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import replace

import numpy as np
import torch

from alignda.analysis.score import analyse
from alignda.bundle import load_bundle
from alignda.experiment import DEFAULT
from alignda.model.prior import prior_denoiser
from alignda.obs.operator import observe_case
from alignda.paths import SHIPPED_CASES
from alignda.runtime import worker_threads
from alignda.studio.placement import Placed, PlacedCodec
from alignda.world.cases import Cases

#: The guidance the GPU timings sample (the latent sampler's own cost).
GUIDED = "dps"

#: (label, steps, members): the app's defaults, then the issue's 128 x 2 target (<= 1 s on H100).
CONFIGS = (("app default", 32, 4), ("128 x 2", 128, 2))
QUICK = (("quick default", 16, 2), ("quick 128 x 2", 128, 2))


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return f"{p.name} ({p.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda})"
    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", help="cuda, cuda:1, cpu (default: CUDA when present)")
    p.add_argument("--repeats", type=int, help="timed runs per configuration (CUDA 3, CPU 1)")
    p.add_argument(
        "--density", type=float, default=DEFAULT.observing.density, help="observed fraction"
    )
    p.add_argument("--case", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smaller settings, one repeat")
    p.add_argument("--request", action="store_true", help="also time one full app request")
    args = p.parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    repeats = args.repeats or (3 if device.type == "cuda" and not args.quick else 1)
    print(f"device: {device_name(device)}; torch {torch.__version__}", flush=True)

    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[args.case]
    truth, background = cases.truth_state(t), cases.background_state(t)
    obs = observe_case(truth, 0, pattern="random", density=args.density)
    t0 = time.perf_counter()
    bundle = load_bundle(device=device)
    codec = PlacedCodec(bundle.codec, device)
    net = Placed(bundle.prior, device)
    denoiser = prior_denoiser(net)
    sync(device)
    print(f"load checkpoints to {device}: {time.perf_counter() - t0:.2f} s; {obs.count} obs")

    def run(steps: int, members: int, workers: int) -> np.ndarray:
        settings = replace(DEFAULT.method, mode=GUIDED, steps=steps, members=members, seed=0)
        return analyse(denoiser, codec, background, obs, settings, workers=workers)

    with worker_threads() as cpu_workers:
        workers = cpu_workers if device.type == "cpu" else 1
        t0 = time.perf_counter()
        run(2, 1, 1)  # warm-up: first calls allocate, CUDA kernels load
        sync(device)
        print(f"warm-up (2 steps x 1): {time.perf_counter() - t0:.2f} s; workers {workers}")
        print(
            f"{'configuration':<16} {'steps':>5} {'members':>7} {'best s':>8} {'mean s':>8} "
            f"{'rmse z':>7} {'peak GPU MiB':>12}"
        )
        for label, steps, members in QUICK if args.quick else CONFIGS:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                x = run(steps, members, workers)
                sync(device)
                seconds.append(time.perf_counter() - t0)
            rmse = float(np.sqrt(np.mean((x.mean(0)[0] - truth[0]) ** 2)))
            peak = (
                f"{torch.cuda.max_memory_allocated(device) / 2**20:12.0f}"
                if device.type == "cuda"
                else f"{'-':>12}"
            )
            print(
                f"{label:<16} {steps:5d} {members:7d} {min(seconds):8.2f} "
                f"{np.mean(seconds):8.2f} {rmse:7.1f} {peak}",
                flush=True,
            )
        rmse_b = float(np.sqrt(np.mean((background[0] - truth[0]) ** 2)))
        print(f"(rmse z of the background: {rmse_b:.1f} m)")

    if args.request:
        from alignda import studio as st

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        studio = st.Studio(device=device, budget_s=float("inf"))
        print(f"studio start (load + calibrate): {time.perf_counter() - t0:.2f} s")
        req = st.Request(case=str(args.case), mode=GUIDED)
        for attempt in ("first (no cache)", "weights changed"):
            t0 = time.perf_counter()
            result = studio.run(req)
            sync(device)
            parts = ", ".join(f"{k} {v:.2f}" for k, v in result.seconds.items())
            print(f"app request, {attempt}: {time.perf_counter() - t0:.2f} s ({parts})")
            req = replace(req, weights=(0.0, 0.0, 1.0, 0.0))
        if device.type == "cuda":
            print(
                f"peak GPU memory of the requests: "
                f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"
            )


if __name__ == "__main__":
    main()
