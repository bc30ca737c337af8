"""The compute budget of a request and the cancellation of a request whose client left.

The studio calibrates the cost of one denoiser evaluation of each guidance mode when it
starts, estimates every request from it and refuses one above the budget (60 s unless
``$ALIGNDA_BUDGET_S``) with what to lower, except requests at or below the default settings,
which always run. A request whose client disconnects stops within one denoiser evaluation and
frees the queue. The budget's learning from real requests: ``test_budget_learning.py``.
"""

from __future__ import annotations

import json
import re
import threading
import time

import httpx
import pytest

from alignda import studio as st
from alignda.analysis.score import ANALYSIS_MODES, Cancelled
from alignda.model.guidance import MODES
from alignda.studio.front import FRONT_PRESETS
from tests.app_api import assimilate_args

MAX_SETTINGS = {"mode": "mmps", "steps": 256, "members": 16}  # the UI's maxima


def test_budget_seconds_from_the_environment(monkeypatch):
    monkeypatch.delenv(st.BUDGET_ENV, raising=False)
    assert st.budget_seconds() == st.DEFAULT_BUDGET_S == 60.0
    monkeypatch.setenv(st.BUDGET_ENV, "15")
    assert st.budget_seconds() == 15.0
    assert st.budget_seconds("inf") == float("inf")
    for bad in ("0", "-3", "soon", "nan"):
        with pytest.raises(st.StudioError, match="budget must be a number of seconds > 0"):
            st.budget_seconds(bad)


@pytest.mark.slow
def test_calibration_times_every_piece():
    studio = st.default_studio()
    speeds = studio.measure_speeds()  # about 2 s: part of the start-up time
    assert set(speeds.per_eval) == set(MODES)
    assert all(s > 0 for s in speeds.per_eval.values())
    assert speeds.threedvar > 0 and speeds.solve > 0
    # which mode is cheaper depends on the machine: python benchmarks/budget_bench.py


def test_estimate_counts_steps_members_and_analyses():
    studio = st.default_studio()
    base = st.Request(mode="dps", steps=32, members=4)
    cost = studio.estimate(base)
    more_steps = studio.estimate(st.Request(mode="dps", steps=64, members=4))
    more_members = studio.estimate(st.Request(mode="dps", steps=32, members=8))
    fixed = studio.budget.speeds.threedvar + st.OVERHEAD_S
    assert more_steps - fixed == pytest.approx(2 * (cost - fixed), rel=1e-6)
    assert more_members - fixed == pytest.approx(2 * (cost - fixed), rel=1e-6)
    assert studio.estimate(st.Request(mode="dps", steps=32, members=4, forecast=True)) > cost
    hybrid = st.Request(mode="hybrid", steps=32, members=4)  # its solves count too
    solves = 2 * 5 * studio.budget.speeds.solve  # two analyses, 4 members + the mean each
    assert studio.estimate(hybrid) - solves == pytest.approx(
        studio.estimate(st.Request(mode="obsfree", steps=32, members=4)), rel=1e-6
    )
    if studio.aligned_available:  # two prior analyses share the cores: one alone splits
        unaligned = st.Request(mode="dps", steps=32, members=4, weights=(0, 0, 0, 0))
        assert studio.estimate(unaligned) < cost


def test_the_maximum_settings_are_refused_with_what_to_lower():
    studio = st.default_studio()
    req = st.Request(**MAX_SETTINGS)
    with pytest.raises(st.OverBudget) as refused:
        studio.run(req)
    message = str(refused.value)
    found = re.search(r"estimated (\d+) s > budget 60 s .*lower (.*)$", message)
    assert found, message
    assert int(found.group(1)) > 60
    suggestions = dict(re.findall(r"(members|steps) to (\d+)", found.group(2)))
    if not suggestions:  # a slow machine: neither alone fits
        assert "steps and members together (e.g. 32 steps x 4)" in message, message
    for name, value in suggestions.items():  # each suggestion fits, one more does not
        value = int(value)
        assert studio.budget.fits(st.Request(**MAX_SETTINGS | {name: value}))
        assert not studio.budget.fits(st.Request(**MAX_SETTINGS | {name: value + 1}))


def test_a_smaller_budget_refuses_more_and_inf_refuses_nothing():
    studio = st.default_studio()
    req = st.Request(mode="dps", steps=64, members=8)
    before = studio.budget.seconds
    try:
        studio.budget.seconds = 0.5 * studio.estimate(req)
        with pytest.raises(st.OverBudget, match="lower members to"):
            studio.check_budget(req)
        studio.budget.seconds = float("inf")
        assert studio.check_budget(st.Request(**MAX_SETTINGS)) > 60
    finally:
        studio.budget.seconds = before


@pytest.mark.slow
def test_the_defaults_lessons_and_front_always_run_and_a_refusal_changes_nothing():
    """Whatever the budget, a request at or below the default steps and members runs: the
    default request, every lesson of the Learn tab, the trade-off front at the defaults."""
    from alignda import learn_tab as learn

    studio = st.default_studio()
    before, speeds, load = studio.budget.seconds, studio.budget.speeds, studio.budget.load
    heavy = st.Request(**MAX_SETTINGS)
    try:
        studio.budget.seconds = 1.0  # far below any request's cost
        assert studio.check_budget(st.Request()) > 1.0  # estimated above it, and admitted
        _, lessons = learn.lesson_rows(studio.labels)
        names = ["case", "pattern", "density", "noise_scale", "mode", "zeta", "steps"]
        names += ["members", "seed", "forecast"]
        for row in lessons:
            fields = dict(zip(names, row, strict=False))
            lesson = st.Request(**fields | {"density": fields["density"] / 100})
            assert studio.check_budget(lesson) > 1.0
        estimates = [studio.estimate(st.Request(mode=m)) for m in ANALYSIS_MODES]
        for _ in range(3):
            with pytest.raises(st.OverBudget):
                studio.check_budget(heavy)
        assert [studio.estimate(st.Request(mode=m)) for m in ANALYSIS_MODES] == estimates
        assert studio.budget.speeds == speeds and studio.budget.load == load
        result = studio.run(st.Request(case="3", steps=8, members=2))
        assert len(result.table) >= 3 and any("always run" in n for n in result.notes)
        front = studio.front(st.Request(case="3", steps=4, members=1), seeds=1)
        assert len(front) == len(FRONT_PRESETS)
    finally:
        studio.budget.seconds = before


@pytest.mark.slow
def test_a_cancelled_run_stops_within_an_evaluation_and_caches_nothing():
    studio = st.default_studio()
    calls = 0
    lock = threading.Lock()

    def cancelled() -> bool:
        nonlocal calls
        with lock:
            calls += 1
            return calls > 5

    req = st.Request(case="5", mode="dps", steps=64, members=1, seed=11)
    t0 = time.perf_counter()
    with pytest.raises(Cancelled):
        studio.run(req, cancelled=cancelled)
    assert time.perf_counter() - t0 < 0.5 * studio.estimate(req)
    assert calls <= 5 + 2  # each of the two analyses stops at its next evaluation
    assert studio._recall(req.baseline()) is None  # nothing cached
    assert not studio._lock.locked()
    assert studio.run(req).table.shape[0] >= 3  # the studio serves the next request


# --- through the app --------------------------------------------------------------------------
def _api_args(**kw) -> list:
    return assimilate_args(**{"density_pct": 1.0, "steps": 4, "members": 1} | kw)


def test_api_refuses_a_request_over_the_budget_at_once(client):
    t0 = time.perf_counter()
    with pytest.raises(Exception, match=r"estimated \d+ s > budget 60 s.*lower (members|steps) to"):  # noqa: PT011
        client.predict(*_api_args(**MAX_SETTINGS), api_name="/assimilate")
    assert time.perf_counter() - t0 < 10


def test_page_states_the_budget_and_its_sliders_agree():
    import app
    from alignda import learn_tab, studio_tab

    studio = st.default_studio()
    sliders = {b.elem_id: b for b in app.demo.blocks.values() if getattr(b, "elem_id", None)}
    # each slider's maximum, with the other at its minimum, is admitted (estimates only fall
    # after the page was built, so what the page offers stays within the budget)
    smallest = {"steps": int(st.LIMITS["steps"][0]), "members": 1}
    cheapest = min(ANALYSIS_MODES, key=lambda m: studio.estimate(st.Request(mode=m)))
    for name in ("steps", "members"):
        top = int(sliders[name].maximum)
        assert st.LIMITS[name][0] <= top <= st.LIMITS[name][1]
        assert studio.budget.fits(st.Request(mode=cheapest, **smallest | {name: top}))
    learn = learn_tab.budget_text(studio)
    assert "Compute budget" in learn and f"about {studio.budget.seconds:g} s" in learn
    assert "always run" in learn
    assert "Estimated cost" in studio_tab.cost_text("dps", 32, 4, 1.0, 1.0, 1.0, 0.0, False)
    over = studio_tab.cost_text("mmps", 256, 16, 1.0, 1.0, 1.0, 0.0, False)
    assert "Over the compute budget" in over and re.search("lower (members|steps) to", over)


@pytest.mark.slow
def test_a_request_whose_client_leaves_is_cancelled(client, app_url):
    """A client starts a long request (~20 s) and disconnects once it runs: the studio stops
    within an evaluation and the next request is served at once."""
    studio = st.default_studio()
    # Long (most of the budget) but not refused: the studio's own estimate sizes it.
    steps = studio.budget.largest_within(
        st.Request(mode="dps", steps=4, members=4, weights=(0, 0, 0, 1)), "steps", 256
    )
    heavy = _api_args(mode="dps", steps=max(8, int(0.6 * (steps or 8))), members=4, seed=21)
    url = f"{app_url.rstrip('/')}/gradio_api/call/assimilate"
    event = httpx.post(url, json={"data": heavy}).json()["event_id"]
    with httpx.stream("GET", f"{url}/{event}", timeout=60):  # listening to the event
        t0 = time.perf_counter()
        while not studio._lock.locked() and time.perf_counter() - t0 < 30:
            time.sleep(0.05)
        assert studio._lock.locked(), "the request did not start"
        time.sleep(1.0)  # well under way
    left = time.perf_counter()  # the stream is closed: the client has gone
    while studio._lock.locked() and time.perf_counter() - left < 30:
        time.sleep(0.1)
    stopped = time.perf_counter() - left
    assert stopped < 5, f"the studio still ran {stopped:.0f} s after the client left"
    t0 = time.perf_counter()
    _, table, *_ = client.predict(*_api_args(seed=22), api_name="/assimilate")
    assert time.perf_counter() - t0 < 15 and len(table["data"]) >= 3
    assert json.dumps(table["headers"]) == json.dumps(list(st.TABLE_HEADERS))
