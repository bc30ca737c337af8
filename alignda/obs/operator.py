"""The observation operator H: sampling the truth at masked points plus Gaussian noise
(:class:`Observations`, :func:`observe`, :func:`observe_case`)."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from alignda.obs.checks import (
    ObsError,
    check_rng,
)
from alignda.obs.networks import make_mask
from alignda.obs.points import DEFAULT_MAX_ROWS, PointObs, points_from_csv
from alignda.world.grid import Grid
from alignda.world.variables import VARIABLE_NAMES, VARIABLES, check_variables

#: Observation error standard deviations in physical units (m, m s-1, m s-1, 1).
DEFAULT_NOISE_STD: dict[str, float] = {"z": 10.0, "u": 1.0, "v": 1.0, "tracer": 0.02}


@dataclass(eq=False)
class Observations:
    """Gridded observations over :data:`VARIABLE_NAMES`.

    ``mask`` bool (nvar, nlat, nlon); ``values`` float32, same shape, 0.0 where unobserved
    (never NaN, safe for arithmetic); ``noise_std`` float64 (nvar,) observation error standard
    deviations in physical units. Values are zeroed where unobserved on construction.
    """

    mask: np.ndarray
    values: np.ndarray
    noise_std: np.ndarray

    def __post_init__(self) -> None:
        nvar = len(VARIABLE_NAMES)
        self.mask = np.asarray(self.mask)
        if self.mask.dtype != bool or self.mask.ndim != 3 or self.mask.shape[0] != nvar:
            raise ObsError(
                f"mask must be a boolean array (nvar={nvar}, nlat, nlon), "
                f"got {self.mask.dtype} {self.mask.shape}"
            )
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.shape != self.mask.shape:
            raise ObsError(f"values shape {self.values.shape} != mask shape {self.mask.shape}")
        if not np.isfinite(self.values[self.mask]).all():
            raise ObsError("observed values must be finite")
        self.values = np.where(self.mask, self.values, np.float32(0.0))
        self.noise_std = np.asarray(self.noise_std, dtype=np.float64)
        if self.noise_std.shape != (nvar,):
            raise ObsError(f"noise_std must have shape ({nvar},), got {self.noise_std.shape}")
        if not (np.isfinite(self.noise_std).all() and (self.noise_std >= 0).all()):
            raise ObsError(f"noise_std must be finite and >= 0, got {self.noise_std.tolist()}")

    @property
    def count(self) -> int:
        """Number of observations (variable, grid point) pairs."""
        return int(self.mask.sum())

    @property
    def fraction(self) -> float:
        """Observed share of all (variable, grid point) pairs."""
        return self.count / self.mask.size

    @property
    def counts(self) -> dict[str, int]:
        """Number of observations per variable."""
        return {name: int(m.sum()) for name, m in zip(VARIABLE_NAMES, self.mask, strict=True)}

    def perturbed(self, rng: np.random.Generator) -> Observations:
        """The same observations with their values perturbed by draws of their errors (one
        ``rng.standard_normal`` over the whole grid), as randomised-maximum-likelihood and
        ensemble-of-data-assimilation members use."""
        std = np.broadcast_to(np.asarray(self.noise_std).reshape(-1, 1, 1), self.values.shape)
        noisy = self.values + np.where(self.mask, rng.standard_normal(self.values.shape), 0) * std
        return Observations(mask=self.mask, values=noisy, noise_std=self.noise_std)

    def misfit(self, state: np.ndarray) -> float:
        """RMS of the normalised innovations (y - H x) / sigma_o of a state (C, nlat, nlon).

        About 1 for an analysis that fits the observations to within their error; the
        background's value (O-B) is the scale an analysis (O-A) should come well below.
        Perfect observations (sigma 0) are measured in units of the default error std.
        """
        x = np.asarray(state, dtype=np.float64)
        if x.shape != self.mask.shape:
            raise ObsError(f"state shape {x.shape} != observation shape {self.mask.shape}")
        default = np.array([DEFAULT_NOISE_STD[k] for k in VARIABLE_NAMES])
        std = np.where(self.noise_std > 0, self.noise_std, default)
        r = ((self.values - x) / std.reshape(-1, 1, 1))[self.mask]
        return float(np.sqrt(np.mean(r**2))) if r.size else float("nan")

    def to_dataset(self, grid: Grid) -> xr.Dataset:
        """xarray Dataset with ``<var>_obs`` (NaN where unobserved) and CF attributes."""
        if tuple(grid.shape) != self.mask.shape[1:]:
            raise ObsError(f"grid shape {grid.shape} != observation shape {self.mask.shape[1:]}")
        data_vars = {}
        for k, name in enumerate(VARIABLE_NAMES):
            attrs = dict(VARIABLES[name])
            attrs["observation_error_std"] = float(self.noise_std[k])
            data = np.where(self.mask[k], self.values[k], np.float32(np.nan))
            data_vars[f"{name}_obs"] = (("latitude", "longitude"), data, attrs)
        return xr.Dataset(
            data_vars,
            coords=grid.coords(),
            attrs={
                "Conventions": "CF-1.8",
                "title": "alignda gridded observations",
                "comment": "NaN marks grid points without an observation",
            },
        )

    @classmethod
    def from_dataset(cls, ds: xr.Dataset, grid: Grid | None = None) -> Observations:
        """Inverse of :meth:`to_dataset`. Missing ``<var>_obs`` variables are unobserved.

        With ``grid``, the dataset's coordinates must match it.
        """
        present = [name for name in VARIABLE_NAMES if f"{name}_obs" in ds]
        if not present:
            raise ObsError(f"dataset has none of {[f'{n}_obs' for n in VARIABLE_NAMES]}")
        first = ds[f"{present[0]}_obs"]
        shape = first.shape
        if grid is not None:
            for coord, ref in (("latitude", grid.lat), ("longitude", grid.lon)):
                if coord not in ds.coords or not np.allclose(ds[coord].values, ref):
                    raise ObsError(f"dataset {coord} does not match the grid")
        nvar = len(VARIABLE_NAMES)
        mask = np.zeros((nvar, *shape), dtype=bool)
        values = np.zeros((nvar, *shape), dtype=np.float32)
        noise = np.array([DEFAULT_NOISE_STD[n] for n in VARIABLE_NAMES], dtype=np.float64)
        for k, name in enumerate(VARIABLE_NAMES):
            if name not in present:
                continue
            da = ds[f"{name}_obs"]
            if da.dims != ("latitude", "longitude") or da.shape != shape:
                raise ObsError(f"{name}_obs must have dims (latitude, longitude) and shape {shape}")
            if "observation_error_std" not in da.attrs:
                raise ObsError(f"{name}_obs lacks the observation_error_std attribute")
            data = np.asarray(da.values, dtype=np.float32)
            if np.isinf(data).any():
                raise ObsError(f"{name}_obs contains inf")
            mask[k] = np.isfinite(data)
            values[k] = np.where(mask[k], data, np.float32(0.0))
            noise[k] = float(da.attrs["observation_error_std"])
        return cls(mask=mask, values=values, noise_std=noise)


def _resolve_noise_std(noise_std: Mapping[str, float] | float | None) -> np.ndarray:
    if noise_std is None:
        std = dict(DEFAULT_NOISE_STD)
    elif isinstance(noise_std, Mapping):
        try:
            check_variables(list(noise_std))
        except ValueError as err:
            raise ObsError(f"noise_std: {err}") from None
        std = {**DEFAULT_NOISE_STD, **noise_std}
    elif isinstance(noise_std, numbers.Real) and not isinstance(noise_std, bool):
        std = dict.fromkeys(VARIABLE_NAMES, noise_std)
    else:
        raise ObsError(f"noise_std must be a dict, a number or None, got {noise_std!r}")
    out = np.empty(len(VARIABLE_NAMES))
    for k, name in enumerate(VARIABLE_NAMES):
        value = std[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ObsError(f"noise_std[{name!r}] must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ObsError(f"noise_std[{name!r}] must be finite and >= 0, got {value!r}")
        out[k] = value
    return out


def _resolve_variables(variables: Sequence[str] | str | None) -> np.ndarray:
    """(nvar,) bool selection of the observed variables."""
    if variables is None:
        return np.ones(len(VARIABLE_NAMES), dtype=bool)
    names = [variables] if isinstance(variables, str) else list(variables)
    if not names:
        raise ObsError("variables is empty: name at least one of " + str(list(VARIABLE_NAMES)))
    try:
        check_variables(names)
    except ValueError as err:
        raise ObsError(str(err)) from None
    return np.array([name in names for name in VARIABLE_NAMES])


def check_truth(truth: Any) -> np.ndarray:
    truth = np.asarray(truth)
    nvar = len(VARIABLE_NAMES)
    if truth.ndim != 3 or truth.shape[0] != nvar:
        raise ObsError(f"truth must have shape (nvar={nvar}, nlat, nlon), got {truth.shape}")
    if not np.issubdtype(truth.dtype, np.number) or np.iscomplexobj(truth):
        raise ObsError(f"truth must be real numbers, got dtype {truth.dtype}")
    if not np.isfinite(truth).all():
        bad = [VARIABLE_NAMES[k] for k in range(nvar) if not np.isfinite(truth[k]).all()]
        raise ObsError(f"truth has NaN or inf in {bad}")
    return truth


def observe(
    truth: np.ndarray,
    mask: np.ndarray | PointObs,
    rng: np.random.Generator,
    noise_std: Mapping[str, float] | float | None = None,
    variables: Sequence[str] | None = None,
) -> Observations:
    """Sample ``truth`` (nvar, nlat, nlon) at ``mask`` and add N(0, std**2) noise.

    ``mask`` is a location mask (nlat, nlon), applied to every selected variable, a full
    mask (nvar, nlat, nlon), or a :class:`PointObs` (see :func:`apply_user_points`); masks
    must be boolean (or 0/1). ``noise_std``: None for :data:`DEFAULT_NOISE_STD`, one number
    for all variables, or a dict (missing variables keep their default); 0 gives perfect
    observations. ``variables`` restricts the observed variables (default all). Noise is drawn
    in one call of ``rng.standard_normal`` in (variable, lat, lon) order of the observations.

    Raises ObsError for a wrong truth shape or non-finite truth, a bad mask, bad noise or
    unknown variables, and when nothing at all is observed.
    """
    if isinstance(mask, PointObs):
        return apply_user_points(mask, truth, rng, noise_std, variables)
    rng = check_rng(rng)
    truth = check_truth(truth)
    std = _resolve_noise_std(noise_std)
    selected = _resolve_variables(variables)
    m = np.asarray(mask)
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.number) or not np.isin(m, (0, 1)).all():
            raise ObsError(f"mask must be boolean (or 0/1), got dtype {m.dtype}")
        m = m.astype(bool)
    if m.shape == truth.shape[1:]:
        m = np.broadcast_to(m, truth.shape)
    elif m.shape != truth.shape:
        raise ObsError(
            f"mask shape {m.shape} matches neither the grid {truth.shape[1:]} "
            f"nor the truth {truth.shape}"
        )
    m = m & selected[:, None, None]
    count = int(m.sum())
    if count == 0:
        raise ObsError("no observations: the mask selects no grid points for the chosen variables")
    values = np.zeros(truth.shape, dtype=np.float64)
    per_point_std = np.broadcast_to(std[:, None, None], truth.shape)[m]
    values[m] = truth[m] + per_point_std * rng.standard_normal(count)
    with np.errstate(over="ignore"):
        values32 = values.astype(np.float32)
    if not np.isfinite(values32).all():
        raise ObsError("observed values overflow float32")
    return Observations(mask=np.array(m), values=values32, noise_std=std)


def scaled_noise_std(scale: float) -> dict[str, float]:
    """The default observation error std of every variable times ``scale``."""
    return {k: v * scale for k, v in DEFAULT_NOISE_STD.items()}


def observe_case(
    truth: np.ndarray,
    seed: int,
    *,
    pattern: str = "random",
    density: float | None = None,
    points: str | os.PathLike[str] | bytes | None = None,
    noise_scale: float = 1.0,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> Observations:
    """One truth state (C, nlat, nlon) observed as the app, the CLI and the case plots do.

    ``default_rng(seed)`` draws the network of ``pattern`` at ``density`` (unless ``points``,
    a CSV source for :func:`points_from_csv`, gives it), then the noise of std
    :func:`scaled_noise_std` (``noise_scale``).
    """
    grid = Grid(*np.shape(truth)[-2:])
    rng = np.random.default_rng(seed)
    if points is not None:
        where: np.ndarray | PointObs = points_from_csv(points, grid, max_rows=max_rows)
    else:
        where = make_mask(pattern, grid, rng, density=density)
    return observe(truth, where, rng, noise_std=scaled_noise_std(noise_scale))


def apply_user_points(
    points: PointObs,
    truth: np.ndarray,
    rng: np.random.Generator,
    noise_std: Mapping[str, float] | float | None = None,
    variables: Sequence[str] | None = None,
) -> Observations:
    """Observations at user points: the user's values where given, else noisy truth.

    User values are used as they are (no noise added); the other points are sampled from
    ``truth`` with noise as in :func:`observe`. ``noise_std`` is recorded as the observation
    error of every observation, user values included.
    """
    truth = check_truth(truth)
    if points.mask.shape != truth.shape:
        raise ObsError(
            f"points were mapped to grid {points.mask.shape[1:]}, truth has shape {truth.shape}"
        )
    obs = observe(truth, points.mask, rng, noise_std, variables)
    given = points.value_mask & obs.mask
    if given.any():
        assert points.values is not None
        values = obs.values.copy()
        values[given] = points.values[given].astype(np.float32)
        if not np.isfinite(values).all():
            raise ObsError("user values overflow float32")
        obs = Observations(mask=obs.mask, values=values, noise_std=obs.noise_std)
    return obs
