"""Align-DA Studio web app, from a clone and on Hugging Face Spaces: ``python app.py``.

The page lives in :mod:`alignda.app`; an installed package starts it with ``alignda serve``.
"""

from __future__ import annotations

from typing import Any

from alignda.app import build_demo
from alignda.app import launch as _launch

demo = build_demo()


def launch(**kwargs: Any) -> tuple[Any, str, str]:
    """Serve this module's page (see :func:`alignda.app.launch`)."""
    return _launch(demo, **kwargs)


if __name__ == "__main__":
    launch()
