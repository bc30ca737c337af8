"""Cycled data assimilation: any analysis methods driven through N cycles on a truth run.

The classic twin experiment: the truth runs on (the world model with its stochastic forcing);
every ``hours`` it is observed; each method's background is the imperfect model's forecast
from that method's previous analysis, and its analysis starts the next forecast. A free run
(the forecast chain without any analysis) is the reference. Every method sees the same truth
and the same observations; the first background of all starts from the same perturbed truth.

    cycle({"3D-Var": bundle.variational(), "hybrid": bundle.prior_method(...)}, truth0, scale)
    -> xr.Dataset of background and analysis errors per experiment (method), cycle, variable

The errors are the area-weighted RMSE per variable (physical units) and the MSE normalised by
``scale`` (mean over variables), of the background and of the analysis (ensemble mean), and
the ensemble spread of the analysis. Over cycles they draw the sawtooth: the background error
grows over each forecast and each analysis cuts it down. Beside them, each analysis's own fit
to that cycle's observations (O-B, O-A, :mod:`alignda.obs.fit`) and whether it fits them worse
than its background (:func:`fits_worse_summary` counts the cycles).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import xarray as xr

from alignda.analysis.methods import AnalysisMethod
from alignda.analysis.score import Cancelled
from alignda.experiment import DEFAULT
from alignda.obs.fit import NO_FIT, ObsFit, obs_fit
from alignda.obs.operator import observe_case
from alignda.world.grid import Grid
from alignda.world.model import ShallowWaterModel, WorldConfig
from alignda.world.variables import VARIABLE_NAMES

#: The method name of the forecast chain without analyses.
FREE_RUN = "free run"
#: Wind (m/s) of the balanced perturbation of the first cycle's initial state.
INITIAL_ERROR_WIND = 3.0


@dataclass(frozen=True)
class CycleConfig:
    """What a cycling run does: ``cycles`` cycles of ``hours``, each observed by ``pattern`` at
    ``density`` (a fraction) with noise x ``noise_scale``; ``seed`` draws the truth's forcing,
    the first initial error, the networks (cycle c: seed 1000 seed + c) and the samplers."""

    cycles: int = 10
    hours: int = 48
    pattern: str = DEFAULT.observing.pattern
    density: float = DEFAULT.observing.density
    noise_scale: float = DEFAULT.observing.noise_scale
    seed: int = DEFAULT.seed
    world: WorldConfig = field(default_factory=WorldConfig)

    def __post_init__(self) -> None:
        if self.cycles < 1 or self.hours < 1:
            raise ValueError(f"cycles and hours must be >= 1, not {self.cycles} and {self.hours}")


@dataclass(frozen=True)
class CycleStep:
    """One finished cycle of one method: errors of its background and analysis, and the
    analysis's fit to the cycle's observations (``fit``: O-B, O-A, as its method said)."""

    cycle: int
    method: str
    background_mse: float
    analysis_mse: float
    background_rmse: np.ndarray  # per variable, physical units
    analysis_rmse: np.ndarray
    analysis_spread: np.ndarray  # per variable, rms ensemble spread
    seconds: float
    fit: ObsFit = NO_FIT
    observed: bool = True  # whether the method used the observations

    @property
    def background_misfit(self) -> float:
        """O-B: the background's misfit to the cycle's observations."""
        return self.fit.background

    @property
    def analysis_misfit(self) -> float:
        """O-A: the analysis's misfit to the cycle's observations."""
        return self.fit.analysis

    @property
    def fits_worse(self) -> bool:
        """Whether the analysis fits the observations worse than its background."""
        return self.fit.worse

    @property
    def warning(self) -> str:
        """One line when the analysis fits worse (method, cycle, O-A, O-B); '' otherwise."""
        return self.fit.warning(f"{self.method} (cycle {self.cycle + 1})", self.observed)


def _errors(x: np.ndarray, truth: np.ndarray, grid: Grid, scale: np.ndarray):
    """(rmse per variable, normalised MSE) of a state (C, nlat, nlon)."""
    sq = grid.area_mean((x - truth) ** 2)
    return np.sqrt(sq), float((sq / scale**2).mean())


def cycle(
    methods: Mapping[str, AnalysisMethod],
    truth0: np.ndarray,
    scale: Sequence[float],
    config: CycleConfig | None = None,
    on_step: Callable[[CycleStep], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> xr.Dataset:
    """Cycle every method from the truth state ``truth0`` (C, nlat, nlon); see the module
    docstring. ``scale``: per-variable std of the normalised MSE. ``on_step`` is called after
    each method's analysis of each cycle (live plots); ``stop`` returning True raises
    :class:`~alignda.analysis.score.Cancelled` between analyses."""
    config = config or CycleConfig()
    truth_model = ShallowWaterModel(config.world)
    fc = ShallowWaterModel(config.world.imperfect())
    gen = torch.Generator().manual_seed(config.seed)
    steps = config.world.steps(config.hours)
    scale = np.asarray(scale, dtype=np.float64)
    grid = Grid(*np.shape(truth0)[-2:])

    s = truth_model.from_physical(torch.as_tensor(truth0, dtype=torch.float32)[None])
    forcing = truth_model.new_forcing(1, gen)
    start = fc.to_physical(s + fc.perturbation(1, INITIAL_ERROR_WIND, gen))[0].numpy()
    names = [FREE_RUN, *methods]
    state = {name: start for name in names}  # what each method's next forecast starts from
    steps_done: list[CycleStep] = []
    for c in range(config.cycles):
        s, forcing = truth_model.run(s, steps, forcing, gen)
        truth = truth_model.to_physical(s)[0].numpy()
        obs = observe_case(
            truth,
            1000 * config.seed + c,
            pattern=config.pattern,
            density=config.density,
            noise_scale=config.noise_scale,
        )
        # every method's forecast in one batch
        x0 = torch.from_numpy(np.stack([state[name] for name in names]))
        backgrounds = fc.to_physical(fc.run(fc.from_physical(x0), steps)[0]).numpy()
        for name, background in zip(names, backgrounds, strict=True):
            if stop is not None and stop():
                raise Cancelled("cycling cancelled")
            if name == FREE_RUN:  # no analysis: the background, O-A = O-B
                members, seconds = background[None], 0.0
                fit, observed = obs_fit(obs, background, background), False
            else:
                done = methods[name].analyse(background, obs, seed=1000 * config.seed + c)
                members, seconds = done.members, done.seconds
                fit, observed = done.fit, done.observed
            analysis = members.mean(0)
            if not np.isfinite(analysis).all():
                raise FloatingPointError(f"{name}: non-finite analysis at cycle {c}")
            bg_rmse, bg_mse = _errors(background, truth, grid, scale)
            an_rmse, an_mse = _errors(analysis, truth, grid, scale)
            spread = members.std(0, ddof=1) if len(members) > 1 else np.zeros_like(analysis)
            step = CycleStep(
                c,
                name,
                bg_mse,
                an_mse,
                bg_rmse,
                an_rmse,
                np.sqrt(grid.area_mean(spread**2)),
                seconds,
                fit,
                observed,
            )
            steps_done.append(step)
            state[name] = analysis.astype(np.float32)
            if on_step is not None:
                on_step(step)
    return errors_dataset(steps_done, config)


def errors_dataset(steps: Sequence[CycleStep], config: CycleConfig) -> xr.Dataset:
    """The per-cycle errors as a dataset (experiment: the method's name, cycle[, variable])
    with the config in attrs."""
    methods = list(dict.fromkeys(s.method for s in steps))
    cycles = sorted({s.cycle for s in steps})
    shape = (len(methods), len(cycles))
    per_var = (*shape, len(VARIABLE_NAMES))
    data = {
        "background_mse": np.full(shape, np.nan),
        "analysis_mse": np.full(shape, np.nan),
        "seconds": np.full(shape, np.nan),
        "background_misfit": np.full(shape, np.nan),
        "analysis_misfit": np.full(shape, np.nan),
        "fits_worse": np.zeros(shape, dtype=np.int8),
        "background_rmse": np.full(per_var, np.nan),
        "analysis_rmse": np.full(per_var, np.nan),
        "analysis_spread": np.full(per_var, np.nan),
    }
    for s in steps:
        i, j = methods.index(s.method), cycles.index(s.cycle)
        for key in data:
            data[key][i, j] = getattr(s, key)
    dims, dims_v = ("experiment", "cycle"), ("experiment", "cycle", "variable")
    hours = np.array(cycles) * config.hours + config.hours
    ds = xr.Dataset(
        {k: (dims if v.ndim == 2 else dims_v, v) for k, v in data.items()},
        coords={
            "experiment": methods,
            "cycle": cycles,
            "variable": list(VARIABLE_NAMES),
            "hours": ("cycle", hours),
        },
    )
    ds["background_mse"].attrs["long_name"] = "background MSE, normalised, mean over variables"
    ds["analysis_mse"].attrs["long_name"] = "analysis (ensemble mean) MSE, normalised"
    ds["background_rmse"].attrs["long_name"] = "background RMSE per variable (physical units)"
    ds["analysis_rmse"].attrs["long_name"] = "analysis RMSE per variable (physical units)"
    ds["analysis_spread"].attrs["long_name"] = "rms ensemble spread of the analysis"
    ds["seconds"].attrs["long_name"] = "wall-clock seconds of the analysis"
    misfit = "rms of (observation - state) / observation error std"
    ds["background_misfit"].attrs["long_name"] = f"O-B: the background's {misfit}"
    ds["analysis_misfit"].attrs["long_name"] = f"O-A: the analysis's (ensemble mean) {misfit}"
    ds["fits_worse"].attrs["long_name"] = (
        "1 where the analysis fits the observations worse than its background (O-A > O-B)"
    )
    settings = {k: v for k, v in asdict(config).items() if k != "world"}
    ds.attrs.update({k: str(v) for k, v in settings.items()})
    ds.attrs["world"] = str(config.world.to_dict())
    ds.attrs["description"] = (
        f"cycled data assimilation: {config.cycles} cycles of {config.hours} h, "
        f"{config.pattern} observations at {config.density:.2%}"
    )
    return ds


def fits_worse_summary(ds: xr.Dataset) -> str:
    """'dps: O-A > O-B in 3 of 10 cycles; ...' for each experiment of a cycling dataset with an
    analysis that fitted the observations worse than its background; '' when none did."""
    counts = ds["fits_worse"].sum("cycle").values
    parts = [
        f"{name}: O-A > O-B in {int(n)} of {ds.sizes['cycle']} cycles"
        for name, n in zip(ds.experiment.values, counts, strict=True)
        if n > 0
    ]
    return "; ".join(parts)


def sawtooth(ds: xr.Dataset, method: str, variable: str | None = None) -> tuple[np.ndarray, ...]:
    """The sawtooth of one method: (hours, errors) alternating background and analysis error
    at each analysis time (normalised MSE, or the RMSE of ``variable``)."""
    part = ds.sel(experiment=method)
    if variable is None:
        bg, an = part["background_mse"].values, part["analysis_mse"].values
    else:
        bg = part["background_rmse"].sel(variable=variable).values
        an = part["analysis_rmse"].sel(variable=variable).values
    hours = np.repeat(ds["hours"].values, 2)
    return hours, np.column_stack([bg, an]).ravel()
