"""Shared fixtures: one real app server for the whole test session, and the guidance tests' real
setting (the shipped prior on a shipped case).

Starting the app loads the models and calibrates the compute budget (a few seconds), so the
HTTP tests (``test_app``, ``test_scenarios``, ``test_browser``) share one server on
127.0.0.1, started on first use and closed at the end of the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """URL of the real app (``app.py``: shipped checkpoints and cases) served locally."""
    import app

    _, url, _ = app.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        yield url
    finally:
        app.demo.close()


@pytest.fixture(scope="session")
def client(app_url: str):
    """A gradio_client Client of the session's app."""
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def shipped_prior_case():
    """The shipped prior's denoiser and codec, shipped case 0's background and its 1 % random
    observations (network seed 0): the guidance tests' real setting."""
    from alignda.model.codec import load_codec
    from alignda.model.prior import load_prior, prior_denoiser
    from alignda.obs.operator import observe_case
    from alignda.paths import SHIPPED_CASES
    from alignda.world.cases import Cases

    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[0]
    truth, bg = cases.truth_state(t), cases.background_state(t)
    obs = observe_case(truth, 0, pattern="random", density=0.01)
    return prior_denoiser(load_prior()), load_codec(), bg, obs
