"""The app on the shipped cases: a direct call, bad input, and a real request over HTTP."""

import os

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

import app  # noqa: E402


def test_assimilate_improves_on_background():
    label = app.case_labels()[0]
    image, table = app.assimilate(label, "z", "random", 5.0, 0)
    assert image.ndim == 3 and image.shape[2] == 3 and image.std() > 10
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if "|" in line}
    assert "background" in rows and "3D-Var" in rows

    def mse(row):
        return float(rows[row].split("|")[2])

    assert mse("3D-Var") < 0.8 * mse("background")


@pytest.mark.parametrize(
    "args, message",
    [
        (("random", 0.0, 0), "density must be in"),
        (("nowhere", 5.0, 0), "pattern"),
    ],
)
def test_bad_input_gives_clear_error(args, message):
    with pytest.raises(gr.Error, match=message):
        app.assimilate(app.case_labels()[0], "z", *args)


def test_served_over_http():
    from gradio_client import Client

    app.demo.queue(default_concurrency_limit=1)
    _, url, _ = app.demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        image, table = client.predict(
            app.case_labels()[1], "u", "stations", 3.0, 1, api_name="/assimilate"
        )
        assert "3D-Var" in table and os.path.exists(image)
        # the app keeps serving after a bad request
        with pytest.raises(Exception, match="minimum value|density must be in"):
            client.predict(app.case_labels()[1], "u", "random", 0.0, 1, api_name="/assimilate")
        _, table2 = client.predict(
            app.case_labels()[0], "v", "random", 1.0, 2, api_name="/assimilate"
        )
        assert np.isfinite(float(table2.splitlines()[2].split("|")[2]))
    finally:
        app.demo.close()
