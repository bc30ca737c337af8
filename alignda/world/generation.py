"""Generating the twin world's cases: truth trajectories and their 48 h backgrounds.

:class:`GenerateConfig` says everything a generation depends on (with the seed, it is
reproducible); :func:`generate` integrates the truth 6-hourly and makes the backgrounds, from
the perturbed truth (world v1) or from a cycled 3D-Var of it (world v2, :mod:`alignda.world.osse`).
"""

from __future__ import annotations

import json
import math
import time as _time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from alignda.world.cases import EPOCH, SIX_HOURS, Cases
from alignda.world.grid import Grid
from alignda.world.model import DAY, ShallowWaterModel, WorldConfig
from alignda.world.state import to_dataset

#: Where backgrounds start: the truth plus a balanced perturbation (world v1), or the analyses
#: of a cycled 3D-Var of the truth (world v2, :mod:`alignda.world.osse`).
BACKGROUNDS = ("perturbed", "cycled")


@dataclass(frozen=True)
class GenerateConfig:
    """How a set of cases is generated (all of it reproducible from this and the seed)."""

    n_trajectories: int = 16
    spinup_days: float = 20.0
    record_days: float = 40.0
    analysis_every_hours: int = 12
    lead_hours: int = 48
    perturbation_wind: float = 1.5  # m/s rms of the balanced initial-state error (perturbed)
    backgrounds: str = "perturbed"  # from the perturbed truth (world v1) or "cycled" (v2)
    cycle_hours: int = 6  # cycled: the 3D-Var chain's analysis interval (staggered if longer)
    cycle_density: float = 0.01  # cycled: its random observations, a fraction of the grid
    chain_spinup_days: float = 8.0  # cycled: chain days before the first analysis case
    version: str = "v1"  # the world's version (recorded in case files and manifests)
    splits: tuple[float, float, float] = (0.75, 0.125, 0.125)  # train / val / test
    batch: int = 32
    seed: int = 0
    first_trajectory: int = 0  # this set's first trajectory number (a part of a larger set)
    world: WorldConfig = field(default_factory=WorldConfig)

    def __post_init__(self) -> None:
        if self.n_trajectories < 1:
            raise ValueError("n_trajectories must be >= 1")
        if self.first_trajectory < 0:
            raise ValueError("first_trajectory must be >= 0")
        if self.record_days * 24 <= self.lead_hours:
            raise ValueError("record_days must exceed the background lead time")
        if self.lead_hours % 6 or self.analysis_every_hours % 6:
            raise ValueError("lead_hours and analysis_every_hours must be multiples of 6")
        if self.backgrounds not in BACKGROUNDS:
            raise ValueError(f"backgrounds must be one of {BACKGROUNDS}, not {self.backgrounds!r}")
        every = self.analysis_every_hours
        if self.cycle_hours % 6 or (every % self.cycle_hours and self.cycle_hours % every):
            raise ValueError(
                "cycle_hours must be a multiple of 6 that divides analysis_every_hours or is a "
                "multiple of it"
            )
        if abs(sum(self.splits) - 1) > 1e-6 or min(self.splits) < 0:
            raise ValueError("splits must be three non-negative fractions summing to 1")

    def to_json(self) -> str:
        """Serialise (with the world parameters) for file attributes and manifests."""
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> GenerateConfig:
        """Inverse of ``asdict`` (nested world config, splits as tuple)."""
        d = dict(d)
        if "world" in d:
            d["world"] = WorldConfig(**d["world"])
        if "splits" in d:
            d["splits"] = tuple(d["splits"])
        return cls(**d)

    @property
    def states_per_trajectory(self) -> int:
        """6-hourly truth states recorded per trajectory."""
        return int(self.record_days * 4) + 1

    def analysis_indices(self) -> list[int]:
        """Indices (into a trajectory's states) of the analysis times with a background (after
        the chain's spin-up, when the backgrounds are cycled)."""
        first = self.lead_hours // 6
        if self.backgrounds == "cycled":
            first += self.chain_spinup_steps
        step = self.analysis_every_hours // 6
        return list(range(first, self.states_per_trajectory, step))

    @property
    def chains(self) -> int:
        """Staggered 3D-Var chains, one per analysis time within a cycle (cycled)."""
        return max(1, self.cycle_hours // self.analysis_every_hours)

    @property
    def chain_spinup_steps(self) -> int:
        """6-hourly states of the chain's spin-up, a whole number of its cycles."""
        every = self.cycle_hours // 6
        return int(round(self.chain_spinup_days * 4 / every)) * every

    def model_days(self) -> tuple[float, float]:
        """(truth, background) model-days the generation integrates, for time estimates; a
        cycled generation's backgrounds count its chains too (calibration passes included),
        though not the chains' 3D-Var solves; the chains' own forecasts are the backgrounds
        when they cycle at the backgrounds' lead."""
        truth = self.n_trajectories * (self.spinup_days + self.record_days)
        forecast = not self.chain_forecasts_are_backgrounds
        bg = forecast * self.n_trajectories * len(self.analysis_indices()) * self.lead_hours / 24
        if self.backgrounds == "cycled":
            from alignda.world.osse import CALIBRATION_TRAJECTORIES

            calibrated = min(self.n_trajectories, CALIBRATION_TRAJECTORIES)
            bg += (self.n_trajectories * self.chains + 2 * calibrated) * self.record_days
        return truth, bg

    @property
    def chain_forecasts_are_backgrounds(self) -> bool:
        """Cycled at the backgrounds' lead: each background is a chain's own forecast."""
        return self.backgrounds == "cycled" and self.cycle_hours == self.lead_hours


#: World v2's model: a steady vorticity forcing (a fixed pattern, like orography) instead of the
#: stochastic one, weaker hyperdiffusion, an imperfect model half as far from the truth's. Its
#: flow is turbulent by itself, so analysis errors grow (doubling in about two days) and make
#: most of the 48 h background error (the error budget in docs/error_budget.md).
WORLD_V2 = replace(
    WorldConfig(),
    noise_amplitude=0.0,
    steady_amplitude=3e-11,
    hyperdiff_hours=24.0,
    model_error=0.5,
)

#: The world versions: what defines each (model, where backgrounds start, record length).
WORLDS: dict[str, GenerateConfig] = {
    "v1": GenerateConfig(),
    "v2": GenerateConfig(
        version="v2",
        backgrounds="cycled",
        cycle_hours=48,  # the app's own cycle: 1 % random observations every 48 h
        cycle_density=0.01,
        chain_spinup_days=16.0,
        record_days=56.0,
        world=WORLD_V2,
    ),
}
#: The GenerateConfig fields a world version sets (the rest: sizes, seed, batching).
WORLD_FIELDS = (
    "version",
    "world",
    "backgrounds",
    "cycle_hours",
    "cycle_density",
    "chain_spinup_days",
    "perturbation_wind",
    "record_days",
)


def with_world(config: GenerateConfig, version: str) -> GenerateConfig:
    """``config`` with the world of ``version`` (:data:`WORLDS`), its sizes and seed kept."""
    if version not in WORLDS:
        raise ValueError(f"unknown world version {version!r}; known: {', '.join(WORLDS)}")
    return replace(config, **{f: getattr(WORLDS[version], f) for f in WORLD_FIELDS})


def estimate(config: GenerateConfig, seconds_per_model_day: float) -> dict[str, float]:
    """Predicted output size (MB, float32) and run time (s) of a generation."""
    g = Grid(config.world.nlat, config.world.nlon)
    state_mb = 4 * 4 * g.nlat * g.nlon / 1e6
    n_bg = config.n_trajectories * len(config.analysis_indices())
    n_truth = config.n_trajectories * config.states_per_trajectory
    return {
        "megabytes": (n_truth + n_bg) * state_mb,
        "seconds": sum(config.model_days()) * seconds_per_model_day,
    }


def measure_speed(model: ShallowWaterModel, batch: int, steps: int = 4) -> float:
    """Wall seconds per model day per member, measured with a short batched run."""
    s = model.random_state(batch, torch.Generator().manual_seed(0))
    model.run(s, 1)
    t0 = _time.perf_counter()
    model.run(s, steps)
    per_step = (_time.perf_counter() - t0) / steps / batch
    return per_step * DAY / model.config.dt


def generate(
    config: GenerateConfig, progress: bool = True, device: torch.device | str = "cpu"
) -> Cases:
    """Integrate truth trajectories and their 48 h imperfect-model backgrounds.

    Random draws come from a CPU generator seeded by ``config.seed`` on any ``device``; a GPU
    run integrates the same equations with other rounding, so its (chaotic) trajectories
    differ from a CPU run's of the same seed.
    """
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    truth_model = ShallowWaterModel(config.world).to(device)
    fc_model = ShallowWaterModel(config.world.imperfect()).to(device)
    n, nrec = config.n_trajectories, config.states_per_trajectory
    spd = config.world.steps_per_6h

    # Truth: all trajectories in one batch; spin up, then record 6-hourly.
    s = truth_model.random_state(n, gen)
    forcing = truth_model.new_forcing(n, gen)
    spin_chunks = int(round(config.spinup_days * 4))
    truth = np.empty((n, nrec, 4, *truth_model.sphere.grid.shape), np.float32)
    bar = tqdm(total=spin_chunks + nrec - 1, desc="truth (6 h chunks)", disable=not progress)
    for _ in range(spin_chunks):
        s, forcing = truth_model.run(s, spd, forcing, gen)
        bar.update()
    truth[:, 0] = truth_model.to_physical(s).cpu().numpy()
    for k in range(1, nrec):
        s, forcing = truth_model.run(s, spd, forcing, gen)
        truth[:, k] = truth_model.to_physical(s).cpu().numpy()
        bar.update()
    bar.close()

    jobs = [(j, k) for j in range(n) for k in config.analysis_indices()]
    lead = config.lead_hours // 6
    if config.backgrounds == "cycled":
        from alignda.world.osse import chain_analyses

        starts, chain_bgs, chain = chain_analyses(
            truth,
            fc_model,
            config.cycle_hours,
            config.cycle_density,
            config.seed,
            config.chain_spinup_steps,
            progress,
            config.batch,
            config.chains,
        )

        def initial(chunk: list[tuple[int, int]]) -> torch.Tensor:
            x0 = np.stack([starts[j, k - lead] for j, k in chunk])
            return fc_model.from_physical(torch.from_numpy(x0).to(device))

        source = "48 h forecast of the imperfect model from a cycled 3D-Var analysis"
    else:
        chain = {}

        def initial(chunk: list[tuple[int, int]]) -> torch.Tensor:
            x0 = torch.from_numpy(np.stack([truth[j, k - lead] for j, k in chunk])).to(device)
            pert = fc_model.perturbation(len(chunk), config.perturbation_wind, gen)
            return fc_model.from_physical(x0) + pert

        source = "48 h forecast of the imperfect model from perturbed truth"
    if config.chain_forecasts_are_backgrounds:
        bgs = np.stack([chain_bgs[j, k] for j, k in jobs])
    else:
        bgs = forecasts(fc_model, jobs, initial, config.lead_hours, config.batch, progress)

    # Each trajectory gets its own stretch of a fictional calendar (unique, readable times).
    stride = int(math.ceil(config.record_days)) + 5
    numbers = config.first_trajectory + np.arange(n)
    times = np.array(
        [
            EPOCH + np.timedelta64(int(j) * stride, "D") + k * SIX_HOURS
            for j in numbers
            for k in range(nrec)
        ]
    ).astype("datetime64[ns]")
    truth_ds = to_dataset(truth.reshape(n * nrec, 4, *truth.shape[-2:]), leading=[("time", times)])
    truth_ds = truth_ds.assign_coords(trajectory=("time", np.repeat(numbers, nrec)))
    bg_times = np.array([times[j * nrec + k] for j, k in jobs])
    bg_ds = to_dataset(bgs, leading=[("time", bg_times)], attrs={"lead_hours": config.lead_hours})
    bg_ds.attrs["description"] = source
    attrs = {
        "generate_config": config.to_json(),
        "source": "alignda shallow-water twin world",
        "world_version": config.version,
        **chain,
    }
    return Cases(truth_ds, bg_ds, attrs)


def forecasts(
    model: ShallowWaterModel,
    jobs: list[tuple[int, int]],
    initial: Callable[[list[tuple[int, int]]], torch.Tensor],
    hours: int,
    batch: int,
    progress: bool,
) -> np.ndarray:
    """Physical states (len(jobs), C, H, W): ``model``'s ``hours`` forecasts from the spectral
    initial states ``initial(chunk)`` of the (trajectory, state index) ``jobs``, ``batch`` at a
    time (``initial`` is called once per chunk, in order)."""
    out = np.empty((len(jobs), 4, *model.sphere.grid.shape), np.float32)
    steps = model.config.steps(hours)
    for i in tqdm(range(0, len(jobs), batch), desc="backgrounds", disable=not progress):
        chunk = jobs[i : i + batch]
        sf, _ = model.run(initial(chunk), steps)
        out[i : i + len(chunk)] = model.to_physical(sf).cpu().numpy()
    return out


def in_parts(config: GenerateConfig, count: int) -> list[GenerateConfig]:
    """``config`` cut into ``count`` generations of its trajectories, each with its own seed
    (drawn from ``config.seed``) and stretch of trajectory numbers and calendar, so that each
    can be generated, split and kept on its own (a resumable data stage); one part is
    ``config`` itself."""
    if count == 1:
        return [config]
    n, rest = divmod(config.n_trajectories, count)
    if rest or n < 3:
        raise ValueError(
            f"{config.n_trajectories} trajectories do not cut into {count} parts of 3 or more"
        )
    seeds = np.random.SeedSequence(config.seed).generate_state(count)
    return [
        replace(config, n_trajectories=n, seed=int(seeds[k]), first_trajectory=k * n)
        for k in range(count)
    ]


def split(cases: Cases, config: GenerateConfig) -> dict[str, Cases]:
    """Train/val/test split by trajectory (seeded permutation)."""
    n = config.n_trajectories
    order = config.first_trajectory + np.random.default_rng(config.seed).permutation(n)
    n_val = int(round(config.splits[1] * n))
    n_test = int(round(config.splits[2] * n))
    if n >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    bounds = {"test": order[:n_test], "val": order[n_test : n_test + n_val]}
    bounds["train"] = order[n_test + n_val :]
    out = {}
    for name, trajs in bounds.items():
        tsel = cases.truth.trajectory.isin(trajs)
        truth = cases.truth.sel(time=tsel)
        bg = cases.background.sel(time=np.isin(cases.background.time, truth.time))
        out[name] = Cases(truth, bg, {**cases.attrs, "split": name})
    return out
