"""Offline geography (land mask) and map rendering."""

from __future__ import annotations

import gc
import io
import urllib.request
import weakref
from pathlib import Path

import cartopy
import matplotlib.image as plt_image
import numpy as np
import pytest
from cartopy.io import Downloader, img_tiles, shapereader, srtm
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure
from matplotlib.image import imread

from alignda.viz import maps
from alignda.world import geography
from alignda.world.grid import Grid

# Importing these registers every cartopy Downloader subclass (patched in ``no_download``).
_DOWNLOADER_MODULES = (img_tiles, shapereader, srtm)


def _nearest(grid: Grid, lat: float, lon: float) -> tuple[int, int]:
    i = int(np.argmin(np.abs(grid.lat - lat)))
    j = int(np.argmin(np.abs((grid.lon - lon % 360.0 + 180.0) % 360.0 - 180.0)))
    return i, j


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Make every cartopy download (and any urlopen) fail loudly; point data_dir at tmp."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network/download attempted: {args!r}")

    classes: list[type] = [Downloader]
    while classes:
        cls = classes.pop()
        if "acquire_resource" in vars(cls):
            monkeypatch.setattr(cls, "acquire_resource", refuse)
        if "_urlopen" in vars(cls):
            monkeypatch.setattr(cls, "_urlopen", refuse)
        classes.extend(cls.__subclasses__())
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    # Restore cartopy's directories after the test (use_shipped_natural_earth changes them).
    monkeypatch.setitem(
        cartopy.config, "pre_existing_data_dir", cartopy.config["pre_existing_data_dir"]
    )
    monkeypatch.setitem(cartopy.config, "data_dir", cartopy.config["data_dir"])
    watched = [geography.NATURAL_EARTH_DIR, Path(cartopy.config["data_dir"])]
    before = {root: _files_under(root) for root in watched}
    yield
    for root in watched:
        assert _files_under(root) == before[root], f"new files appeared under {root}"


def _synthetic_fields(grid: Grid) -> dict[str, np.ndarray]:
    lat = np.deg2rad(grid.lat)[:, None]
    lon = np.deg2rad(grid.lon)[None, :]
    truth = 5500.0 + 300.0 * np.cos(lat) ** 2 + 80.0 * np.sin(3 * lon) * np.cos(lat)
    background = truth + 30.0 * np.cos(2 * lon) * np.cos(lat)
    analysis = truth + 8.0 * np.cos(2 * lon) * np.cos(lat)
    return {
        "truth": truth,
        "background": background,
        "analysis": analysis,
        "background - truth": background - truth,
        "analysis - truth": analysis - truth,
        "increment": analysis - background,
    }


def test_land_mask_default_grid() -> None:
    grid = Grid()
    mask = geography.land_mask(grid)
    assert mask.shape == grid.shape and mask.dtype == bool
    frac = float((mask * grid.weights[:, None]).mean())  # area-weighted land fraction
    assert 0.25 < frac < 0.35
    assert 0.25 < mask.mean() < 0.35
    for name, lat, lon in [
        ("central Africa", 5.0, 20.0),
        ("Siberia", 60.0, 100.0),
        ("Antarctica", -80.0, 0.0),
        ("Brazil", -10.0, -55.0),
    ]:
        assert mask[_nearest(grid, lat, lon)], name
    for name, lat, lon in [
        ("mid-Pacific", 0.0, -160.0),
        ("Pacific", -30.0, 200.0),
        ("Atlantic", 30.0, -40.0),
        ("Indian Ocean", -20.0, 80.0),
    ]:
        assert not mask[_nearest(grid, lat, lon)], name
    assert geography.land_mask(Grid()) is mask  # cached per grid
    assert not mask.flags.writeable


def test_coastlines_cached_and_shipped_files() -> None:
    coast = geography.coastlines()
    assert coast is geography.coastlines() and len(coast) > 100
    assert all(g.geom_type in ("LineString", "MultiLineString") for g in coast)
    for name in ("ne_110m_coastline", "ne_110m_land"):
        assert geography.shapefile_path(name).is_file()


def test_cell_edges_cover_the_globe_without_wrap() -> None:
    grid = Grid()
    lat_e, lon_e, cols = maps.cell_edges(grid.lat, grid.lon)
    assert lat_e[0] == 90.0 and lat_e[-1] == -90.0 and np.all(np.diff(lat_e) < 0)
    assert lon_e[0] == -180.0 and lon_e[-1] == 180.0 and np.all(np.diff(lon_e) > 0)
    assert len(cols) == len(lon_e) - 1
    centres = 0.5 * (lon_e[1:] + lon_e[:-1])
    lon_n = (grid.lon[cols] + 180.0) % 360.0 - 180.0
    # each drawn cell holds the grid column whose centre is nearest (mod 360)
    assert np.all(np.abs((centres - lon_n + 180.0) % 360.0 - 180.0) <= 360.0 / grid.nlon)


def test_render_panel_offline(no_download: None, tmp_path: Path) -> None:
    grid = Grid()
    fields = _synthetic_fields(grid)
    rng = np.random.default_rng(0)
    obs = (rng.uniform(-80, 80, 50), rng.uniform(0, 360, 50), rng.uniform(5500, 5800, 50))
    fig = maps.map_panel(
        fields,
        grid.lat,
        grid.lon,
        units="m",
        diverging_keys=["background - truth", "analysis - truth", "increment"],
        obs=obs,
    )
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.get_title()]) == 6
    meshes = {
        ax.get_title(): next(c for c in ax.collections if isinstance(c, QuadMesh))
        for ax in fig.axes
        if ax.get_title()
    }
    state = [
        (meshes[k].norm.vmin, meshes[k].norm.vmax) for k in ("truth", "background", "analysis")
    ]
    assert state[0] == state[1] == state[2]
    for key in ("background - truth", "analysis - truth", "increment"):
        norm = meshes[key].norm
        assert norm.vmin == -norm.vmax > -np.inf
        assert norm.vmax == pytest.approx(np.abs(fields["background - truth"]).max())
    path = maps.save_png(fig, tmp_path / "panel.png")
    assert path.is_file() and path.stat().st_size > 10_000
    img = imread(path)
    assert img.shape[0] > 300 and float(img[..., :3].var()) > 1e-3
    assert not fig.axes  # cleared by save_png


def test_cartopy_coastlines_use_shipped_data(no_download: None) -> None:
    geography.use_shipped_natural_earth()
    geography.use_shipped_natural_earth()  # idempotent
    fig = Figure(figsize=(4, 2.5))
    ax = fig.add_subplot(projection=maps.get_projection("robinson"))
    ax.coastlines()
    data = maps.png_bytes(fig)
    img = plt_image.imread(io.BytesIO(data), format="png")
    # the coastlines are drawn: dark line pixels on the white background, not a blank map
    dark = img[..., :3].mean(-1) < 0.5
    assert img.shape[:2] == (250, 400) and 0.001 < dark.mean() < 0.2


def test_no_leaked_figures(tmp_path: Path) -> None:
    grid = Grid()
    fields = {"truth": _synthetic_fields(grid)["truth"]}

    def count() -> int:
        gc.collect()
        return sum(isinstance(o, Figure) for o in gc.get_objects())

    maps.save_png(maps.map_panel(fields, grid.lat, grid.lon), tmp_path / "warm.png")
    before = count()
    fig = maps.map_panel(fields, grid.lat, grid.lon, units="m")
    ref = weakref.ref(fig)
    maps.save_png(fig, tmp_path / "one.png")
    del fig
    for _i in range(3):
        maps.png_bytes(maps.map_panel(fields, grid.lat, grid.lon, projection="platecarree"))
    gc.collect()
    assert ref() is None
    assert count() <= before


def test_bad_inputs() -> None:
    grid = Grid()
    with pytest.raises(ValueError, match="shape"):
        maps.plot_field(None, np.zeros((3, 4)), grid.lat, grid.lon)
    with pytest.raises(ValueError, match="diverging_keys"):
        maps.map_panel({"a": np.zeros(grid.shape)}, grid.lat, grid.lon, diverging_keys=["b"])
    with pytest.raises(ValueError, match="projection"):
        maps.get_projection("mercator")
