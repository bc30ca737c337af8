"""How the compute budget follows the machine (:class:`alignda.studio.budget.Budget`), with a
calibration given as numbers: the load only scales what a user is told to expect, nominal
costs only fall (a calibration taken on a busy machine is repeated when requests run faster),
and nothing a request does makes a later one more likely to be refused."""

from __future__ import annotations

import pytest

from alignda import studio as st
from alignda.studio import budget as bu

SPEEDS = bu.Speeds({"obsfree": 0.01, "repaint": 0.015, "dps": 0.03, "mmps": 0.06}, 0.2, 0.1)


class Calibrations:
    """Successive calibrations of a machine: each call returns the next (the last repeats)."""

    def __init__(self, *speeds: bu.Speeds) -> None:
        self.speeds, self.calls = list(speeds), 0

    def __call__(self) -> bu.Speeds:
        self.calls += 1
        return self.speeds[min(self.calls, len(self.speeds)) - 1]


def scaled(speeds: bu.Speeds, f: float) -> bu.Speeds:
    per_eval = {m: f * s for m, s in speeds.per_eval.items()}
    return bu.Speeds(per_eval, f * speeds.threedvar, f * speeds.solve)


def test_a_slow_request_raises_the_expected_time_not_the_estimate():
    budget = bu.Budget(60.0, Calibrations(SPEEDS))
    req = st.Request(mode="dps", steps=32, members=4)
    nominal = budget.analysis_seconds(req, 2)
    cost = budget.estimate(req)
    for _ in range(4):
        budget.learn(req, 2, 3.0 * nominal)  # other work shares the cores
    assert budget.estimate(req) == cost  # what may run is unchanged
    assert budget.expected(cost) > 2.5 * cost  # what the user is told to expect
    for _ in range(6):
        budget.learn(req, 2, nominal)  # idle again: the expected time falls back
    assert budget.expected(cost) == pytest.approx(cost, rel=0.05)


def test_a_pessimistic_calibration_is_repeated_and_only_ever_lowers_the_estimates():
    measure = Calibrations(scaled(SPEEDS, 4.0), SPEEDS, scaled(SPEEDS, 8.0))  # a busy start
    budget = bu.Budget(60.0, measure)
    heavy = st.Request(mode="dps", steps=64, members=8)
    before = budget.analysis_seconds(heavy, 2)
    budget.seconds = 0.5 * budget.estimate(heavy)
    assert not budget.fits(heavy)
    budget.learn(heavy, 2, 0.3 * budget.analysis_seconds(heavy, 2))  # ran much faster
    assert measure.calls == 2 and budget.analysis_seconds(heavy, 2) == pytest.approx(before / 4)
    assert budget.fits(heavy)
    budget._measured_at = float("-inf")  # allow the next one at once
    budget.learn(heavy, 2, 0.3 * budget.analysis_seconds(heavy, 2))
    assert measure.calls == 3  # measured slower this time: the faster calibration stays
    assert budget.analysis_seconds(heavy, 2) == pytest.approx(before / 4)


def test_recalibration_is_rate_limited():
    measure = Calibrations(scaled(SPEEDS, 2.0), SPEEDS)
    budget = bu.Budget(60.0, measure)
    req = st.Request(mode="dps", steps=32, members=4)
    budget.learn(req, 2, 0.3 * budget.analysis_seconds(req, 2))
    budget.learn(req, 2, 0.3 * budget.analysis_seconds(req, 2))
    assert measure.calls == 2  # the start-up one and one repeat, not one per request


def test_defaults_are_guaranteed_and_refusals_name_numbers():
    budget = bu.Budget(1.0, Calibrations(scaled(SPEEDS, 50.0)))  # a very slow machine
    assert budget.admit(st.Request()) > 1.0  # above the budget, run all the same
    assert budget.admit(st.Request(mode="mmps", steps=16, members=2)) > 1.0
    with pytest.raises(st.OverBudget, match=r"steps and members together \(e\.g\. 32 steps x 4\)"):
        budget.admit(st.Request(mode="mmps", steps=256, members=16))
    assert budget.largest_within(st.Request(mode="dps", steps=256, members=1), "steps", 256) == 32
    assert budget.slider_max("members") == 4 and budget.slider_max("steps") == 32


def test_busy_note_for_slow_or_contended_requests_only():
    budget = bu.Budget(60.0, Calibrations(SPEEDS))
    assert budget.busy_note(10.0, 12.0, None) is None
    assert budget.busy_note(10.0, 12.0, 0.05) is None  # a little waiting: our own threads
    slow = budget.busy_note(10.0, 31.0, None)
    assert slow is not None and "busy" in slow and "31 s" in slow and "3.1x" in slow
    contended = budget.busy_note(10.0, 12.0, 0.8)  # a calibration taken on the busy machine
    assert contended is not None and "waited for a CPU during 80 %" in contended
