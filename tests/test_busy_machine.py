"""The app on a busy machine: started while other processes hold every core, it answers the
default request and a preset request with maps and a table (more slowly, never refused).

The busy processes are the probe benchmark's plain loops, which this test starts and stops
(and which stop by themselves after a while in any case).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alignda import studio as st
from alignda.alignment.soup import DELTAS
from alignda.runtime import cpu_stall_seconds, usable_cores
from benchmarks.probe import busy_cores
from tests.app_api import assimilate_args


def weight_args(weights: tuple[float, ...]) -> dict[str, float]:
    """Reward weights as the endpoint's keyword arguments."""
    return {f"w_{k}": w for k, w in zip(DELTAS, weights, strict=True)}


def app_defaults(**kw) -> list:
    """The page's own default request (hybrid, 32 steps x 4 members, 1 %, balanced weights)."""
    d = st.Request()
    weights = weight_args(d.weights)
    values = {"case": d.case, "pattern": d.pattern, "density_pct": 100 * d.density}
    values |= {"mode": d.mode, "steps": d.steps, "members": d.members, **weights}
    return assimilate_args(**values | kw)


@pytest.mark.slow
def test_a_busy_start_up_answers_the_default_and_a_preset_request():
    from gradio_client import Client

    from alignda import app as page

    with busy_cores(usable_cores()):
        st.default_studio.cache_clear()
        demo = page.build_demo()  # loads and calibrates while every core is busy
        _, url, _ = page.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
        try:
            client = Client(url, verbose=False)
            physics = weight_args(st.preset_weights("physics"))
            for request in (app_defaults(), app_defaults(case="2", **physics)):
                maps, table, _, files, notes, *_ = client.predict(*request, api_name="/assimilate")
                assert Path(maps).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                assert [r[0] for r in table["data"]][:3] == [
                    st.BACKGROUND,
                    st.THREEDVAR,
                    st.UNALIGNED,
                ]
                assert len(files) == 3 and "Estimated cost" in notes
                if cpu_stall_seconds() is not None:  # the system says when tasks wait
                    assert "The machine is busy" in notes, notes
        finally:
            demo.close()
            st.default_studio.cache_clear()  # later tests calibrate on an idle machine again
