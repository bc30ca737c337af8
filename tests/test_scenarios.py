"""Scenario matrix: every guidance mode, with and without reward weights, every observation
pattern, a sparse and a dense network, through the real app's API and through the CLI.

Each request runs at cheap settings (4 steps, 1 member) and must answer with finite fields
(the analysis netCDF) and a full score table; a refusal is only accepted where the input is
invalid, with the message expected for it (:data:`REFUSALS`).

The API matrix is the full product, 5 modes x 2 weightings x 5 patterns x 2 densities = 100
requests (about 2 min on 2 cores). The CLI loads its models on every call, so its matrix is
pairwise (all pairs): 25 runs that take every mode x pattern once and cover every pair of
values of any two factors (mode, weights, pattern, density, Langevin corrections 0 or 1;
:func:`pairwise` checks it).
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from alignda import studio as st
from alignda.analysis.score import ANALYSIS_MODES as MODES
from alignda.cli import main

pytestmark = pytest.mark.slow  # the scenario matrix: about 100 requests

PATTERNS = st.OBS_PATTERNS  # random, stations, swaths, tracks, csv
DENSITIES = {"sparse": 0.2, "dense": 25.0}  # percent of the grid points
WEIGHTS = {"unaligned": (0.0, 0.0, 0.0, 0.0), "aligned": (0.0, 0.0, 0.0, 1.0)}
#: (pattern, density name) -> the refusal expected (none: every scenario above is valid).
REFUSALS: dict[tuple[str, str], str] = {}


def csv_points(density: str) -> str:
    """A CSV network: 16 points (sparse) or every other grid point, 25 % (dense)."""
    if density == "sparse":
        points = [(lat, lon) for lat in (-60, -20, 20, 60) for lon in (0, 90, 180, 270)]
    else:
        grid = st.default_studio().grid
        points = [(a, o) for a in grid.lat[::2] for o in grid.lon[::2]]
    return "lat,lon\n" + "".join(f"{a:.4f},{o:.4f}\n" for a, o in points)


def api_args(mode: str, weights: str, pattern: str, density: str, points) -> list:
    """Positional arguments of the /assimilate endpoint."""
    return [
        "0",  # case
        pattern,
        DENSITIES[density],
        1.0,  # noise scale
        mode,
        1.0,  # zeta
        4,  # steps (the minimum)
        1,  # members
        0,  # seed
        *WEIGHTS[weights],
        False,  # forecast
        points,
        "z",
        st.ALIGNED_ROW,
    ]


def check_analysis(path: str | Path, members: int = 1) -> None:
    """The netCDF holds finite member fields, means and spreads of every variable."""
    with xr.open_dataset(path) as ds:
        assert ds.sizes["member"] == members
        for name, var in ds.data_vars.items():
            assert np.isfinite(var.values).all(), name
        assert {"z", "u", "v", "tracer", "z_mean", "tracer_spread"} <= set(ds.data_vars)


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory) -> dict[str, object]:
    from gradio_client import handle_file

    folder = tmp_path_factory.mktemp("points")
    handles = {}
    for density in DENSITIES:
        path = folder / f"{density}.csv"
        path.write_text(csv_points(density))
        handles[density] = handle_file(str(path))
    return handles


API_MATRIX = list(itertools.product(MODES, WEIGHTS, PATTERNS, DENSITIES))


@pytest.mark.parametrize(
    ("mode", "weights", "pattern", "density"), API_MATRIX, ids=["-".join(c) for c in API_MATRIX]
)
def test_api_scenario(client, csv_files, mode, weights, pattern, density) -> None:
    points = csv_files[density] if pattern == st.CSV_PATTERN else None
    call = api_args(mode, weights, pattern, density, points)
    if (pattern, density) in REFUSALS:
        with pytest.raises(Exception, match=REFUSALS[pattern, density]):  # noqa: PT011
            client.predict(*call, api_name="/assimilate")
        return
    maps, table, plot, files, notes = client.predict(*call, api_name="/assimilate")
    assert Path(maps).stat().st_size > 50_000 and Path(plot).is_file()
    assert table["headers"] == list(st.TABLE_HEADERS)
    rows = {r[0]: dict(zip(table["headers"], r, strict=True)) for r in table["data"]}
    expected = ["background", st.THREEDVAR, st.UNALIGNED]
    if weights == "aligned" and st.default_studio().aligned_available:
        expected.append(st.ALIGNED_ROW)
    assert list(rows) == expected
    for name, row in rows.items():
        for column, value in row.items():
            if column in ("spread/skill", "CRPS"):  # ensembles of 2+ members only: 1 here
                assert value is None, (name, column, value)
            elif column not in ("method", st.REWARD_COLUMNS[1]):  # no forecast asked
                assert value is not None and np.isfinite(value), (name, column, value)
    by_name = {Path(f).name: f for f in files}
    check_analysis(by_name["analysis.nc"])
    settings = json.loads(Path(by_name["settings.json"]).read_text())
    assert settings["request"]["mode"] == mode and settings["request"]["pattern"] == pattern
    count = int(re.search(r"Observations: z (\d+)", notes).group(1))
    if pattern == st.CSV_PATTERN:
        assert count == len(csv_points(density).splitlines()) - 1
    else:  # sparse: a few points; dense: a quarter of the grid, roughly (swaths, tracks)
        grid = st.default_studio().grid
        share = count / (grid.lat.size * grid.lon.size)
        assert (share < 0.01) if density == "sparse" else (0.1 < share < 0.5), share
    assert "compute budget" in notes


# --- the CLI, pairwise -----------------------------------------------------------------------
def pairwise() -> list[tuple[str, str, str, str, int]]:
    """Every mode x pattern once; weights, density and corrections assigned so that every
    pair of values of any two of the five factors occurs (asserted)."""
    rows = []
    for (i, mode), (j, pattern) in itertools.product(enumerate(MODES), enumerate(PATTERNS)):
        weights = list(WEIGHTS)[(i + j) % 2]
        density = list(DENSITIES)[(i // 2 + j) % 2]
        corrections = (i + j // 2) % 2
        rows.append((mode, weights, pattern, density, corrections))
    values = [MODES, list(WEIGHTS), PATTERNS, list(DENSITIES), (0, 1)]
    for a, b in itertools.combinations(range(len(values)), 2):
        seen = {(r[a], r[b]) for r in rows}
        assert seen == set(itertools.product(values[a], values[b])), (a, b)
    return rows


CLI_MATRIX = pairwise()


@pytest.mark.parametrize(
    ("mode", "weights", "pattern", "density", "corrections"),
    CLI_MATRIX,
    ids=["-".join(map(str, c)) for c in CLI_MATRIX],
)
def test_cli_scenario(tmp_path, mode, weights, pattern, density, corrections) -> None:
    argv = ["assimilate", "--case", "1", "--mode", mode, "--steps", "4", "--members", "1"]
    argv += ["--corrections", str(corrections), "--out", str(tmp_path / "a.nc"), "--quiet"]
    if pattern == st.CSV_PATTERN:
        points = tmp_path / "points.csv"
        points.write_text(csv_points(density))
        argv += ["--points", str(points)]
    else:
        argv += ["--pattern", pattern, "--density", repr(DENSITIES[density] / 100)]
    if weights == "aligned" and st.default_studio().aligned_available:
        argv += ["--weights", ",".join(map(repr, WEIGHTS[weights]))]
    assert main(argv) == 0
    check_analysis(tmp_path / "a.nc")
    with xr.open_dataset(tmp_path / "a.nc") as ds:
        settings = json.loads(ds.attrs["settings"])
        assert settings["mode"] == mode and settings["corrections"] == corrections
