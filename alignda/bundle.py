"""The model bundle: everything an analysis needs, loaded once from one checkpoint folder.

:func:`load_bundle` is the one loader the app, the CLI and the benchmarks use. It reads a
folder (the shipped ``checkpoints/`` by default) or a Hugging Face Hub repo's snapshot, checks
every file against the manifest's sha256, and returns a :class:`ModelBundle`: the world
statistics, the codec (VAE), the latent prior, the reward soup (when the folder's aligned
deltas belong to its prior), 3D-Var, and the analysis methods built on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from alignda.alignment.soup import (
    ALIGNED,
    ALIGNED_HYBRID,
    RewardSoup,
    delta_set,
    load_deltas,
    normalise_weights,
)
from alignda.analysis.hybrid import HybridEnVar
from alignda.analysis.methods import HybridMethod, PriorMethod, VariationalMethod, prior_method
from alignda.analysis.score import SamplerSettings
from alignda.analysis.threedvar import BackgroundError, ThreeDVar
from alignda.checkpoints import CheckpointError, checkpoint_dir, read_manifest, resolve
from alignda.model.codec import LatentCodec, load_codec
from alignda.model.nn.dit import DiT
from alignda.model.prior import load_prior, prior_denoiser
from alignda.world.model import WorldConfig
from alignda.world.stats import WorldStats


@dataclass
class ModelBundle:
    """The loaded models of one checkpoint folder (see :func:`load_bundle`).

    ``soup`` is None when the folder has no aligned deltas or they belong to another prior;
    ``soup_problem`` then says why (empty when there are simply none). ``hybrid_soup`` mixes
    the deltas tuned through the hybrid (``aligned_hybrid``; None: the hybrid uses ``soup``).
    ``threedvar`` (and the hybrid built on it) is None when the folder has no 3D-Var B (e.g.
    a fresh training).
    """

    folder: Path
    manifest: dict
    stats: WorldStats
    codec: LatentCodec
    prior: DiT
    threedvar: ThreeDVar | None
    soup: RewardSoup | None = None
    soup_problem: str = ""
    hybrid_soup: RewardSoup | None = None
    hybrid: HybridEnVar | None = field(init=False)

    def __post_init__(self) -> None:
        self.hybrid = HybridEnVar(self.threedvar) if self.threedvar else None

    @property
    def world(self) -> WorldConfig:
        """The truth's world the prior was trained on (its manifest's data record), whose
        imperfect model forecasts and cycles its analyses."""
        record = self.manifest.get("prior", {}).get("data", {}).get("generate")
        return WorldConfig.of_generation(record)

    def variational(self) -> VariationalMethod:
        """3D-Var as an :class:`~alignda.analysis.methods.AnalysisMethod`."""
        if self.threedvar is None:
            raise CheckpointError(f"{self.folder} has no 3D-Var background error (threedvar_b)")
        return VariationalMethod(self.threedvar)

    def tuned_steps(self, settings: SamplerSettings | None = None) -> tuple[int, ...]:
        """Sampler step counts the deltas mixed under ``settings`` were tuned and selected at
        (empty: not recorded). The hybrid's own act through its first guess, but its prior
        members come from the sampler: at 8 steps they are noisy, and the deltas move them."""
        name = self.delta_set(settings)
        return tuple(self.manifest.get(name, {}).get("config", {}).get("sampler_steps", ()))

    def delta_set(self, settings: SamplerSettings | None = None) -> str:
        """The delta file the weights mix under ``settings`` (default: the project's): the
        hybrid's own where the folder has them, else the latent sampler's."""
        latent = (settings or SamplerSettings()).latent
        return delta_set(latent or self.hybrid_soup is None)

    def soup_for(self, settings: SamplerSettings | None = None) -> RewardSoup | None:
        """The soup of the :meth:`delta_set` of ``settings`` (None: no usable deltas)."""
        return self.hybrid_soup if self.delta_set(settings) == ALIGNED_HYBRID else self.soup

    def network(
        self,
        weights: Mapping[str, float] | Sequence[float] | None = None,
        settings: SamplerSettings | None = None,
    ) -> nn.Module:
        """The prior's network for reward ``weights`` under ``settings`` (the mix of the
        :meth:`delta_set`'s deltas; the reference network without weights or with all zero).
        Weights without usable deltas are refused, saying why."""
        if not weights or not any(normalise_weights(weights).values()):
            return self.prior
        if self.soup is None:
            raise CheckpointError(
                f"{self.folder} has no usable aligned deltas"
                + (f": {self.soup_problem}" if self.soup_problem else "")
            )
        return self.soup_for(settings).network(weights)

    def prior_method(
        self,
        settings: SamplerSettings | None = None,
        weights: Mapping[str, float] | Sequence[float] | None = None,
        **kwargs,
    ) -> PriorMethod | HybridMethod:
        """The prior (aligned with ``weights`` when given) under ``settings`` (default: the
        project's defaults) as an :class:`~alignda.analysis.methods.AnalysisMethod`;
        ``kwargs`` go to :func:`~alignda.analysis.methods.prior_method` (workers, progress,
        stop, name)."""
        settings = settings or SamplerSettings()
        net = prior_denoiser(self.network(weights, settings))
        return prior_method(net, self.codec, settings, self.hybrid, **kwargs)


def load_bundle(
    folder: str | Path | None = None,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    prior: str = "prior",
    device: torch.device | None = None,
) -> ModelBundle:
    """Load the bundle of ``folder``; without one, of the Hub repo ``repo_id`` (argument or
    ``ALIGNDA_HUB_REPO``; downloaded or, offline, from the cache), else the shipped folder.
    ``prior``: the manifest name of the prior network to use. ``device``: where the prior and
    the deltas of its soup are placed (default: the CPU)."""
    folder = Path(folder) if folder else checkpoint_dir(repo_id, revision, cache_dir)
    net = load_prior(prior, folder)  # resolve() says what is wrong with a bad folder
    if device is not None:
        net = net.to(device)
    manifest = read_manifest(folder)
    soups, problem = {}, ""
    for name in (ALIGNED, ALIGNED_HYBRID):
        if name not in manifest or prior != "prior":
            continue
        try:
            deltas = load_deltas(name, folder)
            if device is not None:
                deltas = {n: {k: v.to(device) for k, v in d.items()} for n, d in deltas.items()}
            soups[name] = RewardSoup(net, deltas)
        except CheckpointError as err:  # e.g. deltas of another prior: never mixed in
            problem = problem or str(err)
    return ModelBundle(
        folder=folder,
        manifest=manifest,
        stats=WorldStats.load(resolve("world_stats", folder)),
        codec=load_codec(folder),
        prior=net,
        threedvar=(
            ThreeDVar(BackgroundError.load(resolve("threedvar_b", folder)))
            if "threedvar_b" in manifest
            else None
        ),
        soup=soups.get(ALIGNED),
        soup_problem=problem,
        hybrid_soup=soups.get(ALIGNED_HYBRID) if ALIGNED in soups else None,
    )
