"""What the page says next to the reward weights, for every mode the page offers."""

from __future__ import annotations

import pytest

from alignda.analysis.score import ANALYSIS_MODES, SamplerSettings
from alignda.modelcard import ALIGNMENT_NAME, read_benchmark
from alignda.paths import CHECKPOINT_DIR
from alignda.studio.notes import weights_note

MEASURED = read_benchmark(CHECKPOINT_DIR, ALIGNMENT_NAME)
TUNED = (16, 32, 64)


@pytest.mark.parametrize("mode", ANALYSIS_MODES)
def test_every_mode_says_what_the_weights_do(mode: str) -> None:
    settings = SamplerSettings(mode=mode)
    note = weights_note(settings, TUNED, MEASURED)
    assert note
    if not settings.latent:
        assert "first guess" in note
    if not settings.observed:
        assert "ignores the observations" in note
    measured = [r for r in MEASURED["tables"].get(mode, []) if r["metric"] == "mse"]
    if measured:  # the shipped figures of this mode, each with its interval and verdict
        for r in measured:
            assert f"{r['variant']} {r['change'][0]:+.1f} %" in note and r["verdict"] in note
    else:
        assert "not measured" in note


def test_steps_outside_the_tuning_are_flagged() -> None:
    at_tuned = weights_note(SamplerSettings(mode="dps", steps=32), TUNED, MEASURED)
    at_eight = weights_note(SamplerSettings(mode="dps", steps=8), TUNED, MEASURED)
    assert "can make the analysis worse" not in at_tuned
    assert "tuned at 16/32/64 steps: at 8 they can make the analysis worse" in at_eight


def test_a_folder_without_measurements_says_so() -> None:
    assert "not measured" in weights_note(SamplerSettings(mode="dps"), TUNED, None)
