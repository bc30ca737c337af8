"""The Studio's z tendency maps: the height tendency over the 6th hour of forecasts from the
truth, the background, 3D-Var and the analysis, on one colour scale; the balance lesson
shows them for 3D-Var and the physics-weighted prior.

The fast test builds a result from a shipped case with unbalanced winds added; the slow ones
run the default request and the lesson (over HTTP, on the session's app server)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import QuadMesh

from alignda import studio as st
from alignda.learn_tab import BALANCE_LESSON, LESSON_CONTROLS, LESSONS, lesson_rows
from alignda.obs.operator import Observations
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.shock import SHOCK_HOURS, WAVE_HOURS, height_tendency
from alignda.world.variables import VARIABLE_NAMES
from tests.app_api import assimilate_args


def unbalanced(truth: np.ndarray, k: float, seed: int) -> np.ndarray:
    """The truth with ageostrophic noise of std ``k`` m/s on the winds."""
    wind = np.array([0.0, 1.0, 1.0, 0.0])[:, None, None]
    return truth + k * wind * np.random.default_rng(seed).normal(size=truth.shape)


def panel_rms(fields: dict[str, np.ndarray]) -> np.ndarray:
    return np.sqrt(Grid(64, 128).area_mean(np.stack(list(fields.values())) ** 2))


@pytest.fixture(scope="module")
def result() -> st.Result:
    """A result of case 0: 3D-Var with strong ageostrophic noise, a 2-member prior with weak."""
    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[0]
    truth, background = (
        np.asarray(x, np.float64) for x in (cases.truth_state(t), cases.background_state(t))
    )
    shape = (len(VARIABLE_NAMES), *truth.shape[-2:])
    return st.Result(
        request=st.Request(case="0", weights=(0, 0, 0, 0)),
        label="0",
        time=t,
        grid=Grid(*truth.shape[-2:]),
        truth=truth,
        background=background,
        obs=Observations(np.zeros(shape, bool), np.zeros(shape), np.ones(len(VARIABLE_NAMES))),
        analyses={
            st.THREEDVAR: unbalanced(truth, 3.0, 0)[None],
            st.UNALIGNED: np.stack([unbalanced(truth, 1.0, s) for s in (1, 2)]),
        },
        table=pd.DataFrame(),
        notes=[],
        seconds={},
    )


def test_tendency_maps_share_one_scale_and_unbalanced_states_ring(result, tmp_path):
    fields = st.map_fields(result, st.HEIGHT_TENDENCY, st.ALIGNED_ROW)  # absent: the main one
    names = [k.split(":")[0] for k in fields]
    assert names == ["truth", "background", "3D-Var", "unaligned prior, mean of 2"]
    assert all(f.shape == (64, 128) and np.isfinite(f).all() for f in fields.values())
    rms = panel_rms(fields)
    shown = (st.BACKGROUND, st.THREEDVAR, st.UNALIGNED)
    states = np.stack([result.truth, *(result.mean(n) for n in shown)])
    expected = height_tendency(states, SHOCK_HOURS, start=WAVE_HOURS - SHOCK_HOURS)
    np.testing.assert_allclose(rms, expected, rtol=1e-5)
    assert all(f"rms {r:.2f} m/h" in k for k, r in zip(fields, rms, strict=True))
    assert rms[2] > 1.5 * rms[0] and rms[3] > rms[0]  # the noisy winds ring, the truth is calm
    assert list(st.tendency_fields(result, st.THREEDVAR)) == list(fields)  # 3D-Var is shown
    fig = st.maps_figure(result, st.HEIGHT_TENDENCY)
    panels = [ax for ax in fig.axes if hasattr(ax, "projection")]  # not the colour bars
    meshes = [c for ax in panels for c in ax.collections if isinstance(c, QuadMesh)]
    limits = {(m.norm.vmin, m.norm.vmax) for m in meshes}
    assert len(panels) == 4 and len(limits) == 1  # one colour scale
    vmin, vmax = limits.pop()
    assert vmin == -vmax and vmax >= max(np.abs(f).max() for f in fields.values()) - 1e-9
    path = st.render_maps(result, st.HEIGHT_TENDENCY, st.UNALIGNED, tmp_path / "t.png")
    assert path.stat().st_size > 50_000
    with pytest.raises(st.StudioError, match="variable"):
        st.map_fields(result, "z tendencies", st.UNALIGNED)


def test_the_balance_lesson_maps_the_tendency_of_the_physics_weighted_prior():
    changes, look, ask = LESSONS[BALANCE_LESSON]
    assert changes == {"preset": "physics", "variable": st.HEIGHT_TENDENCY}
    assert "tendency" in look and ask.endswith("?")
    labels, rows = lesson_rows(["0"])
    lesson = dict(zip(LESSON_CONTROLS, rows[labels.index(BALANCE_LESSON)], strict=True))
    assert lesson["variable"] == st.HEIGHT_TENDENCY and lesson["w_physics"] == 1.0
    assert lesson["w_accuracy"] == lesson["w_forecast"] == lesson["w_multi"] == 0.0
    others = [dict(zip(LESSON_CONTROLS, r, strict=True)) for r in rows]
    assert sum(r["variable"] == "z" for r in others) == len(rows) - 1


@pytest.mark.slow
def test_tendency_maps_of_the_default_request(tmp_path):
    result = st.default_studio().run(st.Request(case="1", steps=4, members=2))
    fields = st.tendency_fields(result)
    shown = ["truth", "background", "3D-Var", result.main]
    assert len(fields) == 4 and all(k.startswith(n) for k, n in zip(fields, shown, strict=True))
    rms = panel_rms(fields)
    assert rms[2] > rms[0] and rms[1] < rms[2]  # 3D-Var rings; the truth, background do not
    path = st.render_maps(result, st.HEIGHT_TENDENCY, result.main, tmp_path / "maps.png")
    assert path.stat().st_size > 50_000


@pytest.mark.slow
def test_the_balance_lesson_runs_over_http(client):
    """The lesson's controls, with few sampler steps, through /assimilate: the tendency maps."""
    labels, rows = lesson_rows(st.default_studio().labels)
    lesson = dict(zip(LESSON_CONTROLS, rows[labels.index(BALANCE_LESSON)], strict=True))
    given = {k: v for k, v in lesson.items() if k not in ("preset", "density", "noise")}
    given |= {"density_pct": lesson["density"], "noise_scale": lesson["noise"]}
    maps, table, _, files, _ = client.predict(
        *assimilate_args(**given | {"steps": 8, "members": 2}), api_name="/assimilate"
    )
    assert os.path.getsize(maps) > 50_000 and Path(maps).name == "maps.png"
    methods = [r[0] for r in table["data"]]
    assert st.THREEDVAR in methods and (
        st.ALIGNED_ROW in methods or not st.default_studio().aligned_available
    )
