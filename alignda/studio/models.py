"""The Studio's models and cases: the checkpoint folder's bundle placed on a device, the
shipped (or given) cases, and the analysis methods of a request on them."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from alignda.alignment.rewards import FORECAST_HOURS, Forecaster
from alignda.analysis.methods import (
    Analysis,
    HybridMethod,
    PriorMethod,
    VariationalMethod,
    prior_method,
)
from alignda.analysis.score import SamplerSettings
from alignda.bundle import load_bundle
from alignda.checkpoints import CheckpointError
from alignda.model.prior import prior_denoiser
from alignda.modelcard import ALIGNMENT_NAME, read_benchmark
from alignda.obs.operator import Observations, observe_case
from alignda.paths import SHIPPED_CASES
from alignda.runtime import parallel_workers, serving_device
from alignda.studio.notes import aligned_note, real_fields_note, weights_note
from alignda.studio.placement import Placed, PlacedCodec
from alignda.studio.request import (
    CASES_ENV,
    CSV_PATTERN,
    MAX_CSV_ROWS,
    Request,
    StudioError,
    checkpoints_folder,
)
from alignda.studio.result import Scenario
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.model import WorldConfig
from alignda.world.reanalysis import is_reanalysis, provenance
from alignda.world.variables import VARIABLE_NAMES


class StudioModels:
    """The models of a checkpoint folder (placed on a device) and the cases, loaded once;
    the analysis methods of a request on them."""

    def __init__(
        self,
        folder: str | Path | None = None,
        cases: str | Path | None = None,
        device: torch.device | None = None,
    ) -> None:
        self.folder = Path(folder) if folder else checkpoints_folder()
        self.cases_path = Path(cases or os.environ.get(CASES_ENV) or SHIPPED_CASES)
        self.cases = Cases.open(self.cases_path)
        self.grid = Grid(self.cases.truth.sizes["latitude"], self.cases.truth.sizes["longitude"])
        if self.grid.shape != Grid().shape:
            raise StudioError(
                f"{self.cases_path}: cases on a {self.grid.shape} grid; the models need "
                f"{Grid().shape}: regrid them with `python -m alignda cases-from-reanalysis`"
            )
        #: Real fields (not the twin world): the prior is out of its training distribution.
        self.real_fields = is_reanalysis(self.cases)
        #: What was derived or shifted in real fields ('' for the twin world).
        self.provenance = provenance(self.cases)
        #: Variables the files lacked (derived): no truth of their own to judge analyses by.
        self.derived = [v for v in VARIABLE_NAMES if "derived" in self.cases.truth[v].attrs]
        self._load(device or serving_device())
        self._forecaster: Forecaster | None = None
        self._lock = threading.Lock()  # held while models load or a request runs

    def _load(self, device: torch.device) -> None:
        """Load the models from the checkpoint folder onto ``device``."""
        bundle = load_bundle(self.folder, device=device)
        if bundle.hybrid is None:
            raise CheckpointError(f"{self.folder} has no 3D-Var background error (threedvar_b)")
        self.device = torch.device(device)
        self.bundle = bundle  # its prior and the deltas of its soup are on self.device
        self.stats, self.threedvar, self.hybrid = bundle.stats, bundle.threedvar, bundle.hybrid
        self.codec = PlacedCodec(bundle.codec, self.device)
        self.soup_problem = bundle.soup_problem
        #: The measured effect of the weights per mode (the folder's alignment benchmark).
        self.alignment = read_benchmark(self.folder, ALIGNMENT_NAME)

    def use_device(self, device: torch.device) -> None:
        """Serve from ``device`` from now on (reloads the models there once). On ZeroGPU the
        studio starts on the CPU and each request moves it to the GPU it was lent."""
        if torch.device(device) != self.device:
            with self._lock:
                self._load(device)

    # --- small accessors -------------------------------------------------------------------
    @property
    def aligned_available(self) -> bool:
        """Whether the aligned deltas ship with the checkpoints."""
        return self.bundle.soup is not None

    @property
    def labels(self) -> list[str]:
        """Analysis times of the cases, as menu labels (e.g. ``2000-07-04T00``)."""
        return [str(np.datetime_as_string(t, unit="h")) for t in self.cases.times]

    @property
    def world(self) -> WorldConfig:
        """The truth's world of the cases (for real fields, the models'), whose imperfect model
        forecasts, cycles and measures the balance."""
        return self.bundle.world if self.real_fields else self.cases.world

    @property
    def other_world(self) -> bool:
        """Whether the twin-world cases come from another world than the models were trained
        on (the prior is then outside its training distribution)."""
        return not self.real_fields and self.cases.world != self.bundle.world

    @property
    def forecaster(self) -> Forecaster:
        """The 48 h forecast model (built on first use)."""
        if self._forecaster is None:
            self._forecaster = Forecaster(self.world, workers=parallel_workers())
        return self._forecaster

    def weights_note(self, settings: SamplerSettings) -> str:
        """What the reward weights do under ``settings`` (:func:`notes.weights_note`)."""
        if not self.aligned_available:
            return ""
        hybrid_tuned = self.bundle.hybrid_soup is not None
        return weights_note(settings, self.tuned_steps(settings), self.alignment, hybrid_tuned)

    def tuned_steps(self, settings: SamplerSettings) -> tuple[int, ...]:
        """Step counts the deltas used under ``settings`` were tuned for (empty: not
        recorded)."""
        return self.bundle.tuned_steps(settings)

    def aligned_note(self) -> str:
        """One line on the aligned deltas (for the page)."""
        return aligned_note(self.aligned_available, self.soup_problem, self.folder)

    def case_time(self, key: str) -> np.datetime64:
        """Analysis time of a case label or index."""
        try:
            return self.cases.time_of(key)
        except (KeyError, IndexError, ValueError) as err:
            raise StudioError(
                f"unknown case {key!r}; choose an index 0..{len(self.cases) - 1} or one of "
                f"{self.labels[:3]}...: {err}"
            ) from None

    def network(
        self, weights: Mapping[str, float] | None, settings: SamplerSettings | None = None
    ) -> nn.Module:
        """The prior's network for reward weights under the sampler ``settings`` (the
        reference one if no weight is set)."""
        usable = weights if self.aligned_available else None
        return Placed(self.bundle.network(usable, settings), self.device)

    # --- the work --------------------------------------------------------------------------
    def observe(self, req: Request, truth: np.ndarray) -> Observations:
        """The request's observations of a truth state (seeded like the CLI)."""
        csv = req.pattern == CSV_PATTERN
        return observe_case(
            truth,
            req.seed,
            pattern=req.pattern,
            density=req.density,
            points=req.points_csv.encode() if csv and req.points_csv else None,
            noise_scale=req.noise_scale,
            max_rows=MAX_CSV_ROWS,
        )

    def scenario(self, req: Request) -> Scenario:
        """The request's case and observations."""
        t = self.case_time(req.case)
        truth = self.cases.truth_state(t)
        return Scenario(
            time=t,
            truth=truth,
            background=self.cases.background_state(t),
            future_truth=self.cases.future_truth(t, FORECAST_HOURS),
            obs=self.observe(req, truth),
        )

    def analyse(
        self,
        req: Request,
        weights: Mapping[str, float] | None,
        sc: Scenario,
        progress: bool = True,
        workers: int = 1,
        cancelled: Callable[[], bool] | None = None,
    ) -> Analysis:
        """The analysis (members (M, C, H, W) and its fit to the observations) of the prior
        with ``weights`` under the request's guidance.

        ``workers`` groups of members are sampled side by side (same members for any value);
        ``cancelled`` is asked before every denoiser evaluation (see :meth:`run`).
        """
        method = self.prior_method(req, weights, progress, workers, cancelled)
        return method.analyse(sc.background, sc.obs, seed=req.sampler().seed)

    def prior_method(
        self,
        req: Request,
        weights: Mapping[str, float] | None = None,
        progress: bool = False,
        workers: int = 1,
        cancelled: Callable[[], bool] | None = None,
    ) -> PriorMethod | HybridMethod:
        """The prior with ``weights`` under the request's method and sampler settings
        (:func:`~alignda.analysis.methods.prior_method`)."""
        settings = req.sampler()
        den = prior_denoiser(self.network(weights, settings))
        return prior_method(den, self.codec, settings, self.hybrid, workers, progress, cancelled)

    def threedvar_analysis(self, sc: Scenario, progress: bool = False) -> Analysis:
        """The 3D-Var analysis, a one-member ensemble (1, C, H, W) (no progress bar)."""
        return VariationalMethod(self.threedvar).analyse(sc.background, sc.obs)

    def real_fields_note(self) -> str:
        """What the page says about real cases: out of distribution, and what was derived."""
        return real_fields_note(self.provenance)
