"""Cycled DA: methods through forecast-analysis cycles on a truth run (alignda.evaluation.cycling
and the ``cycle`` command), with the real world model, 3D-Var and the prior."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from alignda.analysis.score import Cancelled, SamplerSettings
from alignda.bundle import load_bundle
from alignda.cli import main
from alignda.evaluation.cycling import FREE_RUN, CycleConfig, cycle, fits_worse_summary, sawtooth
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases
from tests.astray import Astray


@pytest.fixture(scope="module")
def setup():
    bundle = load_bundle()
    cases = Cases.open(SHIPPED_CASES)
    return bundle, cases.truth_state(cases.times[0])


@pytest.fixture(scope="module")
def three_cycles(setup):
    bundle, truth0 = setup
    steps = []
    config = CycleConfig(cycles=3, density=0.02, seed=3)
    ds = cycle({"3D-Var": bundle.variational()}, truth0, bundle.stats.std, config, steps.append)
    return ds, steps


@pytest.mark.slow
def test_cycling_3dvar_draws_the_sawtooth(three_cycles, tmp_path):
    ds, steps = three_cycles
    assert list(ds.experiment.values) == [FREE_RUN, "3D-Var"] and ds.sizes["cycle"] == 3
    assert [s.cycle for s in steps] == [0, 0, 1, 1, 2, 2]  # the live callback, in order
    free, var = ds.sel(experiment=FREE_RUN), ds.sel(experiment="3D-Var")
    np.testing.assert_array_equal(free.analysis_mse, free.background_mse)  # no analysis
    assert (var.analysis_mse < var.background_mse).all()  # every analysis cuts the error
    # the same first background for all; afterwards the cycled ones beat the free run
    assert float(var.background_mse[0]) == pytest.approx(float(free.background_mse[0]))
    assert (var.background_mse[1:] < free.background_mse[1:]).all()
    assert (var.analysis_rmse.sel(variable="z") > 0).all()
    hours, errors = sawtooth(ds, "3D-Var")
    assert list(hours) == [48, 48, 96, 96, 144, 144] and errors[1] < errors[0]
    path = tmp_path / "cycle.nc"
    ds.to_netcdf(path)
    xr.testing.assert_identical(xr.open_dataset(path).load(), ds)


@pytest.mark.slow
def test_cycling_is_reproducible_and_cancellable(setup, three_cycles):
    bundle, truth0 = setup
    ds, _ = three_cycles
    config = CycleConfig(cycles=1, density=0.02, seed=3)
    again = cycle({"3D-Var": bundle.variational()}, truth0, bundle.stats.std, config)
    np.testing.assert_allclose(again.analysis_mse[:, 0], ds.analysis_mse[:, 0], rtol=1e-6)
    with pytest.raises(Cancelled):
        cycle({"3D-Var": bundle.variational()}, truth0, bundle.stats.std, config, stop=lambda: True)
    with pytest.raises(ValueError, match="cycles and hours must be >= 1"):
        CycleConfig(cycles=0)


@pytest.mark.slow
def test_cycling_a_prior_method(setup):
    bundle, truth0 = setup
    prior = bundle.prior_method(SamplerSettings("hybrid", 4, members=2))
    ds = cycle({"hybrid": prior}, truth0, bundle.stats.std, CycleConfig(cycles=2, seed=1))
    hyb = ds.sel(experiment="hybrid")
    assert (hyb.analysis_mse < hyb.background_mse).all()
    assert (hyb.analysis_spread.sel(variable="z") > 0).all()  # two members: a spread


@pytest.mark.slow
def test_cycle_command(tmp_path, capsys):
    out = tmp_path / "c.nc"
    code = main(["cycle", "--methods", "3dvar", "--cycles", "2", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "cycle   2/2 3D-Var" in printed and f"per-cycle errors -> {out}" in printed
    assert list(xr.open_dataset(out).experiment.values) == [FREE_RUN, "3D-Var"]
    assert main(["cycle", "--methods", "3dvar,magic", "--out", str(out)]) == 2
    assert "unknown method 'magic'" in capsys.readouterr().err


def test_one_hybrid_member_is_the_mean_of_two_with_one_solve(setup):
    """members=1 asks the hybrid for its deterministic analysis: the recentred mean of the
    two-member analysis, now from one variational solve (the cycling's default mode)."""
    bundle, truth0 = setup
    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[0]
    from alignda.obs.operator import observe_case

    bg, obs = cases.background_state(t), observe_case(cases.truth_state(t), 0, density=0.01)
    one = bundle.prior_method(SamplerSettings("hybrid", 4, members=1)).analyse(bg, obs, seed=5)
    two = bundle.prior_method(SamplerSettings("hybrid", 4, members=2)).analyse(bg, obs, seed=5)
    assert one.members.shape[0] == 1
    np.testing.assert_allclose(one.mean, two.mean, rtol=0, atol=2e-3)  # float32 round-off
    assert SamplerSettings("hybrid", 4, members=1).work().solves == 1
    assert SamplerSettings("hybrid", 4, members=2).work().solves == 3


def test_an_analysis_that_fits_worse_is_counted_in_every_cycle(tmp_path):
    """Each cycle's step and the dataset say which analyses fit the observations worse than
    their backgrounds (O-A > O-B); the free run never does."""
    cases = Cases.open(SHIPPED_CASES)
    truth0 = cases.truth_state(cases.times[0])
    steps: list = []
    config = CycleConfig(cycles=2, hours=1, density=0.02, seed=3)
    ds = cycle({"astray": Astray()}, truth0, np.ones(4), config, steps.append)
    astray = [s for s in steps if s.method == "astray"]
    assert all(s.fits_worse for s in astray) and not any(s.fits_worse for s in steps[::2])
    assert all(s.analysis_misfit == pytest.approx(2 * s.background_misfit) for s in astray)
    assert astray[1].warning.startswith(
        "astray (cycle 2) fits the observations worse than the background (O-A "
    )
    assert ds.fits_worse.sel(experiment="astray").values.tolist() == [1, 1]
    assert ds.fits_worse.sel(experiment=FREE_RUN).values.tolist() == [0, 0]
    free = ds.sel(experiment=FREE_RUN)
    np.testing.assert_array_equal(free.analysis_misfit, free.background_misfit)
    assert fits_worse_summary(ds) == "astray: O-A > O-B in 2 of 2 cycles"
    assert fits_worse_summary(ds.sel(experiment=[FREE_RUN])) == ""
    path = tmp_path / "c.nc"
    ds.to_netcdf(path)
    xr.testing.assert_identical(xr.open_dataset(path).load(), ds)
