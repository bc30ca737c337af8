"""Work spread over threads: results independent of the split, in order, errors surface; the
machine's CPU contention is seen."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from alignda.analysis.score import SamplerSettings, analyse
from alignda.model.codec import load_codec
from alignda.model.prior import load_prior, prior_denoiser
from alignda.obs.networks import make_mask
from alignda.obs.operator import observe
from alignda.paths import SHIPPED_CASES
from alignda.runtime import (
    CpuContention,
    cpu_stall_seconds,
    in_parallel,
    side_by_side,
    usable_cores,
)
from alignda.world.cases import Cases
from alignda.world.grid import Grid


def test_side_by_side_runs_in_threads_and_keeps_keys():
    seen: dict[str, tuple[str, bool]] = {}

    def job(name: str, first: bool) -> str:
        seen[name] = (threading.current_thread().name, first)
        return name.upper()

    jobs = {n: (lambda first, n=n: job(n, first)) for n in ("a", "b", "c")}
    assert side_by_side(jobs, workers=2) == {"a": "A", "b": "B", "c": "C"}
    assert [seen[n][1] for n in "abc"] == [True, False, False]
    assert all(name.startswith("alignda") for name, _ in seen.values())
    assert side_by_side(jobs, workers=1) == {"a": "A", "b": "B", "c": "C"}
    assert all(first for _, first in seen.values())  # one after another: all may show progress


def test_in_parallel_concatenates_groups_in_order_and_raises():
    x = np.arange(7.0)
    for workers in (1, 2, 3, 10):
        got = in_parallel(lambda rows, first: x[rows] ** 2, len(x), workers)
        np.testing.assert_array_equal(got, x**2)

    def failing(rows: np.ndarray, first: bool) -> np.ndarray:
        if 5 in rows:
            raise ValueError("member 5 diverged")
        return x[rows]

    with pytest.raises(ValueError, match="member 5"):
        in_parallel(failing, len(x), 3)


def same_up_to_round_off(a: np.ndarray, b: np.ndarray) -> None:
    """Members (M, C, H, W) equal up to round-off amplified through the sampler: within 1e-3 of
    each variable's spread (batched and single kernels round differently, and differently on
    each CPU: 1.1e-3 m/s in one wind of 98,304 values was seen on one machine)."""
    scale = b.std(axis=(0, 2, 3), keepdims=True)
    worst = (np.abs(a - b) / scale).max(axis=(0, 2, 3))
    assert (worst < 1e-3).all(), f"largest difference per variable / its spread: {worst}"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["obsfree", "dps", "mmps"])
def test_members_do_not_depend_on_how_they_are_split(mode):
    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[0]
    truth, bg = cases.truth_state(t), cases.background_state(t)
    rng = np.random.default_rng(0)
    obs = observe(truth, make_mask("random", Grid(*truth.shape[-2:]), rng, density=0.01), rng)
    den, codec = prior_denoiser(load_prior()), load_codec()
    settings = SamplerSettings(mode=mode, steps=4, members=3, seed=7)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        whole = analyse(den, codec, bg, obs, settings, workers=1)
        split = analyse(den, codec, bg, obs, settings, workers=2)
    finally:
        torch.set_num_threads(threads)
    one = analyse(den, codec, bg, obs, SamplerSettings(mode=mode, steps=4, members=1, seed=7))
    same_up_to_round_off(split, whole)
    same_up_to_round_off(one[:1], whole[:1])  # member 0 alone
    assert np.abs(whole[1] - whole[0]).max() > 1.0  # distinct members


def test_gpu_task_is_the_function_itself_without_spaces(monkeypatch) -> None:
    import sys

    from alignda.runtime import gpu_task

    def handler(x: int) -> int:
        return x + 1

    monkeypatch.setitem(sys.modules, "spaces", None)  # `import spaces` raises ImportError
    assert gpu_task(handler, lambda x: 60) is handler


def test_gpu_task_applies_spaces_gpu_when_installed(monkeypatch) -> None:
    import sys
    import types

    from alignda.runtime import gpu_task

    calls = []

    def gpu(duration):  # the shape of spaces.GPU(duration=...)(fn), duration a callable
        def wrap(fn):
            def run(*args):
                calls.append(duration(*args))
                return fn(*args)

            return run

        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    wrapped = gpu_task(lambda x: 2 * x, lambda x: 30 * x)
    assert wrapped(3) == 6 and calls == [90]


def test_cpu_contention_sees_other_work_on_the_cores() -> None:
    """Twice as many spinning processes as cores: some task waits for a CPU most of the time."""
    from benchmarks.probe import busy_cores

    if cpu_stall_seconds() is None:
        pytest.skip("this system reports no CPU pressure stall information")
    with busy_cores(2 * usable_cores()):
        time.sleep(0.5)
        watch = CpuContention()
        time.sleep(2.0)
        share = watch.share()
    assert share is not None and share > 0.5, share
