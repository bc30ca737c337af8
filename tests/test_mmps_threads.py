"""MMPS in threads: reverse-mode autograd only, so analyses may run side by side.

azula's MMPS took its Jacobian-vector products with ``torch.func.jvp`` (forward-mode AD, whose
dual levels are process-wide): two MMPS analyses in threads, as the studio runs the aligned and
unaligned priors, failed with "Trying to access a forward AD level with an invalid index".
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alignda.analysis.score import SamplerSettings, analyse
from alignda.model.guidance import MMPSDenoiser, guided, vjp_jvp
from alignda.runtime import side_by_side


def test_double_vjp_equals_forward_mode_jvp():
    """J v from reverse mode only equals torch.func.jvp (run serially) on a nonlinear map."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 7, generator=g, dtype=torch.float64)

    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ w.T) * x[..., :5] ** 2 + torch.sin(x).sum(-1, keepdim=True)

    x = torch.randn(3, 7, generator=g, dtype=torch.float64)
    x_req = x.clone().requires_grad_()
    jvp = vjp_jvp(f(x_req), x_req)
    for _ in range(3):  # the built function is reusable
        v = torch.randn(3, 7, generator=g, dtype=torch.float64)
        _, expected = torch.func.jvp(f, (x,), (v,))
        got = jvp(v)
        assert not got.requires_grad
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_mmps_is_ours_and_thread_safe_by_construction(shipped_prior_case):
    den, codec, _, obs = shipped_prior_case
    from alignda.model.guidance import LatentObservation

    lobs = LatentObservation(codec.decode, codec.encode, obs)
    assert isinstance(guided("mmps", den, lobs), MMPSDenoiser)


@pytest.mark.slow
def test_two_mmps_analyses_side_by_side_finish_and_match_serial(shipped_prior_case):
    """The studio's situation: two MMPS analyses (two seeds) in two threads at once."""
    den, codec, bg, obs = shipped_prior_case
    runs = {s: SamplerSettings(mode="mmps", steps=4, members=1, seed=s) for s in (1, 2)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        jobs = {
            s: (lambda first, st=st: analyse(den, codec, bg, obs, st)) for s, st in runs.items()
        }
        together = side_by_side(jobs, workers=2)
        alone = {s: analyse(den, codec, bg, obs, st) for s, st in runs.items()}
    finally:
        torch.set_num_threads(threads)
    for s in runs:
        assert together[s].shape == (1, 4, 64, 128) and np.isfinite(together[s]).all()
        np.testing.assert_allclose(together[s], alone[s], rtol=1e-4, atol=1e-3)
    assert np.abs(together[1] - together[2]).max() > 1.0  # two distinct analyses
