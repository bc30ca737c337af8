"""The experiment's command-line flags: one definition of each, its default from
:data:`alignda.experiment.DEFAULT`, and readers that turn them back into the
:mod:`alignda.experiment` classes (:meth:`~alignda.experiment.Experiment.argv` is their inverse).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from alignda.alignment.soup import DELTAS, PRESETS, normalise_weights
from alignda.analysis.score import ANALYSIS_MODES, FIRST_GUESSES, SamplerSettings
from alignda.cli.common import add_choice
from alignda.experiment import DEFAULT, DEFAULT_PRESET, Experiment, Observing, preset_weights
from alignda.obs.networks import PATTERNS

#: The :class:`SamplerSettings` fields the flags of :func:`add_method_args` set.
METHOD_FLAGS = ("mode", "steps", "corrections", "zeta", "gamma", "members", "first_guess")


def add_observing_args(p: argparse.ArgumentParser, what: str = "observation network") -> None:
    """``--pattern``, ``--density`` (a fraction of the grid points) and ``--noise-scale``."""
    o = DEFAULT.observing
    add_choice(
        p, "--pattern", choices=PATTERNS, what="observation pattern", default=o.pattern, help=what
    )
    p.add_argument(
        "--density",
        type=float,
        default=o.density,
        help="observed fraction of the grid points, 0..1 (0.01 = 1 %%)",
    )
    p.add_argument(
        "--noise-scale",
        type=float,
        default=o.noise_scale,
        help="obs error std as a multiple of z 10 m, u/v 1 m/s, tracer 0.02 (0: perfect obs)",
    )


def add_method_args(
    p: argparse.ArgumentParser, modes: bool = True, members: str = "ensemble members"
) -> None:
    """The analysis method's flags (``--mode``, ``--steps``, ``--members``, ``--zeta``,
    ...); ``modes=False`` leaves ``--mode`` out (the command fixes it)."""
    s = DEFAULT.method
    if modes:
        add_choice(
            p,
            "--mode",
            choices=ANALYSIS_MODES,
            what="guidance mode",
            default=s.mode,
            help="guidance of the latent sampler, or hybrid: 3DEnVar with prior members as "
            "its ensemble",
        )
    p.add_argument("--steps", type=int, default=s.steps, help="diffusion sampling steps")
    p.add_argument(
        "--corrections",
        type=int,
        default=s.corrections,
        help="Langevin corrector steps per sampling step",
    )
    p.add_argument("--zeta", type=float, default=s.zeta, help="dps: guidance strength")
    p.add_argument(
        "--gamma",
        type=float,
        default=s.gamma,
        help="dps: likelihood variance growing with the noise level (SDA); 0: plain DPS",
    )
    p.add_argument("--members", type=int, default=s.members, help=members)
    add_choice(
        p,
        "--first-guess",
        dest="first_guess",
        choices=FIRST_GUESSES,
        what="first guess",
        default=s.first_guess,
        help="hybrid: the prior's mean given the background, or the background itself",
    )


def add_weight_args(p: argparse.ArgumentParser) -> None:
    """``--weights`` (numbers over the deltas) or ``--preset``."""
    p.add_argument(
        "--weights",
        help=f"reward weights over {','.join(DELTAS)} (0,0,0,0: unaligned; a value starting "
        f"with '-' needs --weights=...; default: the {DEFAULT_PRESET!r} preset)",
    )
    add_choice(
        p,
        "--preset",
        choices=PRESETS,
        what="preset",
        help="named reward weights (instead of --weights)",
    )


def method_from_args(args: argparse.Namespace, **fixed) -> SamplerSettings:
    """The settings the flags of :func:`add_method_args` ask for; ``fixed`` fields override
    them (e.g. ``mode`` where the command has no ``--mode``, ``seed``)."""
    given = {k: getattr(args, k) for k in METHOD_FLAGS if hasattr(args, k)}
    return replace(DEFAULT.method, **{**given, **fixed})


def observing_from_args(args: argparse.Namespace) -> Observing:
    """The observation settings of the flags of :func:`add_observing_args`."""
    return Observing(args.pattern, args.density, args.noise_scale)


def weights_from_args(args: argparse.Namespace) -> tuple[float, ...]:
    """Weights over the deltas from ``--preset`` or ``--weights`` (else the default's)."""
    if args.preset and args.weights:
        raise ValueError("give --preset or --weights, not both")
    if args.preset:
        return preset_weights(args.preset)
    if not args.weights:
        return DEFAULT.weights
    try:
        values = tuple(float(x) for x in args.weights.split(","))
    except ValueError:
        raise ValueError(
            f"--weights must be comma-separated numbers, got {args.weights!r}"
        ) from None
    normalise_weights(values)  # says what is wrong with them
    return values


def experiment_from_args(args: argparse.Namespace) -> Experiment:
    """The experiment an ``alignda assimilate`` command line asks for."""
    return Experiment(
        case=str(args.case),
        observing=observing_from_args(args),
        method=method_from_args(args),
        weights=weights_from_args(args),
        seed=args.seed,
    )
