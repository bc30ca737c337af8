"""World statistics from training data: per-variable scales and the climatology (for ACC)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from alignda.world.cases import Cases
from alignda.world.variables import VARIABLE_NAMES


@dataclass
class WorldStats:
    """Per-variable mean and std (C,) and the zonal-mean climatology (C, nlat)."""

    mean: np.ndarray
    std: np.ndarray
    climatology: np.ndarray
    latitude: np.ndarray

    @classmethod
    def from_cases(cls, cases: Cases) -> WorldStats:
        """Statistics of the truth of a (training) case set.

        The climatology is the time- and zonal-mean: the world's forcing is zonally symmetric.
        """
        t = cases.truth
        return cls(
            mean=np.array([float(t[v].mean()) for v in VARIABLE_NAMES]),
            std=np.array([float(t[v].std()) for v in VARIABLE_NAMES]),
            climatology=np.stack([t[v].mean(("time", "longitude")).values for v in VARIABLE_NAMES]),
            latitude=t.latitude.values,
        )

    def climatology_dataset(self, longitude: np.ndarray) -> xr.Dataset:
        """The zonal-mean climatology on (latitude, ``longitude``), the reference of the
        anomaly correlation (ACC)."""
        clim = np.repeat(self.climatology[:, :, None], len(longitude), axis=-1)
        return xr.Dataset(
            {v: (("latitude", "longitude"), clim[i]) for i, v in enumerate(VARIABLE_NAMES)},
            coords={"latitude": self.latitude, "longitude": np.asarray(longitude)},
        )

    @property
    def scales(self) -> dict[str, float]:
        """Normalisation scale per variable (for the overall MSE / MAE columns)."""
        return {v: float(s) for v, s in zip(VARIABLE_NAMES, self.std, strict=True)}

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Physical state (..., C, nlat, nlon) -> per-variable standardised."""
        mean, std = self._moments(x)
        return (x - mean) / std

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalise`."""
        mean, std = self._moments(x)
        return x * std + mean

    def _moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (-1, 1, 1)
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device).reshape(shape)
        return mean, torch.as_tensor(self.std, dtype=x.dtype, device=x.device).reshape(shape)

    def save(self, path: str | Path) -> Path:
        """Write as safetensors."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(
            {
                k: torch.tensor(np.asarray(getattr(self, k), dtype=np.float64))
                for k in ("mean", "std", "climatology", "latitude")
            },
            str(path),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> WorldStats:
        """Read a file written by :meth:`save`."""
        from safetensors.torch import load_file

        from alignda.checkpoints import reading

        with reading(path, "world statistics"):
            t = load_file(str(path))
            return cls(**{k: v.numpy() for k, v in t.items()})
