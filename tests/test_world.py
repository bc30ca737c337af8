"""The shallow-water world: conservation, stationarity, balance, determinism."""

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch_harmonics as th

from alignda.world import sphere
from alignda.world.balance import geostrophic_deviation
from alignda.world.model import ShallowWaterModel, WorldConfig


def lat_lon(model):
    return model.sphere.grid.lat, model.sphere.grid.lon


@pytest.fixture(scope="module")
def model():
    return ShallowWaterModel()


def test_mass_conserved_to_roundoff_without_forcing():
    cfg = replace(
        WorldConfig(), noise_amplitude=0.0, relax_days=1e12, drag_days=1e12, tracer_relax_days=1e12
    )
    m = ShallowWaterModel(cfg, dtype=torch.float64)
    s = m.random_state(2, torch.Generator().manual_seed(1))
    s[:, 0, 0, 0] += 50.0  # a non-zero mean height anomaly must be kept exactly
    before = m.mass(s).clone()
    s, _ = m.run(s, 72)  # one day
    drift = (m.mass(s) - before).abs().max().item()
    assert drift < 1e-10 * m.phibar, drift


@pytest.mark.slow
def test_long_run_stationary_energy_and_activity(model):
    g = torch.Generator().manual_seed(2)
    s = model.random_state(1, g)
    f = model.new_forcing(1, g)
    energies, eddy = [], []
    for _ in range(10):  # 30 model days
        s, f = model.run(s, 3 * 72, f, g)
        energies.append(model.energy(s).mean().item())
        x = model.to_physical(s)
        eddy.append((x[:, 2] ** 2).mean().sqrt().item())  # rms meridional wind
    e = np.array(energies)
    assert np.all(np.isfinite(e))
    assert e.max() / e.min() < 1.01  # total energy is dominated by potential; bounded
    assert min(eddy[3:]) > 2.0, eddy  # weather persists: no decay to rest
    assert max(eddy) < 30.0, eddy  # no blow-up of the flow


def test_initial_states_near_geostrophic_balance(model):
    s = model.random_state(4, torch.Generator().manual_seed(3))
    x = model.to_physical(s).numpy()
    d = geostrophic_deviation(x[:, 0], x[:, 1], x[:, 2], *lat_lon(model))
    assert np.all(d < 0.15), d  # evolved truth states sit near 0.15
    rng = np.random.default_rng(0)
    unbalanced = geostrophic_deviation(
        x[:, 0], x[:, 1], rng.permutation(x[:, 2], axis=-1), *lat_lon(model)
    )
    assert np.all(unbalanced > 0.5), unbalanced


def test_deterministic_for_a_seed(model):
    def run(seed):
        g = torch.Generator().manual_seed(seed)
        s = model.random_state(1, g)
        return model.run(s, 10, model.new_forcing(1, g), g)[0]

    a, b, c = run(7), run(7), run(8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_physical_roundtrip_and_forecast(model):
    s = model.random_state(2, torch.Generator().manual_seed(4))
    x = model.to_physical(s)
    x2 = model.to_physical(model.from_physical(x))
    assert torch.allclose(x, x2, atol=1e-3 * x.abs().amax(dim=(0, 2, 3)).max().item())
    y = model.forecast(x, hours=6)
    assert y.shape == x.shape and torch.isfinite(y).all() and not torch.allclose(x, y)


def test_imperfect_model_differs():
    cfg = WorldConfig()
    imp = cfg.imperfect()
    assert imp.noise_amplitude == 0.0 and imp.drag_days != cfg.drag_days
    with pytest.raises(ValueError, match="divide"):
        _ = replace(cfg, dt=1000.0).steps_per_6h
    # world v1's imperfect model, exactly as it was defined before model_error scaled it
    assert (imp.drag_days, imp.relax_days, imp.hyperdiff_hours) == (12 * 0.6, 5 * 1.5, 6 * 0.5)
    assert (imp.jet_speed, imp.tracer_relax_days) == (45 * 0.9, 15 * 2.0)
    closer = replace(cfg, model_error=0.5).imperfect()
    assert cfg.drag_days > closer.drag_days > imp.drag_days


def test_steady_forcing_is_a_fixed_pattern_of_the_world():
    """The steady forcing is the same in every model of a world (its seed), differs between
    seeds, drives the flow without noise, and the imperfect model has a weaker one."""
    cfg = replace(WorldConfig(), steady_amplitude=3e-11, noise_amplitude=0.0, model_error=0.5)
    a, b = ShallowWaterModel(cfg), ShallowWaterModel(cfg)
    assert torch.equal(a.steady, b.steady) and a.steady.abs().max() > 0
    other = ShallowWaterModel(replace(cfg, steady_seed=1))
    assert (other.steady - a.steady).abs().max() > 0.5 * a.steady.abs().max()
    weaker = ShallowWaterModel(cfg.imperfect()).steady
    torch.testing.assert_close(weaker, a.steady * 0.95)
    assert not ShallowWaterModel(WorldConfig()).steady.abs().max() > 0  # world v1: none
    s0 = a.random_state(1, torch.Generator().manual_seed(0))
    forced, _ = a.run(s0, 18)
    free, _ = ShallowWaterModel(replace(cfg, steady_amplitude=0.0)).run(s0, 18)
    assert (forced[:, 1] - free[:, 1]).abs().max() > 1e-3 * free[:, 1].abs().max()


@pytest.mark.parametrize(
    ("reference", "fast", "shape", "spectral"),
    [
        (th.RealSHT, sphere.FastRealSHT, (3, 64, 128), False),
        (th.InverseRealSHT, sphere.FastInverseRealSHT, (3, 43, 43), True),
        (th.RealVectorSHT, sphere.FastRealVectorSHT, (3, 2, 64, 128), False),
        (th.InverseRealVectorSHT, sphere.FastInverseRealVectorSHT, (3, 2, 43, 43), True),
    ],
    ids=["sht", "isht", "vector-sht", "inverse-vector-sht"],
)
def test_fast_transforms_match_torch_harmonics(reference, fast, shape, spectral):
    kw = dict(lmax=43, mmax=43, grid="legendre-gauss", csphase=False)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    if spectral:
        x = torch.complex(x, torch.randn(shape, generator=gen, dtype=torch.float64))
    want = reference(64, 128, **kw).double()(x)
    got = fast(64, 128, **kw).double()(x)
    assert got.shape == want.shape and got.dtype == want.dtype
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10 * want.abs().max().item())
