"""The trade-off front: the prior across weight presets for one scenario, with seed noise."""

from __future__ import annotations

import matplotlib.image as plt_image
import numpy as np
import pytest

from alignda import studio as st
from alignda.alignment.soup import DELTAS, PRESETS, normalise_weights
from alignda.studio.front import on_scale, physics_score
from tests.app_api import assimilate_args

FAST = {"mode": "dps", "steps": 4, "members": 1, "density": 0.02}


@pytest.fixture(scope="module")
def studio() -> st.Studio:
    s = st.default_studio()
    if not s.aligned_available:
        pytest.skip("no aligned deltas ship: there is no front")
    return s


@pytest.mark.slow
def test_front_points_match_the_runs_of_their_weights(studio) -> None:
    req = st.Request(**FAST, weights=tuple(PRESETS["physics"].get(k, 0.0) for k in DELTAS))
    points = studio.front(req, seeds=1)
    assert [p.preset for p in points] == list(st.FRONT_PRESETS)
    assert all(p.mse_std == 0 and p.physics_std == 0 for p in points)  # one seed: no spread
    by_name = {p.preset: p for p in points}
    assert by_name["physics"].weights == normalise_weights(PRESETS["physics"])
    run = studio.run(req)  # its aligned prior has the physics weights, its seed is the first
    for preset, row in (("physics", st.ALIGNED_ROW), ("unaligned", st.UNALIGNED)):
        assert by_name[preset].mse == pytest.approx(run.table.loc[row, "MSE"], rel=1e-5)
        phys = physics_score(run.analyses[row], run.truth)
        assert by_name[preset].physics == pytest.approx(phys, rel=1e-5)
    # the presets are different priors: they do not all give the same analysis
    assert len({round(p.mse, 8) for p in points}) > 1


@pytest.mark.slow
def test_front_error_bars_are_seed_noise(studio) -> None:
    points = studio.front(st.Request(**FAST), seeds=2)
    assert all(np.isfinite([p.mse, p.mse_std, p.physics, p.physics_std]).all() for p in points)
    assert any(p.mse_std > 0 for p in points)  # another sampler seed, another analysis


def test_front_is_refused_over_budget_above_the_default_settings(studio, monkeypatch) -> None:
    monkeypatch.setattr(studio.budget, "seconds", 0.01)
    heavy = st.Request(**FAST | {"steps": 2 * st.Request().steps})  # at the defaults: runs
    with pytest.raises(st.OverBudget, match=r"the front needs about .* lower steps and members"):
        studio.front(heavy)
    with pytest.raises(st.StudioError, match="seeds must be in 1..8"):
        studio.front(st.Request(**FAST), seeds=0)


@pytest.mark.slow
def test_front_over_the_api_after_a_run(client) -> None:
    client.predict(*assimilate_args(steps=4, members=1), api_name="/assimilate")
    image = client.predict(api_name="/front")
    pixels = plt_image.imread(image)
    assert pixels.shape[0] > 200 and pixels[..., :3].var() > 1e-3


def test_a_diverging_preset_is_named_off_the_scale() -> None:
    def point(name: str, mse: float) -> st.FrontPoint:
        return st.FrontPoint(name, {}, mse, 0.0, 99.0, 0.1)

    points = [point("unaligned", 0.10), point("physics", 0.11), point("paper -M", 1.4)]
    inside, off = on_scale(points)
    assert [p.preset for p in inside] == ["unaligned", "physics"] and off == [points[2]]
    fig = st.front_figure(points)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any("off the scale: paper -M" in t for t in texts)
    assert fig.axes[0].get_ylim()[1] < 0.5  # the others are not squashed
