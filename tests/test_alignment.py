"""Preference pairs, Diffusion-DPO and the reward soup of user weights."""

import copy
import math

import numpy as np
import pytest
import torch

from alignda.alignment.dpo import dpo_loss
from alignda.alignment.preferences import Preferences, preference_pairs
from alignda.alignment.soup import (
    DELTAS,
    PRESETS,
    RewardSoup,
    export_deltas,
    load_deltas,
    normalise_weights,
)
from alignda.checkpoints import ChecksumError
from alignda.model.nn.dit import DiT, DiTConfig

TINY = DiTConfig(latent_channels=2, height=4, width=8, dim=16, depth=1, heads=2)


def tiny_net(seed: int = 0) -> DiT:
    torch.manual_seed(seed)
    net = DiT(TINY)
    for p in net.parameters():  # the zero-initialised output layers would hide any change
        p.data.normal_(0, 0.1)
    return net.eval()


def random_delta(net: DiT, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: 0.05 * torch.randn(v.shape, generator=g) for k, v in net.state_dict().items()}


def test_pairs_per_reward_are_top_vs_bottom() -> None:
    acc = np.array([[0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.4]])
    rewards = {"accuracy": acc, "forecast": -acc, "physics": acc}
    pairs = preference_pairs(rewards, "accuracy", fraction=0.25)
    assert {(int(w), int(ell)) for _, w, ell in pairs} == {(0, 1), (0, 5), (6, 1), (6, 5)}
    # forecast is the reverse ranking: winners and losers swap
    fpairs = preference_pairs(rewards, "forecast", fraction=0.25)
    assert {(int(w), int(ell)) for _, w, ell in fpairs} == {(1, 0), (5, 0), (1, 6), (5, 6)}
    # multi needs agreement on all rewards: accuracy and forecast disagree everywhere
    assert len(preference_pairs(rewards, "multi", fraction=0.5)) == 0


def test_multi_pairs_need_top_on_every_reward() -> None:
    a = np.array([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    rewards = {"accuracy": a, "forecast": a.copy(), "physics": a.copy()}
    rewards["physics"][0] = [1.0, 3.0, 2.0, 4.0]  # background 0: candidate 0 not top on physics
    pairs = preference_pairs(rewards, "multi", fraction=0.25)
    assert pairs.tolist() == [[1, 3, 0]]
    assert len(np.unique(pairs, axis=0)) == len(pairs)


@pytest.mark.parametrize("kind, fraction", [("speed", 0.25), ("accuracy", 0.0), ("multi", 0.7)])
def test_bad_pair_settings(kind: str, fraction: float) -> None:
    r = {k: np.zeros((1, 4)) for k in ("accuracy", "forecast", "physics")}
    with pytest.raises(ValueError):
        preference_pairs(r, kind, fraction)


def test_dpo_loss_of_the_reference_is_log2_and_moves_with_training() -> None:
    ref = tiny_net().requires_grad_(False)
    model = copy.deepcopy(ref).requires_grad_(True)
    g = torch.Generator().manual_seed(0)
    zb = torch.randn(32, 2, 4, 8, generator=g)
    zw = zb + 0.1 * torch.randn(32, 2, 4, 8, generator=g)  # winners: near the background
    zl = -zb + torch.randn(32, 2, 4, 8, generator=g)
    loss, _ = dpo_loss(model, ref, zw, zl, zb, beta=100.0, gen=torch.Generator().manual_seed(1))
    assert float(loss.detach()) == pytest.approx(math.log(2), abs=1e-6)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(60):
        loss, _ = dpo_loss(model, ref, zw, zl, zb, 100.0, torch.Generator().manual_seed(step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    loss, acc = dpo_loss(model, ref, zw, zl, zb, 100.0, torch.Generator().manual_seed(999))
    assert float(loss.detach()) < math.log(2) - 0.05
    assert float(acc) > 0.6


def test_weights_are_validated_and_normalised() -> None:
    assert normalise_weights([1, 1, 2]) == {
        "accuracy": 0.25,
        "forecast": 0.25,
        "physics": 0.5,
        "multi": 0.0,
    }
    assert normalise_weights({}) == dict.fromkeys(DELTAS, 0.0)
    assert normalise_weights([0, 0, 0]) == dict.fromkeys(DELTAS, 0.0)
    assert normalise_weights(PRESETS["paper -M"])["multi"] == 1.0


@pytest.mark.parametrize(
    "bad, match",
    [
        ([1.0, -0.5, 0.0], ">= 0"),
        ([1.0, float("nan"), 0.0], "finite"),
        ([1.0, float("inf"), 0.0], "finite"),
        ([1.0, 2.0], "expected 3 weights"),
        ([1.0] * 5, "expected 3 weights"),
        ({"speed": 1.0}, "unknown reward weight"),
        (["a", 1.0, 1.0], "must be a number"),
    ],
)
def test_bad_weights_give_clear_errors(bad, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        normalise_weights(bad)


def test_soup_combines_deltas_linearly_without_touching_the_reference() -> None:
    ref = tiny_net()
    before = {k: v.clone() for k, v in ref.state_dict().items()}
    deltas = {n: random_delta(ref, i) for i, n in enumerate(DELTAS)}
    soup = RewardSoup(ref, deltas)
    g = torch.Generator().manual_seed(3)
    z, zb, t = torch.randn(2, 2, 4, 8, generator=g), torch.randn(2, 2, 4, 8, generator=g), None
    t = torch.tensor([0.3, 0.7])
    with torch.no_grad():
        plain = ref(z, t, z_b=zb)
        assert torch.equal(soup.network([0, 0, 0])(z, t, z_b=zb), plain)
        # weight 1 on one delta = a network loaded with theta_ref + delta
        manual = copy.deepcopy(ref)
        manual.load_state_dict({k: v + deltas["physics"][k] for k, v in before.items()})
        got = soup.network({"physics": 2.0})(z, t, z_b=zb)
        assert torch.allclose(got, manual(z, t, z_b=zb), atol=1e-6)
        mixed = soup.parameters_for([1, 1, 0])
        for k, v in before.items():
            want = v + 0.5 * deltas["accuracy"][k] + 0.5 * deltas["forecast"][k]
            assert torch.allclose(mixed[k], want, atol=1e-7)
    for k, v in ref.state_dict().items():
        assert torch.equal(v, before[k])


def test_deltas_round_trip_and_tamper_check(tmp_path) -> None:
    ref = tiny_net()
    deltas = {n: random_delta(ref, i) for i, n in enumerate(DELTAS)}
    path = export_deltas(deltas, "aligned", tmp_path)
    back = load_deltas("aligned", tmp_path)
    assert set(back) == set(DELTAS)
    for n in DELTAS:
        for k, v in deltas[n].items():
            assert torch.allclose(back[n][k], v, rtol=1e-3, atol=1e-6)  # stored as float16
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match="does not match"):
        load_deltas("aligned", tmp_path)


def test_preferences_round_trip(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    prefs = Preferences(
        torch.randn(3, 2, 4, 8, generator=g),
        torch.randn(3, 5, 2, 4, 8, generator=g),
        {k: np.random.default_rng(0).normal(size=(3, 5)) for k in ("accuracy", "physics")},
        np.array(["2000-01-01T00", "2000-01-01T12", "2000-01-02T00"], dtype="datetime64[ns]"),
        {"candidates": 5},
    )
    back = Preferences.load(prefs.save(tmp_path / "p.safetensors"))
    assert torch.equal(back.z, prefs.z) and torch.equal(back.zb, prefs.zb)
    assert np.array_equal(back.times, prefs.times)
    for k, v in prefs.rewards.items():
        assert np.array_equal(back.rewards[k], v)
    assert back.config == {"candidates": 5}


def test_a_diverging_sampler_gives_a_clear_error() -> None:
    from alignda.analysis.score import DivergenceError, SamplerSettings, analyse
    from alignda.model.codec import load_codec
    from alignda.model.diffusion import EpsilonDenoiser
    from alignda.paths import SHIPPED_CASES
    from alignda.world.cases import Cases

    class NaNNet(torch.nn.Module):
        def forward(self, x_t, t, z_b):
            return x_t * float("nan")

    cases = Cases.open(SHIPPED_CASES)
    bg = cases.background_state(cases.times[0])
    settings = SamplerSettings(mode="obsfree", steps=2, members=1)
    with pytest.raises(DivergenceError, match="obsfree sampler diverged"):
        analyse(EpsilonDenoiser(NaNNet()), load_codec(), bg, None, settings)
