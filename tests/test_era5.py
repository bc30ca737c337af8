"""The real-data path on a tiny ERA5-style file written by the test."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from alignda.era5 import cases_from_reanalysis, open_reanalysis
from alignda.sphere import GRAVITY


@pytest.fixture
def era5_file(tmp_path):
    time = pd.date_range("2020-01-01", periods=12, freq="6h")
    lat = np.linspace(-90, 90, 7)  # ascending, with poles (unlike our convention)
    lon = np.arange(-180, 180, 45.0)
    level = np.array([500, 850])
    rng = np.random.default_rng(0)
    shape = (len(time), len(level), len(lat), len(lon))

    def var(units, scale, offset=0.0):
        return (
            ("valid_time", "pressure_level", "lat", "lon"),
            offset + scale * rng.normal(size=shape),
            {"units": units},
        )

    ds = xr.Dataset(
        {
            "geopotential": var("m**2 s**-2", 500.0, 54000.0),
            "u_component_of_wind": var("m s**-1", 10.0),
            "v_component_of_wind": var("m s**-1", 10.0),
            "specific_humidity": var("kg kg**-1", 1e-3, 2e-3),
        },
        coords={"valid_time": time, "pressure_level": level, "lat": lat, "lon": lon},
    )
    path = tmp_path / "era5.nc"
    ds.to_netcdf(path)
    return path, ds


def test_reads_and_standardises(era5_file):
    path, raw = era5_file
    ds = open_reanalysis(path, level=500)
    assert list(ds.data_vars) == ["z", "u", "v", "tracer"]
    assert ds.z.dims == ("time", "latitude", "longitude")
    assert np.all(np.diff(ds.latitude.values) < 0)
    assert ds.longitude.values.min() >= 0 and np.all(np.diff(ds.longitude.values) > 0)
    assert ds.z.attrs["units"] == "m"
    src = raw.geopotential.sel(pressure_level=500, lat=90.0, lon=-45.0).values / GRAVITY
    np.testing.assert_allclose(ds.z.sel(latitude=90.0, longitude=315.0).values, src, rtol=1e-6)


def test_persistence_background(era5_file):
    path, _ = era5_file
    cases = cases_from_reanalysis(path, lead_hours=24)
    assert len(cases) == 12 - 4
    t = cases.times[0]
    np.testing.assert_array_equal(
        cases.background_state(t), cases.truth_state(t - np.timedelta64(24, "h"))
    )
    assert cases.future_truth(cases.times[-1], 24) is None


def test_forecast_background_file(era5_file):
    path, _ = era5_file
    cases = cases_from_reanalysis(path, background=path)
    np.testing.assert_array_equal(
        cases.background_state(cases.times[3]), cases.truth_state(cases.times[3])
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(names={"tracer": "ozone"}), "no variable for 'tracer'"),
        (dict(level=300), "level 300"),
        (dict(level=None), "choose a level"),
    ],
)
def test_clear_errors(era5_file, kwargs, message):
    path, _ = era5_file
    with pytest.raises(ValueError, match=message):
        open_reanalysis(path, **kwargs)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_reanalysis(tmp_path / "nope.nc")
