"""Provenance of the shipped deltas: which delta ``alignda align-select`` chooses per kind
after a selection, and the record exported with the deltas (of ``align`` and ``align-select``).

A kind gets its newly selected delta only when it beats the shipped one on validation (or
nothing shipped can be compared); otherwise the shipped delta stays, with its recorded origin.
The exported record keeps, for the kinds kept, what the shipped record said about them
(settings, selection, data, sampler step counts), so every shipped delta can be traced to the
run that made it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from alignda.alignment.dpo import DPOConfig

#: The origin of a shipped delta whose record does not say where it came from.
PREVIOUSLY_SHIPPED = "previously shipped"

Deltas = Mapping[str, Mapping[str, torch.Tensor]]


class Trained(Protocol):
    """A trainer of the sweep as the record sees it: its name and its setting (a dataclass;
    a reward-gradient setting has ``schedules``, the sampler step counts of its rollouts)."""

    name: str
    setting: Any


@dataclass
class Choice:
    """The deltas chosen per kind, where each comes from (a selection key ``run/kind/...`` or
    the shipped record's origin) and the kinds whose new delta replaces the shipped one."""

    deltas: dict[str, Mapping[str, torch.Tensor]]
    origin: dict[str, str]
    improved: set[str]


def shipped_record(manifest: Mapping, shipped: Deltas | None, name: str = "aligned") -> dict:
    """The config recorded with the shipped deltas ``name`` (empty when none are shipped)."""
    return dict(manifest.get(name, {}).get("config", {})) if shipped else {}


def choose(
    selection: Mapping[str, Mapping], new: Deltas, shipped: Deltas | None, record: Mapping
) -> Choice:
    """Per kind of ``selection``: the newly selected delta (``new``) when nothing shipped can be
    compared (no shipped deltas, or no shipped score) or its score beats the shipped one's;
    else the shipped delta. Shipped kinds keep their recorded origin
    (:data:`PREVIOUSLY_SHIPPED` if unrecorded), those not selected included."""
    deltas: dict[str, Mapping[str, torch.Tensor]] = {}
    origin: dict[str, str] = {}
    improved: set[str] = set()
    for k, s in selection.items():
        if shipped is None or s["shipped_score"] is None or s["score"] > s["shipped_score"]:
            deltas[k], origin[k] = new[k], s["key"]
            improved.add(k)
    for k in shipped or {}:
        deltas.setdefault(k, shipped[k])
        origin.setdefault(k, record.get("origin", {}).get(k, PREVIOUSLY_SHIPPED))
    return Choice(deltas, origin, improved)


def export_config(
    choice: Choice,
    selection: Mapping[str, Mapping],
    trainers: Sequence[Trained],
    record: Mapping,
    *,
    validation: dict,
    preferences: dict | None,
    reward_tune: dict | None,
    prior_sha256: str,
) -> dict:
    """The config exported with the chosen deltas.

    It holds the settings of the runs the chosen deltas come from (this sweep's trainers, and
    recorded settings of earlier runs still in use), every kind's origin and selection (the
    kept kinds' from ``record``), the ``validation`` the selection used, the data of this
    sweep (``preferences``, ``reward_tune``; else the record's), the sampler step counts the
    deltas were tuned at, and the prior's digest. Nothing is taken from ``record`` when every
    kind is new.
    """
    used = {o.split("/")[0] for o in choice.origin.values()}
    settings = [{"name": t.name, **vars(t.setting)} for t in trainers]
    names = {st["name"] for st in settings}
    settings += [st for st in record.get("settings", []) if st["name"] in used - names]
    kept = set(choice.origin) - choice.improved
    previous = record if kept else {}  # the record of the kinds kept
    steps = {n for t in trainers if t.name in used for n in getattr(t.setting, "schedules", ())}
    steps |= set(previous.get("sampler_steps", ()))
    return {
        "recipe": "alignda align-select",
        "settings": settings,
        "origin": choice.origin,
        "selection": {
            **{k: v for k, v in previous.get("selection", {}).items() if k in kept},
            **{k: selection[k] for k in choice.improved},
        },
        "validation": validation,
        "preferences": preferences if preferences is not None else previous.get("preferences"),
        "reward_tune": reward_tune if reward_tune is not None else previous.get("reward_tune"),
        "sampler_steps": sorted(steps),
        "prior_sha256": prior_sha256,
    }


def dpo_config(cfg: DPOConfig, preferences: dict, prior_sha256: str) -> dict:
    """The config exported with deltas of one Diffusion-DPO run (``alignda align``): its
    settings, the preference data's config and the prior's digest."""
    dpo = {"beta": cfg.beta, "fraction": cfg.fraction, "multi_fraction": cfg.multi_fraction}
    return {
        "dpo": {**dpo, "train": cfg.train.to_dict()},
        "preferences": preferences,
        "prior_sha256": prior_sha256,
    }
