"""Tests of alignda.obs: mask generators, CSV points, observe() and the xarray round trip."""

from __future__ import annotations

import io
import math
from collections import deque

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from alignda.obs.checks import ObsError
from alignda.obs.geometry import ground_track, nearest_grid_index
from alignda.obs.networks import (
    DEFAULT_DENSITY,
    HUBS,
    PATTERNS,
    draw_routes,
    make_mask,
    random_mask,
    station_mask,
    swath_mask,
    track_mask,
)
from alignda.obs.operator import DEFAULT_NOISE_STD, Observations, apply_user_points, observe
from alignda.obs.points import PointObs, points_from_csv
from alignda.world.geography import land_mask
from alignda.world.grid import Grid
from alignda.world.variables import VARIABLE_NAMES

GRID = Grid()
NPTS = GRID.nlat * GRID.nlon
NVAR = len(VARIABLE_NAMES)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def fake_truth(seed: int = 0, dtype: type = np.float32) -> np.ndarray:
    r = rng(seed)
    scale = np.array([5000.0, 10.0, 10.0, 1.0])[:, None, None]
    offset = np.array([5500.0, 0.0, 0.0, 0.5])[:, None, None]
    return (offset + scale * r.standard_normal((NVAR, *GRID.shape))).astype(dtype)


def runs_in_row(row: np.ndarray) -> int:
    """Number of contiguous True runs in a periodic 1-D boolean row."""
    if row.all():
        return 1
    return int(np.sum(row & ~np.roll(row, 1)))


def connected(mask: np.ndarray) -> bool:
    """Whether the True points form one 8-connected set (longitude periodic)."""
    pts = set(zip(*np.nonzero(mask), strict=True))
    start = next(iter(pts))
    seen, todo = {start}, deque([start])
    nlat, nlon = mask.shape
    while todo:
        i, j = todo.popleft()
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                q = (i + di, (j + dj) % nlon)
                if 0 <= q[0] < nlat and q in pts and q not in seen:
                    seen.add(q)
                    todo.append(q)
    return len(seen) == len(pts)


# --- masks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_masks_are_deterministic_for_a_seed(pattern: str) -> None:
    a = make_mask(pattern, GRID, rng(7), density=0.03)
    b = make_mask(pattern, GRID, rng(7), density=0.03)
    c = make_mask(pattern, GRID, rng(8), density=0.03)
    assert a.shape == GRID.shape and a.dtype == bool
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fraction", [0.01, 0.03, 0.05, 0.10])
def test_random_mask_exact_count(fraction: float) -> None:
    m = random_mask(GRID, fraction, rng(1))
    assert m.shape == GRID.shape and m.dtype == bool
    assert m.sum() == round(fraction * NPTS)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5, math.nan, math.inf, "0.1", True, None])
def test_random_mask_rejects_bad_fraction(fraction: object) -> None:
    with pytest.raises(ObsError, match="fraction"):
        random_mask(GRID, fraction, rng())  # type: ignore[arg-type]


def test_random_mask_full_and_tiny() -> None:
    assert random_mask(GRID, 1.0, rng()).all()
    assert random_mask(GRID, 1e-9, rng()).sum() == 1


def test_random_mask_rejects_legacy_random_state() -> None:
    with pytest.raises(ObsError, match="Generator"):
        random_mask(GRID, 0.1, np.random.RandomState(0))  # type: ignore[arg-type]


def test_random_mask_is_area_weighted() -> None:
    polar = np.abs(GRID.lat) > 60.0
    area_share = GRID.weights[polar].sum() / GRID.weights.sum()  # 1 - sin 60 = 0.134
    grid_share = polar.mean()  # about 1/3 on a Gaussian grid
    shares = [random_mask(GRID, 0.1, rng(s))[polar].sum() / round(0.1 * NPTS) for s in range(5)]
    assert abs(np.mean(shares) - area_share) < 0.015
    assert abs(np.mean(shares) - grid_share) > 0.15


def test_station_mask_is_mostly_on_land() -> None:
    land = land_mask(GRID)
    m = station_mask(GRID, 0.05, rng(2))
    assert m.sum() == round(0.05 * NPTS)
    share = (m & land).sum() / m.sum()
    assert abs(share - 0.85) < 0.01  # the requested land share, far above land's ~1/3 of grid
    assert (m & ~land).sum() > 0  # some ships/buoys
    m2 = station_mask(GRID, 0.05, rng(2), land_share=0.5)
    assert abs((m2 & land).sum() / m2.sum() - 0.5) < 0.01


def test_station_mask_spills_over_when_land_is_full() -> None:
    m = station_mask(GRID, 0.9, rng(3))
    assert m.sum() == round(0.9 * NPTS)
    assert (m | ~land_mask(GRID)).all()  # every land point taken


@pytest.mark.parametrize("land_share", [-0.1, 1.1, math.nan])
def test_station_mask_rejects_bad_land_share(land_share: float) -> None:
    with pytest.raises(ObsError, match="land_share"):
        station_mask(GRID, 0.05, rng(), land_share=land_share)


def test_swath_mask_shows_orbit_stripes() -> None:
    m = swath_mask(GRID, 3, rng(4))
    lat = np.abs(GRID.lat)
    polar = m[(lat > 70) & (lat < 85)].mean()
    tropical = m[lat < 20].mean()
    assert polar > 2 * tropical > 0
    # each orbit crosses the equator twice (ascending and descending): 6 separate stripes
    equator = int(np.argmin(np.abs(GRID.lat)))
    assert runs_in_row(m[equator]) == 6
    assert runs_in_row(swath_mask(GRID, 1, rng(4))[equator]) == 2


def test_swath_mask_width_and_orbits_add_coverage() -> None:
    narrow = swath_mask(GRID, 2, rng(5), swath_width_km=500.0)
    wide = swath_mask(GRID, 2, rng(5), swath_width_km=2000.0)
    more = swath_mask(GRID, 4, rng(5), swath_width_km=2000.0)
    assert narrow.sum() < wide.sum() < more.sum()
    assert not (narrow & ~wide).any() and not (wide & ~more).any()


def test_ground_track_reaches_inclination_limit() -> None:
    lat, lon = ground_track(1, 10.0, inclination_deg=98.7)
    assert lat.max() == pytest.approx(81.3, abs=0.05)
    assert lat.min() == pytest.approx(-81.3, abs=0.05)
    assert lat[0] == pytest.approx(0.0) and lon[0] == pytest.approx(10.0)
    # after one orbit the Earth turned ~25 degrees east, so the node moved ~25 degrees west
    assert (lon[0] - lon[-1]) % 360 == pytest.approx(360 * 101 / 1436.068, abs=0.01)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_orbits": 0},
        {"n_orbits": 1.5},
        {"n_orbits": 1, "swath_width_km": -5.0},
        {"n_orbits": 1, "inclination_deg": 200.0},
    ],
)
def test_swath_mask_rejects_bad_parameters(kwargs: dict) -> None:
    with pytest.raises(ObsError):
        swath_mask(GRID, rng=rng(), **kwargs)


def test_tracks_connect_hubs() -> None:
    routes = draw_routes(4, rng(6))
    assert len(set(routes)) == 4 and all(a in HUBS and b in HUBS and a != b for a, b in routes)
    m = track_mask(GRID, 4, rng(6))
    for a, b in routes:
        for hub in (a, b):
            i, j = nearest_grid_index(GRID, *HUBS[hub])
            assert m[i[0], j[0]], hub
    single = track_mask(GRID, 1, rng(6))
    assert connected(single)
    assert not (single & ~m).any()  # routes for one seed are nested prefixes


def test_track_mask_rejects_too_many_tracks() -> None:
    with pytest.raises(ObsError, match="n_tracks"):
        track_mask(GRID, 1000, rng())


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("density", [0.01, 0.03, 0.05, 0.10])
def test_make_mask_density_is_close(pattern: str, density: float) -> None:
    for seed in range(2):
        achieved = make_mask(pattern, GRID, rng(seed), density=density).mean()
        assert density / 1.5 <= achieved <= density * 1.5, (seed, achieved)


def test_make_mask_natural_parameters_match_generators() -> None:
    np.testing.assert_array_equal(
        make_mask("swaths", GRID, rng(9), n_orbits=2), swath_mask(GRID, 2, rng(9))
    )
    np.testing.assert_array_equal(
        make_mask("tracks", GRID, rng(9), n_tracks=3), track_mask(GRID, 3, rng(9))
    )
    np.testing.assert_array_equal(
        make_mask(" Stations ", GRID, rng(9), fraction=0.02, land_share=0.7),
        station_mask(GRID, 0.02, rng(9), land_share=0.7),
    )
    assert make_mask("random", GRID, rng(9)).sum() == round(DEFAULT_DENSITY * NPTS)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("radar",), {}, "unknown observation pattern"),
        (("random",), {"density": 0.1, "fraction": 0.1}, "not both"),
        (("swaths",), {"density": 0.0}, "density"),
        (("tracks",), {"density": 0.05, "swath_width_km": 3.0}, "unexpected keyword"),
        (("tracks",), {"density": 0.9}, "cannot reach"),
    ],
)
def test_make_mask_errors(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ObsError, match=message):
        make_mask(*args, GRID, rng(), **kwargs)


def test_nearest_grid_index_wraps_longitude() -> None:
    i1, j1 = nearest_grid_index(GRID, [10.0, -45.0], [-1.0, -179.0])
    i2, j2 = nearest_grid_index(GRID, [10.0, -45.0], [359.0, 181.0])
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(j1, j2)
    assert nearest_grid_index(GRID, 0.5, 359.9)[1][0] == 0


# --- property-based -----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    fraction=st.floats(min_value=0.0, max_value=1.0, exclude_min=True),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_random_mask_count_property(fraction: float, seed: int) -> None:
    m = random_mask(GRID, fraction, rng(seed))
    assert m.shape == GRID.shape and m.dtype == bool
    assert m.sum() == min(NPTS, max(1, round(fraction * NPTS)))


@settings(max_examples=40, deadline=None)
@given(
    lat=st.floats(min_value=-90.0, max_value=90.0),
    lon=st.floats(min_value=-180.0, max_value=360.0, exclude_max=True),
)
def test_nearest_grid_index_is_nearest(lat: float, lon: float) -> None:
    i, j = nearest_grid_index(GRID, lat, lon)
    p, q = np.deg2rad(lat), np.deg2rad(lon)
    lat2d, lon2d = np.meshgrid(np.deg2rad(GRID.lat), np.deg2rad(GRID.lon), indexing="ij")
    cosd = np.sin(p) * np.sin(lat2d) + np.cos(p) * np.cos(lat2d) * np.cos(lon2d - q)
    assert cosd[i[0], j[0]] >= cosd.max() - 1e-12


# --- CSV points ---------------------------------------------------------------------------------


def grid_points_csv(n: int = 30, seed: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
    """CSV of n distinct grid points with z values, lon written in -180..180."""
    r = rng(seed)
    flat = r.choice(NPTS, n, replace=False)
    i, j = np.divmod(flat, GRID.nlon)
    lon = (GRID.lon[j] + 180.0) % 360.0 - 180.0
    z = r.uniform(5000, 6000, n).round(3)
    lines = ["lat,lon,variable,value"]
    lines += [
        f"{float(GRID.lat[a])!r},{float(b)!r},z,{float(c)!r}"
        for a, b, c in zip(i, lon, z, strict=True)
    ]
    return "\n".join(lines) + "\n", np.stack([i, j]), z


def test_csv_round_trips_values(tmp_path) -> None:
    text, (i, j), z = grid_points_csv()
    path = tmp_path / "points.csv"
    path.write_text(text)
    for source in (text, path, str(path), io.StringIO(text), text.encode()):
        pts = points_from_csv(source, GRID)
        assert isinstance(pts, PointObs) and pts.n_rows == len(z)
        assert pts.mask.shape == (NVAR, *GRID.shape)
        assert pts.mask[0].sum() == len(z) and not pts.mask[1:].any()
        np.testing.assert_array_equal(pts.location_mask, pts.mask[0])
        assert pts.values is not None
        np.testing.assert_array_equal(pts.values[0, i, j], z)
        assert pts.value_mask.sum() == len(z)


def test_csv_locations_only_observe_all_variables() -> None:
    text = " LAT , Lon \n51.5, -0.1\n-33.9, 151.2\n\n40.7,286.0\n"
    pts = points_from_csv(text, GRID)
    assert pts.values is None and pts.n_rows == 3
    assert pts.location_mask.sum() == 3
    assert (pts.mask == pts.location_mask).all()
    i, j = nearest_grid_index(GRID, 51.5, -0.1)
    assert pts.location_mask[i[0], j[0]]


def test_csv_lon_conventions_agree() -> None:
    a = points_from_csv("lat,lon\n10,-90\n-20,-0.5\n", GRID)
    b = points_from_csv("lat,lon\n10,270\n-20,359.5\n", GRID)
    np.testing.assert_array_equal(a.location_mask, b.location_mask)


def test_csv_mixed_values_and_duplicates() -> None:
    text = (
        "latitude,longitude,Variable,VALUE\n"
        "10,20,Z,5500\n"
        "10.01,20.01,z,5500\n"  # same grid point, same value: fine
        "10,20,u,\n"  # u at the same point sampled from the truth
        "-50,100,tracer,0.3\n"
    )
    pts = points_from_csv(text, GRID)
    assert pts.count == 3 and pts.n_rows == 4
    assert pts.value_mask.sum() == 2


BAD_CSV = {
    "empty": ("", "empty"),
    "blank": ("  \n\n", "empty"),
    "header only": ("lat,lon\n", "no data rows"),
    "missing lon": ("lat,value\n1,2\n", "unknown column|missing"),
    "missing lat": ("lon\n1\n", r"missing column\(s\) \['lat'\]"),
    "unknown column": ("lat,lon,time\n1,2,3\n", "unknown column 'time'"),
    "duplicate column": ("lat,lon,LAT\n1,2,3\n", "appears twice"),
    "non-numeric": ("lat,lon\n1,2\n3,abc\n", r"row 2 \(line 3\): lon 'abc' is not a number"),
    "empty number": ("lat,lon\n,2\n", r"row 1 \(line 2\): lat is empty"),
    "nan": ("lat,lon\n1,2\nnan,3\n", r"row 2 .*not finite"),
    "inf": ("lat,lon\n1,inf\n", r"row 1 .*not finite"),
    "lat range": ("lat,lon\n1,2\n2,3\n95,3\n", r"row 3 \(line 4\): lat 95 outside \[-90, 90\]"),
    "lon low": ("lat,lon\n1,-181\n", r"row 1 .*lon -181 outside \[-180, 360\)"),
    "lon 360": ("lat,lon\n1,360\n", r"row 1 .*lon 360 outside"),
    "unknown variable": ("lat,lon,variable,value\n1,2,q,3\n", "row 1 .*unknown variable 'q'"),
    "value without variable": (
        "lat,lon,variable,value\n1,2,z,3\n1,2,,4\n",
        "row 2 .*value given without a variable",
    ),
    "value column alone": ("lat,lon,value\n1,2,3\n", "'value' column needs a 'variable'"),
    "variable column alone": ("lat,lon,variable\n1,2,z\n", "'variable' column needs a 'value'"),
    "bad value": ("lat,lon,variable,value\n1,2,z,high\n", "row 1 .*value 'high' is not a number"),
    "nan value": ("lat,lon,variable,value\n1,2,z,NaN\n", "row 1 .*value 'NaN' is not finite"),
    "conflict": (
        "lat,lon,variable,value\n10,20,z,1\n5,5,u,1\n10.1,20.1,z,2\n",
        r"rows 1 and 3 .*conflicting values for 'z'",
    ),
    "conflict with truth": (
        "lat,lon,variable,value\n10,20,,\n10,20,v,2\n",
        r"rows 1 and 2 .*conflicting values for 'v'",
    ),
    "too few fields": ("lat,lon\n1,2\n3\n", r"row 2 .*expected 2 fields, got 1"),
    "too many fields": ("lat,lon\n1,2,3\n", r"row 1 .*expected 2 fields, got 3"),
    "missing file": ("/no/such/file.csv", "cannot read CSV file"),
}


@pytest.mark.parametrize(("text", "message"), BAD_CSV.values(), ids=BAD_CSV.keys())
def test_csv_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ObsError, match=message):
        points_from_csv(text, GRID)


def test_csv_max_rows() -> None:
    text = "lat,lon\n" + "".join(f"{k % 90},{k % 360}\n" for k in range(11))
    assert points_from_csv(text, GRID, max_rows=11).n_rows == 11
    with pytest.raises(ObsError, match=r"row 11 .*more than max_rows=10"):
        points_from_csv(text, GRID, max_rows=10)


def test_obs_error_is_value_error() -> None:
    assert issubclass(ObsError, ValueError)


# --- observe ------------------------------------------------------------------------------------


def test_observe_noise_statistics() -> None:
    truth = fake_truth(dtype=np.float64)
    mask = random_mask(GRID, 0.5, rng(1))
    obs = observe(truth, mask, rng(2))
    assert obs.mask.shape == truth.shape and obs.values.dtype == np.float32
    for k, name in enumerate(VARIABLE_NAMES):
        err = obs.values[k][mask] - truth[k][mask]
        assert abs(err.std() / DEFAULT_NOISE_STD[name] - 1) < 0.05, name
        assert abs(err.mean()) < 0.05 * DEFAULT_NOISE_STD[name]
    np.testing.assert_array_equal(obs.noise_std, [DEFAULT_NOISE_STD[n] for n in VARIABLE_NAMES])


def test_observe_custom_noise_dict_and_scalar() -> None:
    truth = fake_truth(dtype=np.float64)
    mask = random_mask(GRID, 0.5, rng(1))
    obs = observe(truth, mask, rng(3), noise_std={"z": 30.0})
    assert obs.noise_std[0] == 30.0 and obs.noise_std[1] == DEFAULT_NOISE_STD["u"]
    err = obs.values[0][mask] - truth[0][mask]
    assert abs(err.std() / 30.0 - 1) < 0.05
    assert (observe(truth, mask, rng(3), noise_std=2.0).noise_std == 2.0).all()


def test_observe_zero_noise_is_exact_and_unobserved_is_zero() -> None:
    truth = fake_truth()
    mask = random_mask(GRID, 0.05, rng(1))
    obs = observe(truth, mask, rng(2), noise_std=0.0)
    assert obs.mask.shape == (NVAR, *GRID.shape) and obs.values.shape == obs.mask.shape
    np.testing.assert_array_equal(obs.values[:, mask], truth[:, mask])
    assert (obs.values[:, ~mask] == 0.0).all() and np.isfinite(obs.values).all()
    assert obs.count == NVAR * mask.sum()
    assert obs.fraction == pytest.approx(mask.mean())
    assert obs.counts == dict.fromkeys(VARIABLE_NAMES, int(mask.sum()))


def test_observe_is_deterministic() -> None:
    truth, mask = fake_truth(), random_mask(GRID, 0.05, rng(1))
    a, b = observe(truth, mask, rng(5)), observe(truth, mask, rng(5))
    np.testing.assert_array_equal(a.values, b.values)


def test_observe_variables_and_full_mask() -> None:
    truth = fake_truth()
    mask = random_mask(GRID, 0.05, rng(1))
    obs = observe(truth, mask, rng(2), variables=["u", "v"])
    assert obs.counts == {"z": 0, "u": int(mask.sum()), "v": int(mask.sum()), "tracer": 0}
    assert (obs.values[[0, 3]] == 0).all()
    full = np.zeros((NVAR, *GRID.shape), dtype=bool)
    full[3] = mask
    full[0, 0, 0] = True
    obs = observe(truth, full.astype(np.int8), rng(2), variables="tracer")
    assert obs.counts["tracer"] == mask.sum() and obs.counts["z"] == 0


@pytest.mark.parametrize(
    ("truth", "mask", "kwargs", "message"),
    [
        (np.zeros((3, 64, 128)), None, {}, "truth must have shape"),
        ("nan", None, {}, r"NaN or inf in \['u'\]"),
        (None, np.zeros((64, 100), bool), {}, "mask shape"),
        (None, np.full((64, 128), 0.5), {}, "mask must be boolean"),
        (None, None, {"noise_std": -1.0}, "finite and >= 0"),
        (None, None, {"noise_std": {"z": math.nan}}, "finite and >= 0"),
        (None, None, {"noise_std": {"q": 1.0}}, "unknown variable"),
        (None, None, {"noise_std": "big"}, "noise_std must be"),
        (None, None, {"variables": ["z", "temperature"]}, "unknown variable"),
        (None, None, {"variables": []}, "variables is empty"),
        (None, np.zeros((64, 128), bool), {}, "no observations"),
    ],
)
def test_observe_errors(truth, mask, kwargs: dict, message: str) -> None:
    if truth is None or isinstance(truth, str):
        t = fake_truth()
        if truth == "nan":
            t[1, 3, 4] = np.nan
        truth = t
    if mask is None:
        mask = random_mask(GRID, 0.01, rng())
    with pytest.raises(ObsError, match=message):
        observe(truth, mask, rng(), **kwargs)


def test_observe_user_points() -> None:
    truth = fake_truth(dtype=np.float64)
    text = "lat,lon,variable,value\n10,20,z,1234.5\n10,20,u,\n-60,300,,\n"
    pts = points_from_csv(text, GRID)
    obs = observe(truth, pts, rng(1))
    direct = apply_user_points(pts, truth, rng(1))
    np.testing.assert_array_equal(obs.values, direct.values)
    i, j = nearest_grid_index(GRID, [10, -60], [20, 300])
    assert obs.values[0, i[0], j[0]] == np.float32(1234.5)  # user value, no noise
    assert obs.values[1, i[0], j[0]] != truth[1, i[0], j[0]]  # sampled with noise
    assert obs.mask[:, i[1], j[1]].all()  # location-only row observes all variables
    assert obs.count == 2 + NVAR
    with pytest.raises(ObsError, match="mapped to grid"):
        apply_user_points(pts, np.zeros((NVAR, 32, 64)), rng())


# --- Observations <-> xarray --------------------------------------------------------------------


def test_observations_dataset_round_trip(tmp_path) -> None:
    truth = fake_truth()
    obs = observe(truth, swath_mask(GRID, 1, rng(1)), rng(2), variables=["z", "tracer"])
    ds = obs.to_dataset(GRID)
    assert set(ds.data_vars) == {f"{n}_obs" for n in VARIABLE_NAMES}
    z = ds["z_obs"]
    assert z.dims == ("latitude", "longitude") and z.dtype == np.float32
    assert z.attrs["units"] == "m" and "geopotential height" in z.attrs["long_name"]
    assert z.attrs["observation_error_std"] == DEFAULT_NOISE_STD["z"]
    assert np.isnan(ds["u_obs"]).all() and int(np.isfinite(z).sum()) == obs.counts["z"]
    np.testing.assert_array_equal(ds["latitude"], GRID.lat)
    path = tmp_path / "obs.nc"
    ds.to_netcdf(path)
    with xr.open_dataset(path) as back_ds:
        back = Observations.from_dataset(back_ds, GRID)
    np.testing.assert_array_equal(back.mask, obs.mask)
    np.testing.assert_array_equal(back.values, obs.values)
    np.testing.assert_array_equal(back.noise_std, obs.noise_std)


def test_observations_validation() -> None:
    mask = np.zeros((NVAR, 4, 8), dtype=bool)
    mask[0, 1, 1] = True
    values = np.full(mask.shape, 7.0)
    obs = Observations(mask, values, np.ones(NVAR))
    assert obs.values.dtype == np.float32 and obs.values.sum() == 7.0  # zeroed off-mask
    with pytest.raises(ObsError, match="finite"):
        Observations(mask, np.full(mask.shape, np.nan), np.ones(NVAR))
    with pytest.raises(ObsError, match="boolean"):
        Observations(mask[0], values[0], np.ones(NVAR))
    with pytest.raises(ObsError, match="noise_std"):
        Observations(mask, values, -np.ones(NVAR))
    with pytest.raises(ObsError, match="grid shape"):
        obs.to_dataset(GRID)
    with pytest.raises(ObsError, match="none of"):
        Observations.from_dataset(xr.Dataset())


def test_misfit_is_one_for_the_truth_and_grows_with_error() -> None:
    truth = rng(1).normal(0.0, 5.0, size=(4, *GRID.shape))
    obs = observe(truth, make_mask("random", GRID, rng(2), density=0.2), rng(3))
    assert obs.misfit(truth) == pytest.approx(1.0, abs=0.05)  # noise of the stated std
    shifted = truth + np.array([20.0, 0.0, 0.0, 0.0]).reshape(-1, 1, 1)  # z off by 2 sigma
    assert obs.misfit(shifted) == pytest.approx(np.sqrt((5 + 1 + 1 + 1) / 4), abs=0.07)
    perfect = observe(truth, make_mask("random", GRID, rng(2), density=0.2), rng(3), 0.0)
    assert perfect.misfit(truth) == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(ObsError, match="state shape"):
        obs.misfit(truth[:3])
