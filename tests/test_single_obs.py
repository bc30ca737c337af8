"""The single-observation experiment: 3D-Var's increment is its B column (analytic B-row)."""

from __future__ import annotations

import numpy as np
import pytest

from alignda.analysis.score import SamplerSettings
from alignda.analysis.single_obs import increments, single_observation
from alignda.bundle import load_bundle
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases
from alignda.world.grid import Grid


@pytest.fixture(scope="module")
def setup():
    bundle = load_bundle()
    cases = Cases.open(SHIPPED_CASES)
    return bundle, cases.background_state(cases.times[0])


@pytest.mark.parametrize("variable, innovation", [("z", 40.0), ("u", -3.0)])
def test_3dvar_increment_is_the_scaled_b_column(setup, variable, innovation):
    bundle, bg = setup
    ob = single_observation(Grid(), variable, 50.0, 10.0, innovation)
    assert abs(Grid().lat[ob.row] - 50.0) < 2.0 and abs(Grid().lon[ob.col] - 10.0) < 1.5
    dx = increments({"3D-Var": bundle.variational()}, bg, ob)["3D-Var"]
    column = bundle.threedvar.covariance_column(ob.index, ob.row, ob.col)
    b_kk = column[ob.index, ob.row, ob.col]
    analytic = column * innovation / (b_kk + ob.noise_std**2)
    # the analysis is float32: round-off of the full state, ~1e-7 of it
    atol = 2e-6 * np.abs(bg).max(axis=(1, 2)).reshape(-1, 1, 1)
    np.testing.assert_allclose(dx, analytic, rtol=0, atol=atol.max())
    assert np.abs(dx[ob.index]).argmax() == np.ravel_multi_index((ob.row, ob.col), bg.shape[1:])
    if variable == "z":  # balanced: a height rise in the north spins up clockwise winds
        u = dx[1]
        assert u[ob.row - 3, ob.col] > 0 > u[ob.row + 3, ob.col]  # westerly to the north


def test_prior_increment_and_bad_input(setup):
    bundle, bg = setup
    ob = single_observation(Grid(), "z", 45.0, 200.0, 30.0)
    dx = increments(
        {"hybrid": bundle.prior_method(SamplerSettings("hybrid", 4, members=2))}, bg, ob
    )
    assert np.isfinite(dx["hybrid"]).all() and dx["hybrid"][0, ob.row, ob.col] > 0
    for kwargs, match in [
        (dict(variable="w"), "unknown variable"),
        (dict(lat=91.0), "not a point on the globe"),
        (dict(innovation=float("nan")), "innovation must be finite"),
        (dict(noise_std=0.0), "noise_std must be positive"),
    ]:
        args = dict(variable="z", lat=0.0, lon=0.0, innovation=1.0) | kwargs
        with pytest.raises(ValueError, match=match):
            single_observation(Grid(), **args)
