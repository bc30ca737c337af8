"""Shared fixtures: one real app server for the whole test session.

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
