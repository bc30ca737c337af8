"""The Classroom tab through the app's API (gradio_client on the real app): the single
observation and cycled DA with its plot growing after every analysis."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from alignda.studio import classroom as cl


def test_pixel_to_lat_lon_inverts_the_click_map():
    width, height = cl.CLICK_MAP_SIZE
    assert cl.pixel_to_lat_lon(0, 0, width, height) == pytest.approx((89.75, 0.25))
    assert cl.pixel_to_lat_lon(width / 2 - 0.5, height / 2 - 0.5, width, height) == (0.0, 180.0)
    assert cl.pixel_to_lat_lon(width - 1, height - 1, width, height)[0] == pytest.approx(-89.75)


@pytest.mark.slow
def test_single_observation_endpoint(client):
    image, text = client.predict("0", "z", 50.0, 10.0, 40.0, api_name="/single_observation")
    pixels = np.asarray(Image.open(image))
    assert pixels.shape[0] > 400 and pixels.std() > 10
    assert "One z observation at" in text and "3D-Var" in text and "default mode" in text
    with pytest.raises(Exception, match="not a point on the globe"):
        client.predict("0", "z", 95.0, 10.0, 40.0, api_name="/single_observation")


@pytest.mark.slow
def test_cycle_endpoint_streams_a_plot_per_analysis(client):
    job = client.submit("0", ["3D-Var"], 2, 2.0, 0.0, 0.0, 0.0, 1.0, api_name="/cycle")
    final = job.result(timeout=600)
    outputs = job.outputs()
    # one update per analysis (free run and 3D-Var, 2 cycles), then the final one with the file
    assert len(outputs) == 5, [o[1] for o in outputs]
    assert outputs[0][1].startswith("cycle 1 of 2: free run")
    assert final[1].startswith("done: mean analysis MSE over the last 1 cycles")
    ds = xr.open_dataset(final[2]["value"] if isinstance(final[2], dict) else final[2])
    assert list(ds.experiment.values) == ["free run", "3D-Var"] and ds.sizes["cycle"] == 2
    with pytest.raises(Exception, match="less than minimum value 1"):
        client.predict("0", ["3D-Var"], 0, 2.0, 0.0, 0.0, 0.0, 1.0, api_name="/cycle")


@pytest.mark.slow
def test_ensemble_endpoint(client):
    maps, ranks, text = client.predict("0", 4, 2.0, api_name="/ensemble")
    assert np.asarray(Image.open(maps)).std() > 10 and np.asarray(Image.open(ranks)).std() > 10
    assert text.startswith("4 members; spread/skill of z")
    with pytest.raises(Exception, match="less than minimum value 2"):
        client.predict("0", 1, 2.0, api_name="/ensemble")


@pytest.mark.slow
def test_ensemble_experiment_verifies_its_members():
    from alignda import studio as st

    out = cl.ensemble_experiment(st.default_studio(), "0", 3)
    assert out.members.shape[0] == 3 and out.ranks.shape == (4,)
    assert out.ranks.sum() == pytest.approx(1.0) and 0.2 < out.spread_skill < 5
    with pytest.raises(ValueError, match="2 to 16 members"):
        cl.ensemble_experiment(st.default_studio(), "0", 1)


def test_every_lesson_says_what_to_look_at_and_asks_a_question():
    from alignda.learn_tab import LESSONS, lessons_text

    text = lessons_text()
    for name, (_, look, ask) in LESSONS.items():
        assert f"**{name}**: look at {look}." in text and ask.endswith("?")


@pytest.mark.slow
def test_a_cycling_run_can_be_cancelled(client):
    """Cancelling a long run stops it early (its worker stops at the next analysis) and the
    page goes on serving."""
    import time

    job = client.submit("0", ["3D-Var"], 20, 2.0, 0.0, 0.0, 0.0, 1.0, api_name="/cycle")
    deadline = time.monotonic() + 120
    while not job.outputs() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.outputs(), "no update within 2 minutes"
    job.cancel()
    deadline = time.monotonic() + 60
    while not job.done() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.done() and len(job.outputs()) < 2 * 20 + 1  # stopped before the end
    image, text = client.predict("0", "z", 10.0, 100.0, 20.0, api_name="/single_observation")
    assert "One z observation" in text
