"""The two delta sets: the latent sampler's (``aligned``) and the hybrid's own
(``aligned_hybrid``), each mixed where it was tuned; the hybrid falls back to the first."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from alignda.alignment.soup import ALIGNED, ALIGNED_HYBRID, delta_set, export_deltas
from alignda.analysis.score import SamplerSettings
from alignda.bundle import load_bundle
from alignda.paths import CHECKPOINT_DIR
from alignda.studio.notes import weights_note

HYBRID, DPS = SamplerSettings(mode="hybrid"), SamplerSettings(mode="dps")


def test_delta_set_names() -> None:
    assert delta_set(True) == ALIGNED and delta_set(False) == ALIGNED_HYBRID
    assert DPS.latent and not HYBRID.latent


def test_the_hybrid_mixes_its_own_deltas_where_the_folder_has_them(tmp_path: Path) -> None:
    assert load_bundle().hybrid_soup is not None  # shipped
    folder = Path(shutil.copytree(CHECKPOINT_DIR, tmp_path / "checkpoints"))
    manifest = folder / "manifest.json"
    entries = json.loads(manifest.read_text())
    del entries[ALIGNED_HYBRID]  # a folder whose deltas were tuned on the guided sampler only
    manifest.write_text(json.dumps(entries))
    shipped = load_bundle(folder)
    assert shipped.hybrid_soup is None
    assert shipped.delta_set(HYBRID) == ALIGNED == shipped.delta_set(DPS)
    assert shipped.tuned_steps(HYBRID) == shipped.tuned_steps(DPS) == (32,)
    weights = {"accuracy": 1.0}
    fallback = shipped.network(weights, HYBRID).state_dict()
    for k, v in shipped.network(weights, DPS).state_dict().items():
        torch.testing.assert_close(fallback[k], v)

    own = {n: {k: -0.5 * v for k, v in d.items()} for n, d in shipped.soup.deltas.items()}
    export_deltas(own, ALIGNED_HYBRID, folder, config={"sampler_steps": [16]})
    bundle = load_bundle(folder)
    assert bundle.hybrid_soup is not None
    assert bundle.delta_set(HYBRID) == ALIGNED_HYBRID and bundle.delta_set(DPS) == ALIGNED
    assert bundle.tuned_steps(HYBRID) == (16,) and bundle.tuned_steps(DPS) == (32,)
    ref = bundle.prior.state_dict()
    hybrid = bundle.network(weights, HYBRID).state_dict()
    dps = bundle.network(weights, DPS).state_dict()
    delta = bundle.soup.deltas["accuracy"]
    key = max(delta, key=lambda k: float(delta[k].abs().max()))  # a parameter the delta moves
    torch.testing.assert_close(hybrid[key], ref[key] - 0.5 * delta[key], atol=2e-3, rtol=0)
    torch.testing.assert_close(dps[key], ref[key] + delta[key])
    assert bundle.network(None, HYBRID) is bundle.prior
    method = bundle.prior_method(HYBRID, weights)
    torch.testing.assert_close(method.prior.denoiser.net.state_dict()[key], hybrid[key])


@pytest.mark.parametrize("tuned", [True, False])
def test_the_weights_note_says_where_the_hybrid_deltas_were_tuned(tuned: bool) -> None:
    note = weights_note(HYBRID, (32,), None, hybrid_tuned=tuned)
    assert ("tuned through that first guess" in note) == tuned
    assert ("tuned on guided (DPS)" in note) == (not tuned)
    assert "steps" not in note
    at_eight = weights_note(SamplerSettings(mode="hybrid", steps=8), (32,), None, tuned)
    assert "tuned at 32 steps: at 8 they can make the analysis worse" in at_eight
