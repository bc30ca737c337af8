"""Tests for alignda.evaluation.metrics, .ensemble and .scorecard against hand-computed values
on a tiny 4 x 8 grid."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alignda.evaluation import ensemble as E
from alignda.evaluation import metrics as M
from alignda.evaluation import scorecard as T
from alignda.world.grid import COORD_ATOL, DEFAULT_GRID

# Equally spaced, descending: cell bounds are 90, 45, 0, -45, -90 deg, so the raw weights are
# sin90 - sin45 = 1 - r/2 (polar bands) and sin45 - sin0 = r/2 (tropical bands), r = sqrt(2).
# Their mean is 1/2, hence normalised weights (2 - r, r, r, 2 - r), sum 4.
LAT = np.array([67.5, 22.5, -22.5, -67.5])
LON = np.arange(8) * 45.0
R2 = math.sqrt(2.0)
W = np.array([2 - R2, R2, R2, 2 - R2])
VARS = ("z", "u", "v", "tracer")


def field(values: np.ndarray | float, ncase: int | None = None) -> xr.DataArray:
    """A (case,) latitude, longitude DataArray broadcast from ``values``."""
    dims = ("latitude", "longitude") if ncase is None else ("case", "latitude", "longitude")
    shape = (4, 8) if ncase is None else (ncase, 4, 8)
    coords = {"latitude": LAT, "longitude": LON}
    if ncase is not None:
        coords["case"] = np.arange(ncase)
    return xr.DataArray(np.broadcast_to(values, shape).astype(float), dims=dims, coords=coords)


def dataset(values: dict[str, np.ndarray | float], ncase: int | None = None) -> xr.Dataset:
    return xr.Dataset({k: field(v, ncase) for k, v in values.items()})


def smooth_truth(ncase: int | None = 2) -> xr.Dataset:
    lat2d, lon2d = np.meshgrid(np.deg2rad(LAT), np.deg2rad(LON), indexing="ij")
    base = np.cos(lat2d) * np.sin(2 * lon2d) + 0.3 * np.sin(lat2d)
    if ncase is not None:
        base = np.stack([base * (c + 1) for c in range(ncase)])
    return dataset({v: base * (i + 1) + 5.0 * i for i, v in enumerate(VARS)}, ncase)


def members(*dss: xr.Dataset) -> xr.Dataset:
    return xr.concat(dss, dim="member")


# --------------------------------------------------------------------------------------------
# weights and spatial mean
# --------------------------------------------------------------------------------------------


def test_weights_by_hand() -> None:
    w = M.lat_weights(LAT)
    np.testing.assert_allclose(w.values, W, rtol=1e-12)
    assert w.dims == ("latitude",)
    np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-12)


def test_weights_default_grid_mean_one_equator_heavier() -> None:
    w = M.lat_weights(DEFAULT_GRID.lat).values
    np.testing.assert_allclose(w.mean(), 1.0, rtol=1e-12)
    n = len(w)
    assert w[n // 2] > w[0] and w[n // 2 - 1] > w[-1]
    np.testing.assert_allclose(w, w[::-1], rtol=1e-10)  # symmetric about the equator
    assert np.all(np.diff(w[: n // 2]) > 0)  # increasing from the north pole to the equator


def test_spatial_mean_by_hand() -> None:
    f = field(np.array([1.0, 2.0, 3.0, 4.0])[:, None])
    expected = ((2 - R2) * 1 + R2 * 2 + R2 * 3 + (2 - R2) * 4) / 4
    assert float(M.spatial_mean(f)) == pytest.approx(expected, rel=1e-12)
    # longitude is an unweighted mean
    g = field(np.arange(8.0)[None, :])
    assert float(M.spatial_mean(g)) == pytest.approx(3.5, rel=1e-12)
    with pytest.raises(ValueError, match="longitude"):
        M.spatial_mean(f.isel(longitude=0))


# --------------------------------------------------------------------------------------------
# deterministic scores
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ncase", [None, 3])
def test_constant_error(ncase: int | None) -> None:
    truth = smooth_truth(ncase)
    errs = {"z": 7.0, "u": -2.0, "v": 0.5, "tracer": 0.0}
    pred = truth + dataset(errs, ncase)
    r, m, a = M.rmse(pred, truth), M.mse(pred, truth), M.mae(pred, truth)
    for v, e in errs.items():
        assert r[v].dims == ()
        assert float(r[v]) == pytest.approx(abs(e), rel=1e-12, abs=1e-12)
        assert float(m[v]) == pytest.approx(e**2, rel=1e-12, abs=1e-12)
        assert float(a[v]) == pytest.approx(abs(e), rel=1e-12, abs=1e-12)


def test_constant_error_full_grid() -> None:
    g = DEFAULT_GRID
    truth = xr.Dataset(
        {"z": (("latitude", "longitude"), np.random.default_rng(0).normal(size=g.shape))},
        coords={"latitude": g.lat, "longitude": g.lon},
    )
    assert float(M.rmse(truth + 3.0, truth)["z"]) == pytest.approx(3.0, rel=1e-12)


def test_error_in_one_band_gives_weight_share() -> None:
    truth = smooth_truth(None)
    e = 2.0
    err = np.zeros((4, 8))
    err[0, :] = e  # northernmost band only
    pred = truth + dataset({v: err for v in VARS})
    share = (2 - R2) / 4  # weight share of the polar band
    assert float(M.mse(pred, truth)["z"]) == pytest.approx(e**2 * share, rel=1e-12)
    assert float(M.rmse(pred, truth)["u"]) == pytest.approx(e * math.sqrt(share), rel=1e-12)
    assert float(M.mae(pred, truth)["v"]) == pytest.approx(e * share, rel=1e-12)
    # the same error in a tropical band weighs more
    err2 = np.zeros((4, 8))
    err2[1, :] = e
    pred2 = truth + dataset({v: err2 for v in VARS})
    assert float(M.mse(pred2, truth)["z"]) == pytest.approx(e**2 * R2 / 4, rel=1e-12)
    assert float(M.mse(pred2, truth)["z"]) > float(M.mse(pred, truth)["z"])


def test_rmse_averages_mse_over_cases_before_sqrt() -> None:
    truth = smooth_truth(2)
    err = np.stack([np.full((4, 8), 1.0), np.full((4, 8), 3.0)])
    pred = truth + dataset({v: err for v in VARS}, ncase=2)
    r = float(M.rmse(pred, truth)["z"])
    assert r == pytest.approx(math.sqrt(5.0), rel=1e-12)  # sqrt((1 + 9) / 2)
    assert r != pytest.approx(2.0)  # mean of per-case RMSEs, the wrong convention
    assert float(M.mae(pred, truth)["z"]) == pytest.approx(2.0, rel=1e-12)


def test_overall_normalised_columns() -> None:
    truth = smooth_truth(2)
    errs = {"z": 10.0, "u": 2.0, "v": 0.0, "tracer": 0.5}
    scale = {"z": 10.0, "u": 1.0, "v": 3.0, "tracer": 0.25, "extra": 1.0}
    pred = truth + dataset(errs, ncase=2)
    # normalised errors: z 1, u 2, v 0, tracer 2
    assert float(M.overall_mse(pred, truth, scale)) == pytest.approx((1 + 4 + 0 + 4) / 4)
    assert float(M.overall_mae(pred, truth, scale)) == pytest.approx((1 + 2 + 0 + 2) / 4)
    with pytest.raises(ValueError, match="tracer"):
        M.overall_mse(pred, truth, {"z": 1.0, "u": 1.0, "v": 1.0})
    with pytest.raises(ValueError, match="> 0"):
        M.overall_mae(pred, truth, {**scale, "u": 0.0})


# --------------------------------------------------------------------------------------------
# ACC
# --------------------------------------------------------------------------------------------


def test_acc_perfect_and_negated() -> None:
    truth = smooth_truth(3)
    clim = truth.mean("case") + 0.7  # no case dim: broadcasts
    assert np.allclose(M.acc(truth, truth, clim).to_array().values, 1.0)
    negated = 2 * clim - truth  # anomaly -(truth - clim)
    assert np.allclose(M.acc(negated, truth, clim).to_array().values, -1.0)
    # scaling the anomaly does not change ACC
    scaled = clim + 3.0 * (truth - clim)
    assert np.allclose(M.acc(scaled, truth, clim).to_array().values, 1.0)


def test_acc_orthogonal_anomalies_and_undefined() -> None:
    lon = np.deg2rad(LON)
    clim = dataset({"z": 100.0})
    truth = clim + dataset({"z": np.cos(lon)[None, :]})
    pred = clim + dataset({"z": np.sin(lon)[None, :]})
    assert float(M.acc(pred, truth, clim)["z"]) == pytest.approx(0.0, abs=1e-12)
    # a climatology forecast has a zero anomaly: ACC undefined -> NaN, no warning
    assert np.isnan(float(M.acc(clim, truth, clim)["z"]))


def test_acc_validates_climatology() -> None:
    truth = smooth_truth(None)
    with pytest.raises(ValueError, match="tracer"):
        M.acc(truth, truth, truth.drop_vars("tracer"))
    with pytest.raises(ValueError, match="case"):
        M.acc(truth, truth, smooth_truth(2))


# --------------------------------------------------------------------------------------------
# ensembles
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [0.0, 1.5, -4.0])
def test_crps_identical_members_is_abs_distance(d: float) -> None:
    truth = smooth_truth(2)
    ens = members(truth + d, truth + d)
    for v in VARS:
        assert float(E.crps(ens, truth)[v]) == pytest.approx(abs(d), abs=1e-12)


@pytest.mark.parametrize(
    ("xs", "y", "expected"),
    [
        # mean|x - y| = (3 + 1) / 2 = 2; sum_ij |xi - xj| = 4; 4 / (2 * 2 * 1) = 1 -> 1
        ((0.0, 2.0), 3.0, 1.0),
        # mean|x - y| = 1; minus 1 -> 0 (fair CRPS of a 2-member ensemble straddling y)
        ((0.0, 2.0), 1.0, 0.0),
        # mean|x - y| = (4 + 3 + 1) / 3 = 8/3; sum_ij = 2 (1 + 3 + 2) = 12; 12 / (2*3*2) = 1
        ((0.0, 1.0, 3.0), 4.0, 5.0 / 3.0),
    ],
)
def test_crps_by_hand(xs: tuple[float, ...], y: float, expected: float) -> None:
    truth = dataset({"z": y}, ncase=2)
    ens = members(*(dataset({"z": x}, ncase=2) for x in xs))
    assert float(E.crps(ens, truth)["z"]) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_crps_matches_bruteforce_pairs() -> None:
    rng = np.random.default_rng(1)
    truth = dataset({"z": rng.normal(size=(2, 4, 8))}, ncase=2)
    ens = members(*(dataset({"z": rng.normal(size=(2, 4, 8))}, ncase=2) for _ in range(5)))
    x, y = ens["z"], truth["z"]
    pairs = abs(x - x.rename(member="m2")).sum(["member", "m2"]) / (2 * 5 * 4)
    point = abs(x - y).mean("member") - pairs
    expected = float(M.spatial_mean(point).mean("case"))
    assert float(E.crps(ens, truth)["z"]) == pytest.approx(expected, rel=1e-12)


def test_spread_and_spread_skill() -> None:
    truth = smooth_truth(2)
    assert np.allclose(E.spread(members(truth, truth, truth)).to_array().values, 0.0)
    s, d = 0.5, 2.0
    ens = members(truth + d + s, truth + d - s)  # ddof=1 variance: 2 s^2
    sp = E.spread(ens)
    assert float(sp["z"]) == pytest.approx(s * R2, rel=1e-12)
    xr.testing.assert_allclose(E.ensemble_mean(ens), truth + d)
    ssr = E.spread_skill(ens, truth)
    assert float(ssr["u"]) == pytest.approx(s * R2 / d, rel=1e-12)
    ssr_c = E.spread_skill(ens, truth, finite_ensemble_correction=True)
    assert float(ssr_c["u"]) == pytest.approx(s * R2 / d * math.sqrt(3 / 2), rel=1e-12)


def test_spread_error_correlation_knows_where() -> None:
    """+1 when the spread is large exactly where the mean's error is, -1 when the opposite,
    whatever the zonal means; 0 when its zonal variation is orthogonal to the error's."""
    truth = smooth_truth(2)
    lon = np.deg2rad(LON)
    pattern = 1.0 + 0.5 * np.cos(lon)[None, :] + 0.2 * np.arange(4)[:, None]  # (lat, lon) > 0
    error = dataset({v: pattern for v in VARS}, 2)
    spread = dataset({v: 0.1 * pattern + 0.7 for v in VARS}, 2)  # an affine map of it
    ens = members(truth + error + spread, truth + error - spread)
    r = E.spread_error_correlation(ens, truth)
    assert set(r.data_vars) == set(VARS)
    np.testing.assert_allclose(r.to_array().values, 1.0, atol=1e-12)
    opposite = dataset({v: 2.0 - 0.1 * pattern for v in VARS}, 2)
    ens = members(truth + error + opposite, truth + error - opposite)
    np.testing.assert_allclose(E.spread_error_correlation(ens, truth).to_array(), -1.0, atol=1e-12)
    shifted = dataset({v: 1.0 + 0.5 * np.sin(lon)[None, :] + 0 * pattern for v in VARS}, 2)
    ens = members(truth + error + shifted, truth + error - shifted)  # orthogonal in longitude
    np.testing.assert_allclose(E.spread_error_correlation(ens, truth).to_array(), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="at least 2 members"):
        E.spread_error_correlation(members(truth), truth)


def test_ensemble_requires_members() -> None:
    truth = smooth_truth(2)
    with pytest.raises(ValueError, match="member"):
        E.crps(truth, truth)
    with pytest.raises(ValueError, match="member"):
        E.ensemble_mean(truth)
    one = members(truth)
    with pytest.raises(ValueError, match="at least 2 members"):
        E.spread(one)
    with pytest.raises(ValueError, match="at least 2 members"):
        E.crps(one, truth)
    with pytest.raises(ValueError, match="at least 2 members"):
        E.spread_skill(one, truth)
    xr.testing.assert_allclose(E.ensemble_mean(one), truth)  # one member is fine for a mean
    with pytest.raises(ValueError, match="dims"):
        E.crps(members(truth, truth), members(truth, truth))  # truth must not have members


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def test_mismatched_variables_named() -> None:
    truth = smooth_truth(2)
    with pytest.raises(ValueError, match="tracer"):
        M.rmse(truth.drop_vars("tracer"), truth)
    with pytest.raises(ValueError, match="extra"):
        M.mae(truth.assign(extra=truth["z"]), truth)


def test_mismatched_dims_and_coords() -> None:
    truth = smooth_truth(2)
    with pytest.raises(ValueError, match="case"):
        M.mse(truth.isel(case=0), truth)
    with pytest.raises(ValueError, match="case"):
        M.mse(truth.isel(case=[0]), truth)
    shifted = truth.assign_coords(longitude=truth.longitude + 1.0)
    with pytest.raises(ValueError, match="longitude"):
        M.rmse(shifted, truth)
    with pytest.raises(ValueError, match="latitude"):
        M.rmse(truth.isel(latitude=0), truth.isel(latitude=0))
    with pytest.raises(TypeError):
        M.rmse(truth["z"], truth)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_inputs_raise(bad: float) -> None:
    truth = smooth_truth(2)
    pred = truth.copy(deep=True)
    pred["u"][0, 1, 2] = bad
    with pytest.raises(ValueError, match="'u'.*non-finite"):
        M.rmse(pred, truth)
    with pytest.raises(ValueError, match="non-finite"):
        M.mse(truth, pred)
    with pytest.raises(ValueError, match="non-finite"):
        E.crps(members(pred, truth), truth)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def test_score_table_layout_and_format() -> None:
    truth = smooth_truth(2)
    scale = {"z": 10.0, "u": 1.0, "v": 1.0, "tracer": 0.1}
    # variables in a non-canonical order in the Datasets: columns still follow VARIABLE_NAMES
    truth = truth[["tracer", "v", "u", "z"]]
    preds = {
        "background": truth + dataset({"z": 10.0, "u": 1.0, "v": 2.0, "tracer": 0.1}, 2),
        "Align-DA": truth + 0.5 * dataset({"z": 10.0, "u": 1.0, "v": 2.0, "tracer": 0.1}, 2),
    }
    df = T.score_table(preds, truth, scale)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["MSE", "MAE", "RMSE z", "RMSE u", "RMSE v", "RMSE tracer"]
    assert list(df.index) == ["background", "Align-DA"]
    assert df.loc["background", "RMSE v"] == pytest.approx(2.0)
    assert df.loc["Align-DA", "RMSE z"] == pytest.approx(5.0)
    assert df.loc["background", "MSE"] == pytest.approx((1 + 1 + 4 + 1) / 4)
    assert df.loc["Align-DA", "MAE"] == pytest.approx((1 + 1 + 2 + 1) / 8)
    assert df.attrs["units"]["u"] == "m s-1"

    text = T.format_table(df)
    lines = text.splitlines()
    assert len(lines) == 2 + 2
    assert len({len(line) for line in lines}) == 1  # fixed width
    assert "RMSE z [m]" in lines[0] and "RMSE u [m s-1]" in lines[0] and "MSE" in lines[0]
    assert lines[2].startswith("| background") and lines[3].startswith("| Align-DA")
    assert set(lines[1]) <= {"|", "-", ":"}
    assert "RMSE z |" in T.format_table(df, units=False)

    with pytest.raises(ValueError, match="'bad'.*tracer"):
        T.score_table({"bad": preds["background"].drop_vars("tracer")}, truth, scale)


def test_score_table_reports_acc_spread_skill_and_crps() -> None:
    truth = smooth_truth(2)
    scale = {"z": 10.0, "u": 1.0, "v": 1.0, "tracer": 0.1}
    s, d = 0.5, 2.0
    ens = members(truth + d + s, truth + d - s)
    one = members(truth + d)
    clim = truth.mean("case") * 0.5
    preds = {"ensemble": ens.mean("member"), "single": truth + d}
    df = T.score_table(
        preds, truth, scale, ensembles={"ensemble": ens, "single": one}, climatology=clim
    )
    assert list(df.columns)[-3:] == ["ACC", "spread/skill", "CRPS"]
    ssr = E.spread_skill(ens, truth, finite_ensemble_correction=True)
    assert df.loc["ensemble", "spread/skill"] == pytest.approx(float(ssr.to_array().mean()))
    crps = E.crps(ens, truth)
    expected = np.mean([float(crps[v]) / scale[v] for v in VARS])
    assert df.loc["ensemble", "CRPS"] == pytest.approx(expected)
    acc = M.acc(preds["single"], truth, clim)
    assert df.loc["single", "ACC"] == pytest.approx(float(acc.to_array().mean()))
    assert np.isnan(df.loc["single", "spread/skill"]) and np.isnan(df.loc["single", "CRPS"])


def last_bits(lat: np.ndarray, ulps: int = 3) -> np.ndarray:
    """Latitudes moved by a few units in the last place, every other one (as another CPU's
    Gauss-Legendre nodes differ from the stored ones)."""
    out = lat.copy()
    for _ in range(ulps):
        out[::2] = np.nextafter(out[::2], np.inf)
    return out


def test_score_table_on_latitudes_that_differ_in_the_last_bits() -> None:
    """Computed coordinates differ across machines in their last bits: the scores are those of
    identical coordinates (no point dropped by xarray's alignment), nothing is refused."""
    truth = smooth_truth(2)
    scale = {"z": 10.0, "u": 1.0, "v": 1.0, "tracer": 0.1}
    ens = members(truth + 1.5, truth + 0.5)
    clim = truth.mean("case") * 0.5
    expected = T.score_table({"a": ens.mean("member")}, truth, scale, {"a": ens}, clim)
    moved = truth.assign_coords(latitude=last_bits(LAT))
    assert not np.array_equal(moved.latitude.values, LAT)
    clim_moved = clim.assign_coords(latitude=last_bits(LAT, ulps=5))
    for pred, tr, cl in (
        (ens, moved, clim),
        (ens.assign_coords(latitude=last_bits(LAT)), truth, clim_moved),
    ):
        got = T.score_table({"a": pred.mean("member")}, tr, scale, {"a": pred}, cl)
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12)
        assert got.notna().all().all()
    far = truth.assign_coords(latitude=LAT + 1e-3)  # a different grid: still refused
    with pytest.raises(ValueError, match="coordinate 'latitude' differs"):
        M.rmse(ens.mean("member"), far)


def test_studio_scores_on_the_stored_climatology_whatever_the_computed_grid() -> None:
    """The shipped climatology's latitudes (stored) and the grid's (computed on this machine)
    are the same points: the score table accepts them even a few bits apart."""
    from safetensors.numpy import load_file

    from alignda.paths import CHECKPOINT_DIR
    from alignda.world.grid import gaussian_latitudes

    stored = load_file(str(CHECKPOINT_DIR / "world_stats.safetensors"))["latitude"]
    computed = gaussian_latitudes(len(stored))
    assert np.allclose(stored, computed, rtol=0, atol=1e-12)  # equal up to round-off
    assert COORD_ATOL > 1e3 * np.abs(stored - computed).max()


# --------------------------------------------------------------------------------------------
# property-based
# --------------------------------------------------------------------------------------------

_exact = st.integers(-4000, 4000).map(lambda i: i / 16.0)  # exactly representable values
_grid_arrays = arrays(np.float64, (2, 4, 8), elements=_exact)


@settings(max_examples=60, deadline=None)
@given(
    p=_grid_arrays,
    t=_grid_arrays,
    a=st.one_of(st.just(0.0), st.floats(1e-3, 1e3), st.floats(-1e3, -1e-3)),
)
def test_rmse_properties(p: np.ndarray, t: np.ndarray, a: float) -> None:
    pred, truth = dataset({"z": p}, ncase=2), dataset({"z": t}, ncase=2)
    r = float(M.rmse(pred, truth)["z"])
    assert r >= 0.0
    assert (r == 0.0) == bool(np.array_equal(p, t))
    assert float(M.rmse(truth, truth)["z"]) == 0.0
    ra = float(M.rmse(a * pred, a * truth)["z"])
    assert ra == pytest.approx(abs(a) * r, rel=1e-9, abs=1e-12)
    assert float(M.rmse(truth, pred)["z"]) == pytest.approx(r, rel=1e-12)  # symmetric


def test_rank_histogram_flat_when_reliable_u_shaped_when_under_dispersive():
    from alignda.evaluation.ensemble import rank_histogram

    rng = np.random.default_rng(0)
    lat, lon = np.linspace(80, -80, 32), np.arange(0, 360, 5.0)
    coords = {"latitude": lat, "longitude": lon}

    def ds(a, dims):
        return xr.Dataset({"z": (dims, a)}, coords=coords)

    truth = ds(rng.normal(size=(32, 72)), ("latitude", "longitude"))
    members = rng.normal(size=(7, 32, 72))
    reliable = rank_histogram(ds(members, ("member", "latitude", "longitude")), truth)["z"]
    assert reliable.sizes["rank"] == 8 and float(reliable.sum()) == pytest.approx(1.0)
    np.testing.assert_allclose(reliable, 1 / 8, atol=0.03)
    narrow = rank_histogram(ds(0.2 * members, ("member", "latitude", "longitude")), truth)["z"]
    assert narrow[0] > 0.25 and narrow[-1] > 0.25 and narrow[3] < 0.1  # the U shape
