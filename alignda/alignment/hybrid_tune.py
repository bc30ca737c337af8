"""The reward-gradient fine-tune through the default mode's own pipeline: the hybrid.

The hybrid (:class:`~alignda.analysis.methods.HybridMethod`) reads the prior through its first
guess, the large scales of the prior's conditional mean (:mod:`alignda.analysis.first_guess`:
one batched denoiser call at t = 0.7), and analyses it with the variational solve. Deltas
tuned on guided rollouts (the DPS pipeline) barely move it, so its deltas are tuned on it:
per case the first guess of the network is computed with gradients, analysed against a fresh
random network of observations (:func:`~alignda.analysis.variational.differentiable_analysis`,
whose backward pass is one more solve), and the reward of the *analysis* is back-propagated
into the network. The solve uses the static 3D-Var B: the hybrid's ensemble weight (beta 0.02)
is too small to matter, and sampling its members at every step would cost 128 network calls.
"""

from __future__ import annotations

import torch
from torch import nn

from alignda.analysis.first_guess import FirstGuessSettings, large_scales, mean_increment
from alignda.analysis.score import SampleCodec
from alignda.analysis.threedvar import ThreeDVar
from alignda.analysis.variational import differentiable_analysis
from alignda.model.codec import LatentCodec
from alignda.model.prior import prior_denoiser
from alignda.obs.operator import Observations

#: Draws of the first guess's denoiser call per case in the fine-tune (the app uses 32).
TUNE_DRAWS = 8


def hybrid_analyses(
    net: nn.Module,
    codec: LatentCodec,
    threedvar: ThreeDVar,
    backgrounds: torch.Tensor,
    zb: torch.Tensor,
    obs: list[Observations],
    eps: torch.Tensor,
    settings: FirstGuessSettings | None = None,
) -> torch.Tensor:
    """The analyses (B, C, H, W) of the prior-mean first guesses of ``net`` for backgrounds
    (B, C, H, W) with latents ``zb`` and one observation set each; ``eps`` (B, draws, ...) are
    the first guess's draws. Differentiable in ``net``'s parameters."""
    if not (len(backgrounds) == len(zb) == len(obs) == len(eps)):
        raise ValueError("need one background latent, observation set and draw set per case")
    s = settings or FirstGuessSettings()
    den = prior_denoiser(net)
    sphere, control = threedvar.sphere, threedvar.control_shape
    out = []
    for i, o in enumerate(obs):
        view = SampleCodec(codec, den, zb[i : i + 1])
        with torch.no_grad():
            x_b = view.encode(backgrounds[i : i + 1])
        increment = mean_increment(den, view, x_b, eps[i], s.t)
        guess = backgrounds[i].double() + large_scales(increment, sphere, s.lmax)
        out.append(differentiable_analysis(threedvar.increment, control, guess, o))
    return torch.stack(out).float()
