"""How work is spread over the machine: cores, torch threads, parallel workers, device.

On small CPUs (the 2-core default) one intra-op thread per analysis and several analyses (or
groups of ensemble members) side by side beat torch's intra-op threading, which was measured
to collapse when two processes or threads share the cores (OpenMP threads waiting for each
other: a 4-member DPS analysis 7 s with one thread, over 400 s with two).
"""

from __future__ import annotations

import os

import torch

THREADS_ENV = "ALIGNDA_THREADS"


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


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
