"""Commands that make and show the world's data: generate, ship, fit-b, plot,
cases-from-reanalysis."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields, replace
from pathlib import Path

from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES
from alignda.world.cases import (
    Cases,
    GenerateConfig,
    estimate,
    generate,
    measure_speed,
    shipped_subset,
    split,
)
from alignda.world.model import ShallowWaterModel


def _generate_config(args: argparse.Namespace) -> GenerateConfig:
    cfg = GenerateConfig()
    if args.config:
        cfg = GenerateConfig.from_dict(json.loads(Path(args.config).read_text()))
    overrides = {
        f.name: getattr(args, f.name)
        for f in fields(GenerateConfig)
        if getattr(args, f.name, None) is not None
    }
    return replace(cfg, **overrides)


def cmd_generate(args: argparse.Namespace) -> None:
    """Generate truth trajectories + backgrounds, split by trajectory, write netCDF."""
    cfg = _generate_config(args)
    out = Path(args.out)
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
    cases = shipped_subset(Cases.open(args.source), args.per_trajectory, args.every_hours)
    path = cases.save(args.out, packed=True)
    print(f"{len(cases)} cases, {path.stat().st_size / 1e6:.2f} MB -> {path}")


def cmd_fit_b(args: argparse.Namespace) -> None:
    """Fit the 3D-Var B and the world statistics on training cases; register both."""
    from alignda.analysis.threedvar import fit_background_error
    from alignda.checkpoints import register
    from alignda.world.stats import WorldStats

    train = Cases.open(args.train)
    out = Path(args.out)
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

    cases = Cases.open(args.cases)
    for path in plot_case(cases, args.case, args.out, pattern=args.pattern, density=args.density):
        print(path)


def _variable_names(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"--names {text!r}: expected VAR=NAME pairs like z=hgt,u=uwnd")
    return {k.strip(): v.strip() for k, v in pairs}


def cmd_cases_from_reanalysis(args: argparse.Namespace) -> None:
    """Regrid a reanalysis file to the model grid and write cases."""
    from alignda.world.reanalysis import OUT_OF_DISTRIBUTION_NOTE, cases_from_reanalysis

    cases = cases_from_reanalysis(
        args.file,
        args.out,
        level=None if str(args.level).lower() == "none" else args.level,
        forecast=args.forecast,
        lead_hours=args.lead_hours,
        names=_variable_names(args.names),
        z_kind=args.z_kind,
        derive_missing=not args.strict,
        mean_height=args.mean_height,
    )
    print(
        f"{len(cases)} cases ({cases.attrs['background']}), {cases.attrs['regridding']}; "
        f"derived: {cases.attrs['derived']} -> {args.out}"
    )
    print(f"serve them: ALIGNDA_CASES={args.out} python app.py  ({OUT_OF_DISTRIBUTION_NOTE})")


def add_reanalysis_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``cases-from-reanalysis FILE --out cases.nc``."""
    from alignda.world.reanalysis import Z_KINDS

    p = sub.add_parser(
        "cases-from-reanalysis",
        help="reanalysis (netCDF/zarr, any regular lat-lon grid) -> cases on the model grid",
    )
    p.add_argument("file", help="netCDF file or zarr store of the truth (e.g. ERA5, WeatherBench2)")
    p.add_argument("--out", required=True, help="cases file to write (netCDF)")
    p.add_argument("--level", default="500", help="pressure level, e.g. 500 or 500hPa ('none')")
    p.add_argument("--forecast", help="file of forecasts valid at the analysis times")
    p.add_argument("--lead-hours", dest="lead_hours", type=int, default=48)
    p.add_argument("--names", help="variable names, e.g. z=hgt,u=uwnd,v=vwnd,tracer=q")
    p.add_argument("--z-kind", dest="z_kind", choices=Z_KINDS, default="auto")
    p.add_argument(
        "--mean-height",
        dest="mean_height",
        type=float,
        help="global mean (m) of a height derived from the winds (default: the world's depth)",
    )
    p.add_argument("--strict", action="store_true", help="refuse files lacking z or the tracer")
    p.set_defaults(func=cmd_cases_from_reanalysis)


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser's subcommands."""
    add_reanalysis_parser(sub)
    g = sub.add_parser("generate", help="generate twin-world cases (train/val/test netCDF)")
    g.add_argument("--out", default="data/world", help="output folder")
    g.add_argument("--config", help="JSON file with GenerateConfig fields")
    g.add_argument("--n-trajectories", dest="n_trajectories", type=int)
    g.add_argument("--spinup-days", dest="spinup_days", type=float)
    g.add_argument("--record-days", dest="record_days", type=float)
    g.add_argument("--analysis-every-hours", dest="analysis_every_hours", type=int)
    g.add_argument("--batch", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    g.set_defaults(func=cmd_generate)

    s = sub.add_parser("ship", help="write the shipped test cases from a generated test split")
    s.add_argument("--source", default="data/world/test.nc")
    s.add_argument("--out", default=str(SHIPPED_CASES))
    s.add_argument("--per-trajectory", dest="per_trajectory", type=int, default=8)
    s.add_argument("--every-hours", dest="every_hours", type=int, default=24)
    s.set_defaults(func=cmd_ship)

    b = sub.add_parser("fit-b", help="fit the 3D-Var B and world statistics on training cases")
    b.add_argument("--train", default="data/world/train.nc")
    b.add_argument("--out", default=str(CHECKPOINT_DIR))
    b.set_defaults(func=cmd_fit_b)

    m = sub.add_parser("plot", help="PNG maps of one case (truth, background, observations)")
    m.add_argument("--cases", default=str(SHIPPED_CASES))
    m.add_argument("--case", type=int, default=0, help="case index")
    m.add_argument("--pattern", default="random")
    m.add_argument("--density", type=float, default=0.05)
    m.add_argument("--out", default="out/maps")
    m.set_defaults(func=cmd_plot)
