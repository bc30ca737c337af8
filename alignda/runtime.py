"""How work is spread over the machine: cores, torch threads, parallel workers, device.

On small CPUs (the 2-core default) one intra-op thread per analysis and several analyses (or
groups of ensemble members) side by side beat torch's intra-op threading, which was measured
to collapse when two processes or threads share the cores (OpenMP threads waiting for each
other: a 4-member DPS analysis 7 s with one thread, over 400 s with two).
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from threadpoolctl import threadpool_limits

THREADS_ENV = "ALIGNDA_THREADS"
K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def usable_cores() -> int:
    """CPU cores this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity else os.cpu_count() or 1


def torch_threads() -> int:
    """Intra-op threads per worker: ``$ALIGNDA_THREADS``, else half the usable cores."""
    value = os.environ.get(THREADS_ENV)
    return max(1, int(value)) if value else max(1, usable_cores() // 2)


def parallel_workers() -> int:
    """Workers that run side by side: the cores over torch's intra-op threads (at least 1)."""
    return max(1, usable_cores() // torch.get_num_threads())


def limit_threads() -> int:
    """Give torch and the BLAS libraries (numpy's and scipy's) :func:`torch_threads` threads
    each, for a process that runs analyses side by side (the app); returns that number.

    BLAS threads that spin while waiting for each other slow a 3D-Var 2-3x when other work
    shares the cores (measured with two busy processes on 2 cores: 1.40 s with two BLAS
    threads, 0.62 s with one; 0.39 s idle either way)."""
    n = torch_threads()
    torch.set_num_threads(n)
    threadpool_limits(n, user_api="blas")  # kept for the process (not used as a context)
    return n


@contextmanager
def worker_threads() -> Iterator[int]:
    """Within: torch uses :func:`torch_threads` intra-op threads (restored after); yields the
    number of workers to run side by side (:func:`parallel_workers`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(torch_threads())
    try:
        yield parallel_workers()
    finally:
        torch.set_num_threads(before)


#: Linux pressure stall information: the container's own first, else the machine's.
PRESSURE_FILES = ("/sys/fs/cgroup/cpu.pressure", "/proc/pressure/cpu")


def cpu_stall_seconds() -> float | None:
    """Seconds during which some task has waited for a CPU since boot (Linux pressure stall
    information, of this container where it has its own); None where the system does not say."""
    for path in PRESSURE_FILES:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("some "):
                fields = dict(f.split("=", 1) for f in line.split()[1:])
                return int(fields["total"]) / 1e6
    return None


class CpuContention:
    """How much of a span of time (from construction to :meth:`share`) some task waited for a
    CPU: about 0 when this process has the cores to itself, near 1 when other work shares
    them. ``None`` where the system does not say (see :func:`cpu_stall_seconds`)."""

    def __init__(self) -> None:
        self._t0, self._stall0 = time.monotonic(), cpu_stall_seconds()

    def share(self) -> float | None:
        """Share of the time so far during which some task waited for a CPU, in [0, 1]."""
        stall, wall = cpu_stall_seconds(), time.monotonic() - self._t0
        if stall is None or self._stall0 is None or wall <= 0:
            return None
        return min(max((stall - self._stall0) / wall, 0.0), 1.0)


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def on_zero_gpu() -> bool:
    """Whether this is a Hugging Face ZeroGPU Space (``SPACES_ZERO_GPU``): a GPU is attached
    only inside calls wrapped by :func:`gpu_task`, so nothing may run on it at import."""
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "true", "yes")


def serving_device() -> torch.device:
    """The device to load models on at start-up: the CPU on ZeroGPU (no GPU yet; requests
    move them, see :func:`gpu_task`), else :func:`default_device`."""
    return torch.device("cpu") if on_zero_gpu() else default_device()


def gpu_task(fn: Callable[..., T], duration: Callable[..., int]) -> Callable[..., T]:
    """``fn`` under ``spaces.GPU`` where the ``spaces`` package is installed (Hugging Face
    Spaces: on ZeroGPU hardware a GPU is attached for each call, for at most
    ``duration(*args, **kwargs)`` seconds of that call; elsewhere the package leaves the
    function as it is), else ``fn`` itself."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(duration=duration)(fn)


def side_by_side(jobs: Mapping[K, Callable[[bool], T]], workers: int) -> dict[K, T]:
    """Run ``job(first)`` for each job, up to ``workers`` at once in threads; results by key.

    The flag says whether the job may show progress: all do when they run one after another,
    only the first when side by side (it runs in a copy of the caller's context, so
    gr.Progress tracking works; that tracking is not thread-safe).
    Give torch one intra-op thread per worker (:func:`torch_threads`).
    """
    keys = list(jobs)
    workers = max(1, min(workers, len(keys)))
    if workers == 1:
        return {k: jobs[k](True) for k in keys}
    with ThreadPoolExecutor(workers, thread_name_prefix="alignda") as pool:
        futures = {
            k: pool.submit(contextvars.copy_context().run, jobs[k], True)
            if i == 0
            else pool.submit(jobs[k], False)
            for i, k in enumerate(keys)
        }
        return {k: f.result() for k, f in futures.items()}


def in_parallel(fn: Callable[[np.ndarray, bool], np.ndarray], n: int, workers: int) -> np.ndarray:
    """``fn(indices, progress)`` over up to ``workers`` groups of range(n), side by side.

    The results are concatenated along axis 0 in order (see :func:`side_by_side`).
    """
    groups = np.array_split(np.arange(n), max(1, min(workers, n)))
    done = side_by_side({i: partial(fn, g) for i, g in enumerate(groups)}, len(groups))
    return np.concatenate([done[i] for i in range(len(groups))])
