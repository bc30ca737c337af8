"""ZeroGPU readiness, with a fake ``spaces`` package (the real one needs a Space to run): the
page's GPU functions are wrapped with a duration derived from each call's estimate, and nothing
is placed on a GPU at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FAKE_SPACES = '''
"""A stand-in for Hugging Face's ``spaces``: GPU(duration=...) records each call's duration."""
calls = []


def GPU(task=None, *, duration=None):
    def wrap(fn):
        def wrapper(*args, **kwargs):
            seconds = duration(*args, **kwargs) if callable(duration) else duration
            calls.append((fn.__name__, seconds))
            return fn(*args, **kwargs)

        wrapper.__wrapped__, wrapper.duration = fn, duration
        return wrapper

    return wrap if task is None else wrap(task)
'''

SCRIPT = """
import json
from dataclasses import asdict

import spaces
import alignda.app as app
from alignda import studio as st
from alignda.studio.budget import GPU_MAX_S, GPU_MIN_S

studio = st.default_studio()
d = st.Request()
args = dict(
    case="0", pattern="random", density_pct=100 * d.density, noise_scale=d.noise_scale,
    mode=d.mode, zeta=d.zeta, steps=d.steps, members=d.members, seed=0, w_accuracy=0.0,
    w_forecast=0.0, w_physics=0.0, w_multi=1.0, forecast=False,
)
small = dict(args, steps=4, members=1, mode="dps")
big = dict(args, steps=256, members=16)
out = {
    "device": str(studio.device),
    "wrapped": [app.assimilate.__wrapped__.__name__, app.front.__wrapped__.__name__],
    "default": app.assimilate.duration(**args),
    "expected_default": studio.gpu_seconds(st.Request(weights=(0, 0, 0, 1))),
    "small": app.assimilate.duration(**small),
    "big": app.assimilate.duration(**big),
    "bad": app.assimilate.duration(**dict(args, density_pct=-1)),
    "csv": app.assimilate.duration(**dict(args, pattern="csv")),
    "front_none": app.front.duration(None),
    "limits": [GPU_MIN_S, GPU_MAX_S],
}
maps, table, *_ = app.assimilate(**small, variable="z")
out["calls"] = spaces.calls
out["rows"] = list(table.iloc[:, 0]) if hasattr(table, "iloc") else None
print("RESULT" + json.dumps(out))
"""


@pytest.mark.slow  # a fresh interpreter builds the app
def test_zero_gpu_durations_come_from_the_estimate(tmp_path: Path):
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "__init__.py").write_text(textwrap.dedent(FAKE_SPACES))
    env = dict(os.environ, PYTHONPATH=str(tmp_path), SPACES_ZERO_GPU="true")
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.split("RESULT", 1)[1])
    low, high = out["limits"]
    assert out["device"] == "cpu"  # models loaded on the CPU at import: no GPU needed yet
    assert out["wrapped"] == ["assimilate", "front"]
    assert out["default"] == out["expected_default"] and low <= out["default"] <= high
    assert low <= out["small"] <= out["default"] <= out["big"] <= high
    assert out["small"] < out["big"]
    assert out["bad"] == low and out["front_none"] == low
    assert out["csv"] == out["default"]  # a CSV network is costed as a random one
    # the wrapped function ran through the decorator, which asked for the call's duration
    assert out["calls"] == [["assimilate", out["small"]]]
