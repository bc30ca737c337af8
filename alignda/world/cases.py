"""Analysis cases of the twin world: truth trajectories and imperfect 48 h backgrounds.

A :class:`Cases` holds two ERA5-like Datasets with dims (time, latitude, longitude):
``truth`` (6-hourly states; a ``trajectory`` coordinate along time) and ``background``
(the 48 h forecast valid at each analysis time). On disk: one netCDF file, groups
``truth`` and ``background``, CF attributes, optional int16 packing for shipped files.
"""

from __future__ import annotations

import json
import math
import time as _time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from alignda.world.grid import Grid
from alignda.world.model import DAY, HOUR, ShallowWaterModel, WorldConfig
from alignda.world.state import stack, to_dataset
from alignda.world.variables import VARIABLE_NAMES

EPOCH = np.datetime64("2000-01-01T00:00")
SIX_HOURS = np.timedelta64(6, "h")


@dataclass(frozen=True)
class GenerateConfig:
    """How a set of cases is generated (all of it reproducible from this and the seed)."""

    n_trajectories: int = 16
    spinup_days: float = 20.0
    record_days: float = 40.0
    analysis_every_hours: int = 12
    lead_hours: int = 48
    perturbation_wind: float = 1.5  # m/s rms of the balanced initial-state error
    splits: tuple[float, float, float] = (0.75, 0.125, 0.125)  # train / val / test
    batch: int = 32
    seed: int = 0
    world: WorldConfig = field(default_factory=WorldConfig)

    def __post_init__(self) -> None:
        if self.n_trajectories < 1:
            raise ValueError("n_trajectories must be >= 1")
        if self.record_days * 24 <= self.lead_hours:
            raise ValueError("record_days must exceed the background lead time")
        if self.lead_hours % 6 or self.analysis_every_hours % 6:
            raise ValueError("lead_hours and analysis_every_hours must be multiples of 6")
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
        """Indices (into a trajectory's states) of the analysis times with a background."""
        first = self.lead_hours // 6
        step = self.analysis_every_hours // 6
        return list(range(first, self.states_per_trajectory, step))

    def model_days(self) -> tuple[float, float]:
        """(truth, background) model-days the generation integrates, for time estimates."""
        truth = self.n_trajectories * (self.spinup_days + self.record_days)
        bg = self.n_trajectories * len(self.analysis_indices()) * self.lead_hours / 24
        return truth, bg


class Cases:
    """Truth and background Datasets of a set of analysis cases (see module docstring)."""

    def __init__(self, truth: xr.Dataset, background: xr.Dataset, attrs: dict | None = None):
        missing = np.setdiff1d(background.time.values, truth.time.values)
        if missing.size:
            raise ValueError(f"{missing.size} background times have no truth state")
        self.truth = truth
        self.background = background
        self.attrs = dict(attrs or {})

    # --- access --------------------------------------------------------------------------
    @property
    def times(self) -> np.ndarray:
        """Analysis times (those with a background)."""
        return self.background.time.values

    def __len__(self) -> int:
        return self.background.sizes["time"]

    @property
    def lead_hours(self) -> int:
        """Lead time of the backgrounds."""
        return int(self.background.attrs.get("lead_hours", 48))

    def time_of(self, key: int | str | np.datetime64) -> np.datetime64:
        """Analysis time from an index (int or digit string) or a date like '2000-01-05T12'."""
        if isinstance(key, str) and key.strip().lstrip("-").isdigit():
            key = int(key)
        if isinstance(key, (int, np.integer)):
            if not -len(self) <= key < len(self):
                raise IndexError(f"case index {key} out of range (0..{len(self) - 1})")
            return self.times[key]
        hint = f"give an index 0..{len(self) - 1} or an analysis time like {self._label(0)}"
        if isinstance(key, str) and not key.strip():
            raise ValueError(f"no case given: {hint}")
        try:
            t = np.datetime64(key, "ns")
        except (ValueError, TypeError):
            raise ValueError(f"case {key!r} is neither an index nor a time: {hint}") from None
        if t not in self.times:
            raise KeyError(
                f"no analysis case at {key}; first {self._label(0)}, last {self._label(-1)}"
            )
        return t

    def _label(self, i: int) -> str:
        if not len(self):
            return "(none: no cases)"
        return str(np.datetime_as_string(self.times[i], unit="h"))

    def truth_state(self, t: np.datetime64) -> np.ndarray:
        """Stacked truth (C, nlat, nlon) at time t."""
        return stack(self.truth.sel(time=t))

    def background_state(self, t: np.datetime64) -> np.ndarray:
        """Stacked background (C, nlat, nlon) valid at analysis time t."""
        return stack(self.background.sel(time=t))

    def future_truth(self, t: np.datetime64, hours: int = 48) -> np.ndarray | None:
        """Truth ``hours`` after t in the same trajectory, or None if not stored."""
        tf = np.datetime64(t, "ns") + np.timedelta64(hours, "h")
        if tf not in self.truth.time.values:
            return None
        if "trajectory" in self.truth.coords:
            traj = self.truth.trajectory
            if int(traj.sel(time=tf)) != int(traj.sel(time=t)):
                return None
        return self.truth_state(tf)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """All (background, truth) pairs as float32 arrays (N, C, nlat, nlon) for training."""
        truth = stack(self.truth.sel(time=self.times))
        return stack(self.background), truth

    def subset(self, times: np.ndarray, future_hours: int = 0) -> Cases:
        """Cases at the given analysis times; keeps truth at t + future_hours too."""
        times = np.asarray(times, dtype="datetime64[ns]")
        keep = set(times.tolist())
        if future_hours:
            fut = times + np.timedelta64(future_hours, "h")
            keep |= {t for t in fut.tolist() if t in set(self.truth.time.values.tolist())}
        truth_times = np.array(sorted(keep), dtype="datetime64[ns]")
        return Cases(self.truth.sel(time=truth_times), self.background.sel(time=times), self.attrs)

    # --- I/O -----------------------------------------------------------------------------
    def save(self, path: str | Path, packed: bool = False, compress: bool = True) -> Path:
        """Write to netCDF (groups truth/background); ``packed`` stores int16 with scale/offset.

        ``compress=False`` skips zlib (much faster for large training sets)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        root = xr.Dataset(attrs={**self.attrs, "Conventions": "CF-1.8"})
        root.to_netcdf(tmp, mode="w", engine="netcdf4")
        for name, ds in (("truth", self.truth), ("background", self.background)):
            enc = {v: _encoding(ds[v], packed, compress) for v in ds.data_vars}
            ds.to_netcdf(tmp, mode="a", group=name, engine="netcdf4", encoding=enc)
        tmp.replace(path)
        return path

    @classmethod
    def open(cls, path: str | Path) -> Cases:
        """Read a cases file written by :meth:`save` (loaded into memory)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no cases file at {path}")
        expected = (
            "expected netCDF with groups 'truth' and 'background' as `alignda generate` writes"
        )
        try:
            with xr.open_dataset(path, engine="netcdf4") as root:
                attrs = dict(root.attrs)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path} is not a readable cases file ({err}); {expected}") from err
        groups = {}
        for group in ("truth", "background"):
            try:
                groups[group] = xr.load_dataset(path, group=group, engine="netcdf4")
            except (OSError, ValueError) as err:
                raise ValueError(
                    f"{path} is not a readable cases file: no group {group!r}; {expected}"
                ) from err
            _check_fields(groups[group], f"{path} group {group!r}")
        return cls(groups["truth"], groups["background"], attrs)


def as_cases(cases: Cases | str | Path) -> Cases:
    """A case set, opened from a path if need be."""
    return cases if isinstance(cases, Cases) else Cases.open(cases)


def _check_fields(ds: xr.Dataset, where: str) -> None:
    """Refuse a case Dataset without the world's variables on (time, latitude, longitude),
    or with NaN/inf values (which would otherwise flow silently into the analyses)."""
    missing = [v for v in VARIABLE_NAMES if v not in ds.data_vars]
    if missing:
        raise ValueError(
            f"{where} lacks variable(s) {missing}: a cases file needs {list(VARIABLE_NAMES)} "
            f"(it has {list(ds.data_vars)})"
        )
    for v in VARIABLE_NAMES:
        dims = set(ds[v].dims)
        if dims != {"time", "latitude", "longitude"}:
            raise ValueError(
                f"{where}: variable {v!r} has dims {ds[v].dims}, expected "
                "(time, latitude, longitude)"
            )
        bad = int(np.size(ds[v].values) - np.count_nonzero(np.isfinite(ds[v].values)))
        if bad:
            raise ValueError(f"{where}: variable {v!r} has {bad} NaN or infinite value(s)")


def _encoding(da: xr.DataArray, packed: bool, compress: bool = True) -> dict:
    enc: dict = {"zlib": True, "complevel": 4} if compress else {"zlib": False}
    if packed:
        lo, hi = float(da.min()), float(da.max())
        scale = (hi - lo) / 65000.0 or 1.0
        enc.update(dtype="int16", scale_factor=scale, add_offset=(hi + lo) / 2, _FillValue=-32768)
    else:
        enc["dtype"] = "float32"
    return enc


# --- generation ----------------------------------------------------------------------------
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

    # Backgrounds: perturbed truth lead_hours earlier, imperfect model, batched.
    lead = config.lead_hours // 6
    jobs = [(j, k) for j in range(n) for k in config.analysis_indices()]
    bgs = np.empty((len(jobs), 4, *truth_model.sphere.grid.shape), np.float32)
    steps = int(round(config.lead_hours * HOUR / fc_model.config.dt))
    for i in tqdm(range(0, len(jobs), config.batch), desc="backgrounds", disable=not progress):
        chunk = jobs[i : i + config.batch]
        x0 = torch.from_numpy(np.stack([truth[j, k - lead] for j, k in chunk])).to(device)
        s0 = fc_model.from_physical(x0) + fc_model.perturbation(
            len(chunk), config.perturbation_wind, gen
        )
        sf, _ = fc_model.run(s0, steps)
        bgs[i : i + len(chunk)] = fc_model.to_physical(sf).cpu().numpy()

    # Each trajectory gets its own stretch of a fictional calendar (unique, readable times).
    stride = int(math.ceil(config.record_days)) + 5
    times = np.array(
        [
            EPOCH + np.timedelta64(j * stride, "D") + k * SIX_HOURS
            for j in range(n)
            for k in range(nrec)
        ]
    ).astype("datetime64[ns]")
    truth_ds = to_dataset(truth.reshape(n * nrec, 4, *truth.shape[-2:]), leading=[("time", times)])
    truth_ds = truth_ds.assign_coords(trajectory=("time", np.repeat(np.arange(n), nrec)))
    bg_times = np.array([times[j * nrec + k] for j, k in jobs])
    bg_ds = to_dataset(bgs, leading=[("time", bg_times)], attrs={"lead_hours": config.lead_hours})
    bg_ds.attrs["description"] = "48 h forecast of the imperfect model from perturbed truth"
    attrs = {"generate_config": config.to_json(), "source": "alignda shallow-water twin world"}
    return Cases(truth_ds, bg_ds, attrs)


def split(cases: Cases, config: GenerateConfig) -> dict[str, Cases]:
    """Train/val/test split by trajectory (seeded permutation)."""
    n = config.n_trajectories
    order = np.random.default_rng(config.seed).permutation(n)
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


def shipped_subset(cases: Cases, per_trajectory: int = 8, every_hours: int = 24) -> Cases:
    """The small held-out set shipped in assets/: a few analysis times per trajectory.

    Keeps the truth 48 h after each analysis time (for the forecast reward).
    """
    bg_traj = cases.truth.trajectory.sel(time=cases.times).values
    picked = []
    for j in np.unique(bg_traj):
        t = cases.times[bg_traj == j]
        t = t[(t - t[0]) % np.timedelta64(every_hours, "h") == np.timedelta64(0)]
        t = np.array([x for x in t if cases.future_truth(x, cases.lead_hours) is not None])
        picked.extend(t[:per_trajectory])
    return cases.subset(np.array(picked), future_hours=cases.lead_hours)
