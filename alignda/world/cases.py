"""Analysis cases of the twin world: truth trajectories and imperfect 48 h backgrounds.

A :class:`Cases` holds two ERA5-like Datasets with dims (time, latitude, longitude):
``truth`` (6-hourly states; a ``trajectory`` coordinate along time) and ``background``
(the 48 h forecast valid at each analysis time). On disk: one netCDF file, groups
``truth`` and ``background``, CF attributes, optional int16 packing for shipped files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from alignda.world.model import WorldConfig
from alignda.world.state import stack
from alignda.world.variables import VARIABLE_NAMES

EPOCH = np.datetime64("2000-01-01T00:00")
SIX_HOURS = np.timedelta64(6, "h")


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
    def world(self) -> WorldConfig:
        """The truth's world, as the generation recorded it (world v1's if not recorded)."""
        return WorldConfig.of_generation(self.attrs.get("generate_config"))

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

    def truth_trajectories(self) -> np.ndarray:
        """The truth's trajectories as one float32 array (n, T, C, nlat, nlon), in trajectory
        order (a generation's: every trajectory has the same length)."""
        traj = self.truth.trajectory.values
        return np.stack([stack(self.truth.sel(time=traj == j)) for j in np.unique(traj)])

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


def concatenate(sets: list[Cases]) -> Cases:
    """One case set of several with distinct times (e.g. the parts of a generation); the
    attributes are the first set's."""
    if len(sets) == 1:
        return sets[0]
    truth = xr.concat([c.truth for c in sets], dim="time")
    if np.unique(truth.time.values).size < truth.sizes["time"]:
        raise ValueError("the case sets share truth times: they cannot be concatenated")
    background = xr.concat([c.background for c in sets], dim="time")
    return Cases(truth, background, sets[0].attrs)


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
