"""The provenance policy of align-select: which delta is chosen per kind, and what record is
exported with the chosen deltas (small fake selections, no training)."""

from dataclasses import dataclass

import torch

from alignda.alignment.dpo import DPOConfig
from alignda.alignment.provenance import (
    PREVIOUSLY_SHIPPED,
    choose,
    dpo_config,
    export_config,
    shipped_record,
)
from alignda.training.loop import TrainConfig


def delta(value: float) -> dict[str, torch.Tensor]:
    return {"w": torch.full((2,), value)}


def entry(key: str, score: float, shipped_score: float | None) -> dict:
    snapshot = f"{key}.safetensors"
    return {
        "key": key,
        "snapshot": snapshot,
        "scale": 1.0,
        "score": score,
        "shipped_score": shipped_score,
    }


@dataclass
class FakeSetting:
    lr: float
    schedules: tuple[int, ...] = ()


@dataclass
class FakeTrainer:
    name: str
    setting: FakeSetting


SELECTION = {
    "accuracy": entry("tune_a/accuracy/step_2/x1", 0.10, 0.05),  # beats the shipped delta
    "physics": entry("dpo_b/physics/step_1/x1", 0.01, 0.02),  # loses to it
    "forecast": entry("tune_a/forecast/step_2/x1", -0.5, None),  # shipped one never judged
}
NEW = {k: delta(i + 1.0) for i, k in enumerate(SELECTION)}
SHIPPED = {"accuracy": delta(10.0), "physics": delta(20.0), "multi": delta(30.0)}
RECORD = {
    "origin": {"physics": "old_run/physics/step_9/x1"},  # multi's origin was not recorded
    "settings": [{"name": "old_run", "lr": 1.0}, {"name": "unused_run", "lr": 2.0}],
    "selection": {"physics": {"key": "old_run/physics/step_9/x1"}, "multi": {"key": "?"}},
    "preferences": {"candidates": 16},
    "reward_tune": {"cases": "old.nc"},
    "sampler_steps": [32],
}


def test_a_new_delta_is_chosen_only_where_it_beats_the_shipped_one() -> None:
    choice = choose(SELECTION, NEW, SHIPPED, RECORD)
    assert choice.improved == {"accuracy", "forecast"}
    assert choice.deltas["accuracy"] is NEW["accuracy"]
    assert choice.deltas["forecast"] is NEW["forecast"]  # no shipped score: nothing to beat
    assert choice.deltas["physics"] is SHIPPED["physics"]  # kept: it scores higher
    assert choice.deltas["multi"] is SHIPPED["multi"]  # not selected this time: kept
    assert choice.origin == {
        "accuracy": "tune_a/accuracy/step_2/x1",
        "forecast": "tune_a/forecast/step_2/x1",
        "physics": "old_run/physics/step_9/x1",
        "multi": PREVIOUSLY_SHIPPED,
    }


def test_without_shipped_deltas_every_selected_delta_is_new() -> None:
    choice = choose(SELECTION, NEW, None, {})
    assert choice.improved == set(SELECTION)
    assert choice.deltas == NEW
    assert choice.origin == {k: s["key"] for k, s in SELECTION.items()}


def test_ties_keep_the_shipped_delta() -> None:
    tie = {"physics": entry("dpo_b/physics/step_1/x1", 0.02, 0.02)}
    choice = choose(tie, {"physics": delta(1.0)}, SHIPPED, RECORD)
    assert choice.improved == set() and choice.deltas["physics"] is SHIPPED["physics"]


def test_the_record_traces_every_chosen_delta() -> None:
    choice = choose(SELECTION, NEW, SHIPPED, RECORD)
    trainers = [
        FakeTrainer("tune_a", FakeSetting(1e-5, (16, 64))),
        FakeTrainer("dpo_b", FakeSetting(3e-6)),
    ]
    config = export_config(
        choice,
        SELECTION,
        trainers,
        RECORD,
        validation={"n": 6},
        preferences=None,  # this sweep had no preference data: the record's is kept
        reward_tune={"cases": "new.nc"},
        prior_sha256="abc",
    )
    assert config["origin"] == choice.origin
    names = [st["name"] for st in config["settings"]]
    assert names == ["tune_a", "dpo_b", "old_run"]  # unused_run made nothing chosen
    assert config["settings"][0] == {"name": "tune_a", "lr": 1e-5, "schedules": (16, 64)}
    assert config["selection"] == {
        "physics": RECORD["selection"]["physics"],  # kept: its old selection
        "multi": RECORD["selection"]["multi"],
        "accuracy": SELECTION["accuracy"],
        "forecast": SELECTION["forecast"],
    }
    assert config["preferences"] == {"candidates": 16}
    assert config["reward_tune"] == {"cases": "new.nc"}
    assert config["sampler_steps"] == [16, 32, 64]  # tune_a's rollouts and the kept ones'
    assert config["validation"] == {"n": 6} and config["prior_sha256"] == "abc"
    assert config["recipe"] == "alignda align-select"


def test_when_every_kind_is_new_nothing_comes_from_the_record() -> None:
    selection = {k: entry(f"tune_a/{k}/step_2/x1", 1.0, 0.0) for k in SHIPPED}
    choice = choose(selection, {k: delta(1.0) for k in SHIPPED}, SHIPPED, RECORD)
    assert choice.improved == set(SHIPPED)
    config = export_config(
        choice,
        selection,
        [FakeTrainer("tune_a", FakeSetting(1e-5, (32,)))],
        RECORD,
        validation={},
        preferences=None,
        reward_tune=None,
        prior_sha256="abc",
    )
    assert [st["name"] for st in config["settings"]] == ["tune_a"]
    assert config["selection"] == selection
    assert config["preferences"] is None and config["reward_tune"] is None
    assert config["sampler_steps"] == [32]


def test_shipped_record_and_dpo_config() -> None:
    manifest = {"aligned": {"config": RECORD}, "prior": {"sha256": "abc"}}
    assert shipped_record(manifest, SHIPPED) == RECORD
    assert shipped_record(manifest, None) == {}  # no shipped deltas: no record to keep
    assert shipped_record({"prior": {}}, SHIPPED) == {}
    train = TrainConfig(steps=3, batch=2, lr=1e-5)
    cfg = DPOConfig(beta=100.0, fraction=0.25, multi_fraction=0.5, train=train)
    assert dpo_config(cfg, {"candidates": 16}, "abc") == {
        "dpo": {"beta": 100.0, "fraction": 0.25, "multi_fraction": 0.5, "train": train.to_dict()},
        "preferences": {"candidates": 16},
        "prior_sha256": "abc",
    }
