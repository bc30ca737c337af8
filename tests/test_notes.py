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


@pytest.mark.slow
def test_cases_of_another_world_are_said_and_scored_in_their_world(tmp_path) -> None:
    """Twin-world cases of another world version than the models': the page says the prior is
    outside its training distribution, and forecasts and the balance run in the cases' world."""
    from dataclasses import replace

    from alignda import studio as st
    from alignda.paths import SHIPPED_CASES
    from alignda.studio.notes import OTHER_WORLD_NOTE
    from alignda.world.cases import Cases
    from alignda.world.generation import GenerateConfig, with_world

    shipped = st.Studio()
    assert not shipped.other_world and shipped.world == shipped.bundle.world
    cases = Cases.open(SHIPPED_CASES)
    v2 = with_world(GenerateConfig(), "v2")
    relabelled = Cases(
        cases.truth, cases.background, {**cases.attrs, "generate_config": v2.to_json()}
    )
    path = relabelled.save(tmp_path / "v2.nc")
    studio = st.Studio(cases=path)
    assert studio.other_world and studio.world == v2.world != studio.bundle.world
    assert studio.forecaster.world == v2.world
    req = replace(st.Request(case="0"), mode="dps", steps=4, members=1)
    result = studio.run(req)
    assert OTHER_WORLD_NOTE in result.notes and result.world == v2.world
    assert OTHER_WORLD_NOTE not in shipped.run(req).notes
