"""Science core v2: balanced control variables, the controls codec, increment priors, EMA and
resumable training, decoder fine-tuning, the hybrid ensemble-variational analysis, and the
rule that aligned deltas belong to one prior."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from alignda.alignment.soup import export_deltas, load_deltas
from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.methods import prior_method
from alignda.analysis.score import SamplerSettings, analyse
from alignda.analysis.threedvar import BackgroundError, ThreeDVar
from alignda.checkpoints import CheckpointError, read_manifest, register
from alignda.model.codec import LatentCodec
from alignda.model.diffusion import EpsilonDenoiser
from alignda.model.nn.dit import DiT, DiTConfig
from alignda.model.nn.vae import VAE, VAEConfig
from alignda.obs.operator import Observations, observe_case
from alignda.training.loop import TrainConfig, load_state, train
from alignda.training.pipeline import Recipe, fit_to_budget, scaled
from alignda.training.prior import export_prior
from alignda.training.vae import ReconstructionLoss
from alignda.world.cases import Cases
from alignda.world.controls import ControlTransform, balanced_height
from alignda.world.generation import GenerateConfig
from alignda.world.stats import WorldStats

CASES = "assets/test_cases.nc"


@pytest.fixture(scope="module")
def states() -> np.ndarray:
    cases = Cases.open(CASES)
    return np.stack([cases.truth_state(t) for t in cases.times[:3]])


@pytest.fixture(scope="module")
def stats() -> WorldStats:
    return WorldStats.load("checkpoints/world_stats.safetensors")


def test_controls_round_trip_and_balance(states: np.ndarray) -> None:
    ct = ControlTransform()
    x = torch.from_numpy(states)
    back = ct.to_state(ct.to_controls(x))
    scale = torch.tensor([240.0, 10.0, 10.0, 0.3]).reshape(1, -1, 1, 1)
    assert float(((back - x) / scale).abs().max()) < 1e-3  # band-limited world: exact to float
    # A pure streamfunction control decodes to winds and the height in linear balance with it.
    c = torch.zeros_like(x[:1])
    c[:, 0] = ct.to_controls(x[:1])[:, 0]
    y = ct.to_state(c)
    sp = ct.sphere
    zb = sp.to_grid(balanced_height(sp, sp.to_spec(c[:, 0])))
    assert torch.allclose(y[:, 0], zb, atol=1e-2)
    assert float(y[:, 1].abs().max()) > 1.0  # it carries wind


def test_controls_codec_decodes_band_limited_states(stats: WorldStats) -> None:
    torch.manual_seed(0)
    cfg = VAEConfig(latent_channels=4, width=16, fine_width=8, blocks=1, space="controls")
    codec = LatentCodec(VAE(cfg), stats, control_moments=(torch.zeros(4), torch.ones(4) * 1e3))
    z = torch.randn(2, 4, 16, 32)
    with torch.no_grad():
        x = codec.decode(z)
    assert x.shape == (2, 4, 64, 128) and torch.isfinite(x).all()
    sp = codec.controls.sphere
    again = sp.to_grid(sp.to_spec(x[:, [0, 3]]))
    assert torch.allclose(again, x[:, [0, 3]], atol=1e-3 * float(x[:, 0].abs().max().detach()))
    assert codec.encode(x).shape == (2, 4, 16, 32)
    with pytest.raises(ValueError, match="controls"):
        LatentCodec(VAE(cfg), stats)


def test_vae_space_is_checked() -> None:
    with pytest.raises(ValueError, match="space"):
        VAEConfig(space="spectral")


def test_increment_prior_maps_latents_both_ways() -> None:
    net = DiT(
        DiTConfig(latent_channels=2, height=4, width=8, dim=16, depth=1, heads=2, increment=True)
    )
    net.increment_scale.copy_(torch.tensor([0.5, 2.0]).reshape(1, 2, 1, 1))
    zb, z = torch.randn(1, 2, 4, 8), torch.randn(3, 2, 4, 8)
    x = net.from_latent(z, zb)
    assert torch.allclose(net.to_latent(x, zb), z, atol=1e-6)
    assert torch.allclose(x[:, 1], (z[:, 1] - zb[:, 1]) / 2.0)
    den = EpsilonDenoiser(net)
    assert torch.allclose(den.to_latent(x, zb), z, atol=1e-6)
    plain = EpsilonDenoiser(
        DiT(DiTConfig(latent_channels=2, height=4, width=8, dim=16, depth=1, heads=2))
    )
    assert torch.equal(plain.to_latent(x, zb), x)


def test_training_resumes_and_keeps_ema(tmp_path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    target = torch.tensor([[1.0, -2.0, 0.5]])

    def loss(m, gen):
        x = torch.randn(16, 3, generator=gen)
        return ((m(x) - x @ target.T) ** 2).mean()

    cfg = TrainConfig(
        steps=400, batch=16, lr=0.05, warmup=1, val_every=200, save_every=200, ema=0.9
    )
    train(model, loss, replace(cfg, steps=200), tmp_path, progress=False)
    saved = load_state(
        tmp_path / "state.safetensors",
        torch.nn.Linear(3, 1),
        torch.optim.AdamW(torch.nn.Linear(3, 1).parameters()),
    )
    assert saved == 200
    log = train(model, loss, cfg, tmp_path, progress=False)  # resumes at 200, runs to 400
    assert [e["step"] for e in log] == [400]
    lines = [json.loads(s) for s in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines] == [200, 400] and lines[1]["loss"] < lines[0]["loss"]
    # The model ends with its EMA weights, close to the target after warm-up of the decay.
    assert torch.allclose(model.weight, target, atol=0.05)


def test_reconstruction_loss_is_zero_for_a_perfect_codec_and_sees_balance(stats) -> None:
    crit = ReconstructionLoss(torch.ones(64), kl_weight=0.0, balance_weight=1.0)
    x = torch.from_numpy(Cases.open(CASES).truth_state(Cases.open(CASES).times[0]))[None]
    bent = x.clone()
    bent[:, 1] += 1.0  # a uniform unbalanced wind error of 1 m/s
    ageo = crit.ageo(bent) - crit.ageo(x)
    assert float(ageo[:, 0].abs().max()) == pytest.approx(1.0, abs=1e-3)


def test_budget_cuts_steps_and_never_raises() -> None:
    r = Recipe()
    fitted = fit_to_budget(r, 600.0, {"vae": 0.1, "prior": 0.1})
    assert fitted.vae_train.steps == int(0.85 * 0.4 * 600 / 0.1)
    assert fitted.prior_train.steps == int(0.85 * 0.6 * 600 / 0.1)
    assert fit_to_budget(r, 1e9, {"vae": 0.1, "prior": 0.1}).prior_train.steps == 30000
    only_prior = fit_to_budget(r, 600.0, {"vae": 0.1, "prior": 0.1}, ("data", "prior"))
    assert only_prior.prior_train.steps == int(0.85 * 600 / 0.1)
    assert only_prior.vae_train == r.vae_train  # stages not trained keep their settings
    per_step = {"vae": 0.1, "decoder": 0.05, "prior": 0.1}
    decoder = fit_to_budget(r, 600.0, per_step, ("data", "decoder"))
    assert decoder.decoder_train.steps == int(0.85 * 600 / 0.05)
    assert (
        decoder.decoder_train.batch == r.decoder_train.batch
        and decoder.prior_train == r.prior_train
    )
    both = fit_to_budget(r, 600.0, per_step, ("vae", "decoder"))
    assert both.vae_train.steps == int(0.85 * 0.5 * 600 / 0.1)
    small = scaled(r, 0.01)
    assert small.generate.n_trajectories == 3 and small.vae_train.steps == 120
    assert scaled(replace(r, data_parts=8), 0.01).generate.n_trajectories == 24


@pytest.mark.slow
def test_rebuild_data_in_parts_resumes_at_the_parts_kept(tmp_path, capfd) -> None:
    from alignda.training.pipeline import rebuild

    gen = GenerateConfig(n_trajectories=6, spinup_days=0.25, record_days=2.5, seed=3)
    recipe = replace(Recipe(), generate=gen, data_parts=2)
    kw = {"out": tmp_path / "ck", "data": tmp_path / "data", "runs": tmp_path / "runs"}
    rebuild(recipe, stages=("data", "stats"), progress=False, data_workers=2, **kw)
    said = capfd.readouterr().out  # the two worker processes' lines too
    assert "part 1/2 generated" in said and "part 2/2 generated" in said
    (tmp_path / "data" / "part_01" / "train.nc").unlink()  # a stage stopped in part 2
    stamp = tmp_path / "data" / "part_00" / "generate_config.json"
    kept = json.loads(stamp.read_text())
    stamp.write_text(json.dumps({**kept, "batch": 7}))  # the batch size is only speed
    rebuild(recipe, stages=("data", "stats"), progress=False, **kw)
    said = capfd.readouterr().out
    assert "reading cases from" in said and "part_00" in said
    assert "part 2/2 generated" in said and "part 1/2 generated" not in said
    stamp.write_text(json.dumps({**kept, "seed": 8}))  # another generation: made again
    rebuild(recipe, stages=("data", "stats"), progress=False, **kw)
    assert "part 1/2 generated" in capfd.readouterr().out
    train = Cases.open(tmp_path / "data" / "part_01" / "train.nc")
    assert set(np.unique(train.truth.trajectory.values)) <= {3, 4, 5}
    shutil.rmtree(tmp_path / "data" / "part_01")  # the first part alone: nothing generated
    rebuild(recipe, stages=("data", "stats"), progress=False, use_parts=1, **kw)
    said = capfd.readouterr().out
    assert "part_00" in said and "part_01" not in said and "generated" not in said
    first = Cases.open(tmp_path / "data" / "part_00" / "train.nc")
    record = read_manifest(tmp_path / "ck")["threedvar_b"]["data"]
    assert record["parts"] == "the first 1 of 2" and record["cases"] == len(first)
    with pytest.raises(ValueError, match="cannot use 3 of 2 data parts"):
        rebuild(recipe, stages=("data",), progress=False, use_parts=3, **kw)


@pytest.mark.slow
def test_decoder_finetune_moves_the_decoder_alone_and_keeps_the_record(tmp_path) -> None:
    from alignda.model.codec import load_codec
    from alignda.model.prior import load_prior
    from alignda.training.vae import export_finetuned_decoder, finetune_decoder

    folder = tmp_path / "ck"
    shutil.copytree("checkpoints", folder)
    before = load_codec(folder)
    x = torch.from_numpy(Cases.open(CASES).truth_state(Cases.open(CASES).times[0]))[None]
    cfg = TrainConfig(steps=3, batch=2, lr=1e-3, warmup=1, val_every=3, save_every=3)
    tuned = finetune_decoder(load_codec(folder), [CASES], CASES, tmp_path / "run", cfg)
    note = "decoder fine-tune in a test"
    export_finetuned_decoder(tuned, folder, cfg, CASES, figures={"step": 3}, note=note)

    after = load_codec(folder)  # sha256 re-registered
    assert torch.equal(after.encode(x), before.encode(x))  # latents unchanged
    changed = [
        k
        for k, v in after.vae.decoder.state_dict().items()
        if not torch.equal(v, before.vae.decoder.state_dict()[k])
    ]
    assert changed
    config = read_manifest(folder)["vae"]["config"]
    old = read_manifest("checkpoints")["vae"]["config"]
    assert config["provenance"] == [*old["provenance"], note]  # earlier steps kept
    assert config["decoder_finetune"]["train"]["steps"] == 3
    assert config["vae"] == old["vae"]
    assert load_prior(directory=folder) is not None  # the prior still belongs to the folder
    export_finetuned_decoder(tuned, folder, cfg, "more cases")  # without a note: described
    provenance = read_manifest(folder)["vae"]["config"]["provenance"]
    assert provenance[:-1] == [*old["provenance"], note] and "more cases" in provenance[-1]


def test_hybrid_without_ensemble_weight_is_3dvar(states: np.ndarray) -> None:
    var = ThreeDVar(BackgroundError.load("checkpoints/threedvar_b.safetensors"))
    cases = Cases.open(CASES)
    t = cases.times[0]
    truth, bg = cases.truth_state(t), cases.background_state(t)
    obs = observe_case(truth, 0, density=0.01)
    rng = np.random.default_rng(0)
    members = bg[None] + rng.normal(size=(3, *bg.shape)).astype(np.float32) * 5.0
    ens = HybridEnVar(var, beta=0.0).analyse(members, obs, bg)
    np.testing.assert_allclose(ens.mean(0), var.analyse(bg, obs), rtol=1e-5, atol=1e-2)
    assert ens.std(0).max() > 0  # perturbed members
    with pytest.raises(ValueError, match="at least 2"):
        HybridEnVar(var).analyse(members[:1], obs, bg)
    with pytest.raises(ValueError, match="beta"):
        HybridEnVar(var, beta=1.5)


def test_hybrid_mode_needs_its_parts(states: np.ndarray) -> None:
    with pytest.raises(ValueError, match="HybridEnVar"):
        prior_method(None, None, SamplerSettings(mode="hybrid", members=2))
    with pytest.raises(ValueError, match="guidance of the latent sampler"):
        analyse(None, None, states[0], None, SamplerSettings(mode="hybrid"))
    var = ThreeDVar(BackgroundError.load("checkpoints/threedvar_b.safetensors"))
    hybrid = prior_method(None, None, SamplerSettings(mode="hybrid"), HybridEnVar(var))
    no_obs = Observations(
        mask=np.zeros(states[0].shape, bool), values=np.zeros(states[0].shape), noise_std=[1.0] * 4
    )
    with pytest.raises(ValueError, match="observation"):
        hybrid.analyse(states[0], no_obs)


def test_deltas_of_another_prior_are_refused(tmp_path) -> None:
    cfg = DiTConfig(latent_channels=2, height=4, width=8, dim=16, depth=1, heads=2)
    net = DiT(cfg)
    export_prior(net, "prior", tmp_path)
    delta = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}
    sha = json.loads((tmp_path / "manifest.json").read_text())["prior"]["sha256"]
    export_deltas({"accuracy": delta}, "aligned", tmp_path, config={"prior_sha256": sha})
    assert set(load_deltas("aligned", tmp_path)) == {"accuracy"}
    torch.manual_seed(1)
    export_prior(DiT(cfg), "prior", tmp_path)  # a new prior: the deltas no longer belong
    with pytest.raises(CheckpointError, match="re-run"):
        load_deltas("aligned", tmp_path)
    register("aligned", tmp_path / "aligned.safetensors", directory=tmp_path)  # names none
    with pytest.raises(CheckpointError, match="aligned on prior None"):
        load_deltas("aligned", tmp_path)
