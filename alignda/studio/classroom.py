"""The classroom's experiments on a studio: the single observation and cycled DA.

- :func:`single_obs_experiment`: one observation on a case's background, the increments of
  3D-Var (its static B column) and of the default mode (the prior's flow-dependent ensemble),
  as maps; :func:`click_map` is the map a user clicks to place it (:func:`pixel_to_lat_lon`).
- :func:`ensemble_experiment`: the prior's members for a chosen ensemble size: members, mean,
  spread against error, spread/skill and the rank histogram.
- :func:`cycling_experiment`: 3D-Var, the default mode and the aligned prior cycled from a
  case's truth (:mod:`alignda.evaluation.cycling`), with :func:`sawtooth_figure` redrawn after
  every analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import cartopy.crs as ccrs
import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from alignda.analysis.methods import AnalysisMethod, VariationalMethod
from alignda.analysis.single_obs import SingleObservation, increments, single_observation
from alignda.evaluation import ensemble
from alignda.evaluation.cycling import FREE_RUN, CycleConfig, CycleStep, cycle, sawtooth
from alignda.experiment import DEFAULT
from alignda.studio.request import Request
from alignda.studio.result import THREEDVAR
from alignda.viz.maps import coast_vertices, map_panel
from alignda.world.state import to_dataset
from alignda.world.variables import VARIABLES

#: The default mode's sampler in the classroom: fewer steps than the Studio's default and one
#: member (the deterministic analysis: one variational solve with the covariance of two prior
#: members), so that ten cycles answer in about a minute on two cores.
CLASSROOM_REQUEST = Request(steps=16, members=1)
#: The guidance of the classroom's aligned prior (where the reward weights act).
ALIGNED_MODE = "dps"
DEFAULT_MODE = f"default mode ({CLASSROOM_REQUEST.mode})"
ALIGNED_PRIOR = f"aligned prior ({ALIGNED_MODE})"
#: What the cycling tab offers (3D-Var and the default mode are the quick pair).
CYCLING_METHODS = (THREEDVAR, DEFAULT_MODE, ALIGNED_PRIOR)
#: Width and height (pixels) of the clickable map.
CLICK_MAP_SIZE = (720, 360)


def click_map(background: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """RGB pixels of the background height on a full-frame equirectangular map (no margins:
    a pixel's position is its longitude 0..360 and latitude 90..-90, see
    :func:`pixel_to_lat_lon`), with coastlines."""
    width, height = CLICK_MAP_SIZE
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1), projection=ccrs.PlateCarree(central_longitude=180))
    ax.set_global()
    field = np.concatenate([background[0], background[0][:, :1]], axis=1)
    lons = np.concatenate([lon, [360.0]])
    ax.contourf(lons, lat, field, 20, transform=ccrs.PlateCarree(), cmap="viridis")
    ax.add_collection(LineCollection(coast_vertices(ax.projection), colors="white", linewidths=0.6))
    ax.axis("off")
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    fig.clear()
    return pixels


def pixel_to_lat_lon(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    """(lat, lon) of a pixel of :func:`click_map` (any scaling of the image)."""
    lon = (x + 0.5) / width * 360.0  # the map starts at 0 E (central longitude 180)
    lat = 90.0 - (y + 0.5) / height * 180.0
    return float(np.clip(lat, -90.0, 90.0)), float(lon % 360.0)


@dataclass(frozen=True)
class SingleObsOutcome:
    """The observation, each method's increment (C, nlat, nlon) and the grid's coordinates."""

    ob: SingleObservation
    increments: Mapping[str, np.ndarray]
    lat: np.ndarray
    lon: np.ndarray

    def figure(self) -> Figure:
        """Maps of the z, u and v increments of each method (one row each), the observation
        marked; one colour scale per variable."""
        fields, groups = {}, {}
        for name, dx in self.increments.items():
            for k, var in enumerate(("z", "u", "v")):
                key = f"{name}: {var} [{VARIABLES[var]['units']}]"
                fields[key] = dx[k]
                groups.setdefault(var, []).append(key)
        point = (np.array([self.lat[self.ob.row]]), np.array([self.lon[self.ob.col]]))
        return map_panel(
            fields,
            self.lat,
            self.lon,
            ncols=3,
            diverging_groups=list(groups.values()),
            obs=point,
            obs_keys=list(fields),
            title=f"increments of one {self.ob.variable} observation at "
            f"{self.lat[self.ob.row]:.1f} N, {self.lon[self.ob.col]:.1f} E "
            f"(innovation {self.ob.innovation:+g}, error std {self.ob.noise_std:g})",
            panel_size=(3.6, 2.4),
        )


def single_obs_experiment(
    studio, case: str, variable: str, lat: float, lon: float, innovation: float
) -> SingleObsOutcome:
    """One observation on the case's background: the increments of 3D-Var and of the default
    mode (:data:`CLASSROOM_REQUEST`'s sampler)."""
    sc = studio.scenario(Request(case=case))
    ob = single_observation(studio.grid, variable, lat, lon, innovation)
    methods = {
        THREEDVAR: VariationalMethod(studio.threedvar),
        DEFAULT_MODE: studio.prior_method(CLASSROOM_REQUEST),
    }
    return SingleObsOutcome(
        ob, increments(methods, sc.background, ob), studio.grid.lat, studio.grid.lon
    )


@dataclass(frozen=True)
class EnsembleOutcome:
    """The members (M, C, nlat, nlon), the truth, and their verification."""

    members: np.ndarray
    truth: np.ndarray
    spread_skill: float  # of z, corrected for the finite ensemble (1 = reliable)
    ranks: np.ndarray  # rank histogram of z (M + 1 shares)
    lat: np.ndarray
    lon: np.ndarray

    def maps(self) -> Figure:
        """Height: two members, the ensemble mean and the truth (one scale); the mean's error
        and the ensemble spread (each its own scale)."""
        z = self.members[:, 0]
        mean = z.mean(0)
        fields = {
            "member 1": z[0],
            "member 2": z[1],
            "ensemble mean": mean,
            "truth": self.truth[0],
            "|mean - truth|": np.abs(mean - self.truth[0]),
            "spread (std of members)": z.std(0, ddof=1),
        }
        return map_panel(
            fields,
            self.lat,
            self.lon,
            units="m",
            ncols=4,
            shared_limits_keys=list(fields)[:4],
            title=f"{len(z)} members of the default mode: height [m]",
            panel_size=(3.4, 2.3),
        )

    def rank_figure(self) -> Figure:
        """The rank histogram of z against the flat one of a reliable ensemble."""
        fig = Figure(figsize=(5, 3), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        ax.bar(np.arange(len(self.ranks)), self.ranks, color="tab:blue")
        ax.axhline(1 / len(self.ranks), color="black", linestyle="--", label="reliable")
        ax.set_xlabel("rank of the truth among the members")
        ax.set_ylabel("share of the globe")
        ax.set_title(f"rank histogram of z; spread/skill {self.spread_skill:.2f}", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig


def ensemble_experiment(
    studio, case: str, members: int, density: float = DEFAULT.observing.density, seed: int = 0
) -> EnsembleOutcome:
    """The default mode's ensemble of ``members`` for the case observed at ``density``."""
    if not 2 <= members <= 16:
        raise ValueError(f"an ensemble needs 2 to 16 members, not {members}")
    req = Request(case=case, density=density, seed=seed)
    sc = studio.scenario(req)
    request = replace(CLASSROOM_REQUEST, members=members, seed=seed)
    ens = studio.prior_method(request).analyse(sc.background, sc.obs, seed=seed).members
    grid = studio.grid
    ens_ds = to_dataset(ens, grid, leading=[("member", np.arange(len(ens)))])
    truth_ds = to_dataset(sc.truth, grid)
    ratio = ensemble.spread_skill(ens_ds, truth_ds, finite_ensemble_correction=True)
    ranks = ensemble.rank_histogram(ens_ds, truth_ds)
    return EnsembleOutcome(ens, sc.truth, float(ratio["z"]), ranks["z"].values, grid.lat, grid.lon)


def cycling_methods(
    studio, names: list[str], weights: Mapping[str, float] | None = None
) -> dict[str, AnalysisMethod]:
    """The classroom's methods by name (:data:`CYCLING_METHODS`); the aligned prior uses
    ``weights`` (DPS guidance, the classroom's steps and members)."""
    unknown = [n for n in names if n not in CYCLING_METHODS]
    if unknown or not names:
        raise ValueError(f"choose methods among {CYCLING_METHODS}, not {unknown or 'none'}")
    make: dict[str, Callable[[], AnalysisMethod]] = {
        THREEDVAR: lambda: VariationalMethod(studio.threedvar),
        DEFAULT_MODE: lambda: studio.prior_method(CLASSROOM_REQUEST),
        ALIGNED_PRIOR: lambda: studio.prior_method(
            replace(CLASSROOM_REQUEST, mode=ALIGNED_MODE, members=2), weights or None
        ),
    }
    return {name: make[name]() for name in names}


def cycling_experiment(
    studio,
    case: str,
    names: list[str],
    config: CycleConfig,
    weights: Mapping[str, float] | None = None,
    on_step: Callable[[CycleStep], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> xr.Dataset:
    """Cycle the named methods from the case's truth (see :func:`cycling_methods`)."""
    truth0 = studio.scenario(Request(case=case)).truth
    methods = cycling_methods(studio, names, weights)
    return cycle(methods, truth0, studio.stats.std, config, on_step=on_step, stop=stop)


def sawtooth_figure(ds: xr.Dataset, total_cycles: int | None = None) -> Figure:
    """Background and analysis error (normalised MSE) of every experiment against time: the
    sawtooth of cycled DA (the free run as a dashed line)."""
    fig = Figure(figsize=(8, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name in ds.experiment.values:
        hours, errors = sawtooth(ds, str(name))
        ok = np.isfinite(errors)
        style = "--" if name == FREE_RUN else "-"
        ax.plot(hours[ok] / 24, errors[ok], style, marker=".", label=str(name))
    hours = ds.hours.values
    last = (total_cycles or len(hours)) * (hours[1] - hours[0] if len(hours) > 1 else hours[0])
    ax.set_xlim(0, max(last, hours[-1]) / 24 + 0.5)
    ax.set_xlabel("days (each cycle: a forecast, then an analysis)")
    ax.set_ylabel("MSE (normalised), lower is better")
    ax.set_title("cycled DA: background error (peaks) and analysis error (troughs)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
