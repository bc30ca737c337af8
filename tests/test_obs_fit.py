"""An analysis that fits the observations worse than its background says so itself: the fit
(O-B, O-A) every Analysis carries, measured once in ``timed`` for every method."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from alignda.analysis.methods import Analysis, VariationalMethod, timed
from alignda.analysis.threedvar import BackgroundError, ThreeDVar
from alignda.checkpoints import resolve
from alignda.cli import main
from alignda.evaluation.experiments import run_methods
from alignda.obs.fit import NO_FIT, ObsFit, obs_fit
from alignda.obs.operator import observe_case
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from tests.astray import Astray


@pytest.fixture(scope="module")
def case():
    """The first shipped case (truth, background) and a swath observing it."""
    cases = Cases.open(SHIPPED_CASES)
    t = cases.times[0]
    truth = cases.truth_state(t)
    return truth, cases.background_state(t), observe_case(truth, 0, pattern="swaths", density=0.05)


def test_an_analysis_pushed_away_from_the_observations_says_so(case) -> None:
    """The background moved away from the truth (twice its error) as an 'analysis': its O-A
    is above O-B, and its warning names the method and both numbers."""
    truth, background, obs = case
    away = background + 2.0 * (background - truth)
    a = timed("pushed", lambda: np.stack([away - 1e-3, away + 1e-3]), background, obs)
    assert isinstance(a, Analysis) and a.fits_worse
    assert a.fit.background == pytest.approx(obs.misfit(background))
    assert a.fit.analysis == pytest.approx(obs.misfit(away), rel=1e-5)
    assert a.fit.analysis > 2 * a.fit.background > 0
    assert a.warning == (
        f"pushed fits the observations worse than the background (O-A {a.fit.analysis:.2f} > "
        f"O-B {a.fit.background:.2f}, rms of (obs - state) / obs error std)"
    )
    ignoring = Analysis("obsfree", a.members, 0.0, a.fit, observed=False)
    assert ignoring.warning.endswith("; obsfree ignores the observations")


def test_an_analysis_that_fits_no_worse_is_silent(case) -> None:
    """The background itself as the analysis (O-A = O-B) and one that moved towards the
    observations fit no worse; without observations nothing is measured."""
    truth, background, obs = case
    same = timed("background", lambda: background[None], background, obs)
    assert same.fit.analysis == same.fit.background and not same.fits_worse
    assert same.warning == ""
    closer = timed("closer", lambda: (0.5 * (background + truth))[None], background, obs)
    assert closer.fit.analysis < closer.fit.background and not closer.fits_worse
    assert "<=" in closer.fit.numbers()
    blind = timed("obsfree", lambda: background[None], background, None, observed=False)
    assert blind.fit == NO_FIT and not blind.fit.measured and not blind.fits_worse


def test_a_non_finite_analysis_fits_worse(case) -> None:
    _, background, obs = case
    fit = obs_fit(obs, background, np.full_like(background, np.nan))
    assert math.isnan(fit.analysis) and fit.worse and "O-A nan > O-B" in fit.warning("x")
    assert not ObsFit(math.nan, 3.0).worse and ObsFit(1.0, 1.5).worse


def test_threedvar_on_the_shipped_case_fits_better(case) -> None:
    """3D-Var with the shipped B on a swath: O-A well below O-B, no warning."""
    _, background, obs = case
    var = VariationalMethod(ThreeDVar(BackgroundError.load(resolve("threedvar_b", CHECKPOINT_DIR))))
    a = var.analyse(background, obs)
    assert a.fit.measured and a.fit.analysis < 0.8 * a.fit.background
    assert not a.fits_worse and a.warning == ""
    assert a.fit.analysis == pytest.approx(obs.misfit(a.mean))


def test_run_methods_counts_the_analyses_that_fit_worse(case) -> None:
    """The evaluation's runs count, per method, the analyses that said they fit worse."""
    truth, background, obs = case
    others = [observe_case(truth, 1, pattern="tracks", density=0.02), obs]
    means, seconds, worse = run_methods([Astray()], np.stack([background] * 2), others)
    assert worse == {"astray": 2} and means["astray"].shape == (2, *truth.shape)
    assert set(seconds) == {"astray"}


def test_assimilate_prints_and_writes_the_warning(tmp_path, capsys) -> None:
    """Observations that agree with the background (CSV values taken from it): O-B is ~0, so
    the prior's analysis, which moves the state, fits them worse; the command says so and
    writes the fit into the netCDF."""
    cases = Cases.open(SHIPPED_CASES)
    background, grid = cases.background_state(cases.times[0]), Grid()
    rows = [(i, j) for i in (10, 20, 32, 44, 54) for j in (0, 32, 64, 96)]
    points = tmp_path / "agree.csv"
    points.write_text(
        "lat,lon,variable,value\n"
        + "".join(
            f"{float(grid.lat[i])!r},{float(grid.lon[j])!r},z,{float(background[0, i, j])!r}\n"
            for i, j in rows
        )
    )
    out = tmp_path / "a.nc"
    argv = ["assimilate", "--case", "0", "--mode", "dps", "--steps", "2", "--members", "1"]
    argv += ["--points", str(points), "--weights", "0,0,0,0", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    warning = [line for line in printed.splitlines() if line.startswith("warning: ")]
    assert len(warning) == 1
    assert warning[0].startswith("warning: dps fits the observations worse than the background")
    with xr.open_dataset(out) as ds:
        assert ds.attrs["fits_obs_worse"] == "yes"
        assert ds.attrs["obs_misfit_analysis"] > ds.attrs["obs_misfit_background"]
        assert ds.attrs["obs_misfit_background"] < 1e-3
        assert ds.attrs["obs_fit_warning"] == warning[0].removeprefix("warning: ")
    assert f"O-A {ds.attrs['obs_misfit_analysis']:.2f} > O-B 0.00) -> {out}" in printed


@pytest.mark.slow
def test_the_studio_notes_read_each_analysis_own_fit() -> None:
    """DPS in 4 steps on a 5 % swath: the Studio's result keeps each analysis's own fit (the
    table's numbers), its notes say which fit worse, and a rerun with other weights reuses
    the cached baselines' fits."""
    from alignda import studio as st

    studio = st.Studio(budget_s=10_000)
    req = st.Request(case="1", mode="dps", pattern="swaths", density=0.05, steps=4, members=1)
    result = studio.run(req)
    fit = result.table[st.FIT_COLUMN]
    assert set(result.fits) == set(result.analyses)
    for name, own in result.fits.items():
        assert own.analysis == pytest.approx(fit[name]) and own.background == fit["background"]
        said = any(n.startswith(f"The {name} fits the observations worse") for n in result.notes)
        assert said == own.worse
    assert not result.fits[st.THREEDVAR].worse and result.fits[st.UNALIGNED].worse
    again = studio.run(replace(req, weights=(0.0, 0.0, 1.0, 0.0)))
    assert again.fits[st.UNALIGNED] == result.fits[st.UNALIGNED]
