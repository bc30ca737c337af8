"""Commands that make and show the world's data: generate, ship, fit-b, plot,
cases-from-reanalysis."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields, replace
from pathlib import Path

from alignda.cli.common import add_choice, add_command, add_out, checked_out, out_path
from alignda.obs.networks import PATTERNS
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES
from alignda.world.cases import Cases, shipped_subset
from alignda.world.generation import (
    WORLDS,
    GenerateConfig,
    estimate,
    generate,
    measure_speed,
    split,
    with_world,
)
from alignda.world.model import ShallowWaterModel


def _generate_config(args: argparse.Namespace) -> GenerateConfig:
    cfg = GenerateConfig()
    if args.config:
        cfg = GenerateConfig.from_dict(json.loads(Path(args.config).read_text()))
    if args.world:
        cfg = with_world(cfg, args.world)
    overrides = {  # --world names a version (set above), not the model's parameters
        f.name: getattr(args, f.name)
        for f in fields(GenerateConfig)
        if f.name != "world" and getattr(args, f.name, None) is not None
    }
    return replace(cfg, **overrides)


def cmd_generate(args: argparse.Namespace) -> None:
    """Generate truth trajectories + backgrounds, split by trajectory, write netCDF."""
    cfg = _generate_config(args)
    out = out_path(args)
    speed = measure_speed(ShallowWaterModel(cfg.world), min(cfg.batch, cfg.n_trajectories))
    est = estimate(cfg, speed)
    truth_days, bg_days = cfg.model_days()
    print(
        f"generating {cfg.n_trajectories} trajectories x {cfg.states_per_trajectory} states, "
        f"{cfg.n_trajectories * len(cfg.analysis_indices())} backgrounds "
        f"({truth_days:.0f} + {bg_days:.0f} model days): ~{est['megabytes']:.0f} MB, "
        f"~{est['seconds'] / 60:.1f} min (estimate at the batched speed)",
        flush=True,
    )
    t0 = time.perf_counter()
    cases = generate(cfg, progress=not args.quiet)
    for name, part in split(cases, cfg).items():
        path = part.save(out / f"{name}.nc")
        print(f"{name}: {len(part)} cases -> {path}")
    (out / "generate_config.json").write_text(cfg.to_json())
    print(f"done in {time.perf_counter() - t0:.0f} s")


def cmd_ship(args: argparse.Namespace) -> None:
    """Write the small held-out set shipped in assets/ (int16-packed netCDF)."""
    out = out_path(args)
    cases = shipped_subset(Cases.open(args.source), args.per_trajectory, args.every_hours)
    path = cases.save(out, packed=True)
    print(f"{len(cases)} cases, {path.stat().st_size / 1e6:.2f} MB -> {path}")


def cmd_fit_b(args: argparse.Namespace) -> None:
    """Fit the 3D-Var B and the world statistics on training cases; register both."""
    from alignda.analysis.threedvar import fit_background_error
    from alignda.checkpoints import register
    from alignda.world.stats import WorldStats

    out = out_path(args)
    train = Cases.open(args.train)
    bg, truth = train.pairs()
    data = {"source": str(args.train), "cases": len(train)}
    berr = fit_background_error(bg, truth)
    register("threedvar_b", berr.save(out / "threedvar_b.safetensors"), directory=out, data=data)
    stats = WorldStats.from_cases(train)
    register("world_stats", stats.save(out / "world_stats.safetensors"), directory=out, data=data)
    print(f"B and world statistics from {len(train)} cases -> {out}")
    print("per-variable scale:", {k: round(v, 4) for k, v in stats.scales.items()})


def cmd_plot(args: argparse.Namespace) -> None:
    """PNG maps of truth / background / observations of one case."""
    from alignda.viz.plots import plot_case

    out = out_path(args)
    cases = Cases.open(args.cases)
    for path in plot_case(cases, args.case, out, pattern=args.pattern, density=args.density):
        print(path)


def _variable_names(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"--names {text!r}: expected VAR=NAME pairs like z=hgt,u=uwnd")
    return {k.strip(): v.strip() for k, v in pairs}


def cmd_cases_from_reanalysis(args: argparse.Namespace) -> None:
    """Regrid reanalysis files to the model grid and write cases."""
    from alignda.world.reanalysis import OUT_OF_DISTRIBUTION_NOTE, cases_from_reanalysis

    cases = cases_from_reanalysis(
        args.files,
        checked_out(args.out, args.mkdir),
        level=None if str(args.level).lower() == "none" else args.level,
        forecast=args.forecast,
        lead_hours=args.lead_hours,
        names=_variable_names(args.names),
        z_kind=args.z_kind,
        derive_missing=not args.strict,
        rescale_to_model_depth=args.rescale_to_model_depth,
        mean_height=args.mean_height,
        progress=not args.quiet,
    )
    print(
        f"{len(cases)} cases ({cases.attrs['background']}), {cases.attrs['regridding']}; "
        f"derived: {cases.attrs['derived']}; rescaled: {cases.attrs['rescaled']} -> {args.out}"
    )
    print(f"serve them: ALIGNDA_CASES={args.out} python app.py  ({OUT_OF_DISTRIBUTION_NOTE})")


def add_reanalysis_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``cases-from-reanalysis FILE [FILE ...] --out cases.nc``."""
    from alignda.world.reading import Z_KINDS

    p = add_command(
        sub,
        "cases-from-reanalysis",
        "reanalysis (netCDF/zarr, any regular lat-lon grid) -> cases on the model grid",
    )
    p.add_argument(
        "files",
        nargs="+",
        help="netCDF files or zarr stores of the truth (e.g. ERA5, WeatherBench2); several "
        "files are merged (e.g. u and v apart, as NCEP ships them)",
    )
    add_out(p, "cases file to write (netCDF)", required=True)
    p.add_argument("--level", default="500", help="pressure level, e.g. 500 or 500hPa ('none')")
    p.add_argument("--forecast", nargs="+", help="files of forecasts valid at the analysis times")
    p.add_argument(
        "--lead-hours", dest="lead_hours", type=int, default=48, help="background lead time (h)"
    )
    p.add_argument("--names", help="variable names, e.g. z=hgt,u=uwnd,v=vwnd,tracer=q")
    p.add_argument(
        "--z-kind",
        dest="z_kind",
        choices=Z_KINDS,
        default="auto",
        help="whether z is geopotential (m2 s-2) or height (m); auto reads units and names",
    )
    p.add_argument(
        "--mean-height",
        dest="mean_height",
        type=float,
        help="global mean (m) of a height derived from the winds (default: the world's depth)",
    )
    p.add_argument(
        "--rescale-to-model-depth",
        dest="rescale_to_model_depth",
        action="store_true",
        help="accept a level other than 500 hPa by shifting its height to the model's mean depth "
        "(gradients and balanced winds kept; the fields stay those of their level)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse files lacking a variable (no height, winds or tracer derived)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_cases_from_reanalysis)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser's subcommands."""
    add_reanalysis_parser(sub)
    gen = GenerateConfig()
    g = add_command(sub, "generate", "generate twin-world cases (train/val/test netCDF)")
    add_out(
        g,
        "folder to write train.nc, val.nc, test.nc and generate_config.json into",
        default="data/world",
    )
    g.add_argument(
        "--config",
        help="JSON file of GenerateConfig fields (the options below override it)",
    )
    g.add_argument(
        "--world",
        choices=tuple(WORLDS),
        help="world version: v1 (backgrounds from the perturbed truth, stochastic forcing) or "
        "v2 (backgrounds from a cycled 3D-Var, a flow chaotic by itself); default: --config's, "
        "else v1",
    )
    g.add_argument(
        "--n-trajectories",
        dest="n_trajectories",
        type=int,
        help="truth trajectories to integrate; whole trajectories go to train, val or test "
        f"(default: --config's, else {gen.n_trajectories})",
    )
    g.add_argument(
        "--spinup-days",
        dest="spinup_days",
        type=float,
        help=f"model days run before recording, discarded (default: {gen.spinup_days:g})",
    )
    g.add_argument(
        "--record-days",
        dest="record_days",
        type=float,
        help=f"model days recorded per trajectory, 6-hourly (default: {gen.record_days:g})",
    )
    g.add_argument(
        "--analysis-every-hours",
        dest="analysis_every_hours",
        type=int,
        help="hours between analysis times with a background, a multiple of 6 "
        f"(default: {gen.analysis_every_hours})",
    )
    g.add_argument(
        "--batch",
        type=int,
        help=f"trajectories integrated side by side (default: {gen.batch})",
    )
    g.add_argument(
        "--seed",
        type=int,
        help=f"seed of every draw: initial states, backgrounds, the split (default: {gen.seed})",
    )
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.set_defaults(func=cmd_generate)

    s = add_command(sub, "ship", "write the shipped test cases from a generated test split")
    s.add_argument(
        "--source", default="data/world/test.nc", help="generated cases to pick from (netCDF)"
    )
    add_out(s, "cases file to write (int16-packed netCDF)", default=str(SHIPPED_CASES))
    s.add_argument(
        "--per-trajectory",
        dest="per_trajectory",
        type=int,
        default=8,
        help="analysis times kept per trajectory (those with a truth one lead time later)",
    )
    s.add_argument(
        "--every-hours",
        dest="every_hours",
        type=int,
        default=24,
        help="hours between the kept analysis times of a trajectory",
    )
    s.set_defaults(func=cmd_ship)

    b = add_command(sub, "fit-b", "fit the 3D-Var B and world statistics on training cases")
    b.add_argument("--train", default="data/world/train.nc", help="training cases (netCDF)")
    add_out(
        b,
        "checkpoint folder to write threedvar_b and world_stats into (registered in its "
        "manifest.json)",
        default=str(CHECKPOINT_DIR),
    )
    b.set_defaults(func=cmd_fit_b)

    m = add_command(sub, "plot", "PNG maps of one case (truth, background, observations)")
    m.add_argument("--cases", default=str(SHIPPED_CASES), help="cases file (netCDF)")
    m.add_argument("--case", type=int, default=0, help="case index")
    add_choice(
        m,
        "--pattern",
        choices=PATTERNS,
        what="observation pattern",
        default="random",
        help="observation network shown",
    )
    m.add_argument(
        "--density",
        type=float,
        default=0.05,
        help="observed fraction of the grid points, 0..1 (0.05 = 5 %%)",
    )
    add_out(m, "folder to write the PNG maps into (one per variable)", default="out/maps")
    m.set_defaults(func=cmd_plot)
