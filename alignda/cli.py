"""The one command line: ``python -m alignda <command>`` (or the ``alignda`` console script)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

from alignda.checkpoints import HUB_ENV, checkpoint_dir, upload
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES
from alignda.training.loop import TrainConfig, last_log
from alignda.training.pipeline import Recipe
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


def cmd_plot(args: argparse.Namespace) -> None:
    """PNG maps of truth / background / observations of one case."""
    from alignda.viz.plots import plot_case

    cases = Cases.open(args.cases)
    for path in plot_case(cases, args.case, args.out, pattern=args.pattern, density=args.density):
        print(path)


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


def _train_config(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default: TrainConfig()) with the options given on the command line."""
    keys = ("steps", "batch", "lr", "seed", "val_every", "save_every")
    given = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    return replace(base or TrainConfig(), **given)


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", default="data/world/train.nc")
    p.add_argument("--val", default="data/world/val.nc")
    p.add_argument("--workdir", required=True, help="resumable training state and log")
    p.add_argument("--out", default=str(CHECKPOINT_DIR), help="export folder")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--val-every", dest="val_every", type=int)
    p.add_argument("--save-every", dest="save_every", type=int)
    p.add_argument("--no-export", action="store_true", help="train only")
    p.add_argument("--quiet", action="store_true")


def cmd_train_vae(args: argparse.Namespace) -> None:
    """Train the VAE (resumable) and export it to the checkpoint folder."""
    from alignda.checkpoints import resolve
    from alignda.model.nn.vae import VAEConfig
    from alignda.training.vae import export_vae, train_vae
    from alignda.world.stats import WorldStats

    recipe = Recipe()
    cfg = _train_config(args, recipe.vae_train)
    vcfg = VAEConfig(
        width=args.width,
        latent_channels=args.latent_channels,
        fine_width=args.fine_width,
        space=args.space,
    )
    codec = train_vae(
        args.train,
        args.val,
        args.workdir,
        vcfg,
        cfg,
        args.kl_weight,
        args.balance_weight,
        stats=WorldStats.load(resolve("world_stats", args.out)),
        progress=not args.quiet,
    )
    if not args.no_export:
        figures = last_log(args.workdir)
        path = export_vae(
            codec,
            args.out,
            figures=figures,
            train_config={
                "train": cfg.to_dict(),
                "kl_weight": args.kl_weight,
                "balance_weight": args.balance_weight,
            },
            data={"train": str(args.train)},
        )
        print(f"exported {path}: {figures}")


def cmd_train_prior(args: argparse.Namespace) -> None:
    """Train the latent prior (resumable) and export it."""
    from alignda.model.codec import load_codec
    from alignda.model.nn.dit import DiTConfig
    from alignda.training.prior import export_prior, train_prior

    cfg = _train_config(args, Recipe().prior_train)
    codec = load_codec(args.out)
    net_cfg = DiTConfig(
        latent_channels=codec.config.latent_channels,
        dim=args.dim,
        depth=args.depth,
        heads=args.heads,
        increment=not args.full_latent,
    )
    net = train_prior(
        codec, args.train, args.val, args.workdir, net_cfg, cfg, progress=not args.quiet
    )
    if not args.no_export:
        figures = last_log(args.workdir)
        path = export_prior(
            net,
            "prior",
            args.out,
            figures=figures,
            config={"train": cfg.to_dict()},
            data={"train": str(args.train)},
        )
        print(f"exported {path}: {figures}")


def cmd_assimilate(args: argparse.Namespace) -> None:
    """One analysis of a case: write members, mean and spread to netCDF."""

    from alignda.analysis.score import SamplerSettings, analyse, analysis_dataset
    from alignda.model.codec import load_codec
    from alignda.model.prior import load_prior, prior_denoiser
    from alignda.obs.operator import observe_case
    from alignda.runtime import worker_threads
    from alignda.world.grid import Grid

    if args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    if not (math.isfinite(args.noise_scale) and args.noise_scale >= 0):
        raise ValueError(f"--noise-scale must be finite and >= 0, got {args.noise_scale}")
    cases = Cases.open(args.cases)
    t = cases.time_of(args.case)
    truth, bg = cases.truth_state(t), cases.background_state(t)
    grid = Grid(*truth.shape[-2:])
    obs = observe_case(
        truth,
        args.seed,
        pattern=args.pattern,
        density=args.density,
        points=Path(args.points) if args.points else None,
        noise_scale=args.noise_scale,
    )
    settings = SamplerSettings(
        mode=args.mode,
        steps=args.steps,
        corrections=args.corrections,
        zeta=args.zeta,
        gamma=args.gamma,
        members=args.members,
        seed=args.seed,
    )
    folder = (
        checkpoint_dir(args.hub_repo)
        if (args.hub_repo or os.environ.get(HUB_ENV))
        else Path(args.checkpoints)
    )
    codec = load_codec(folder)
    net = load_prior(args.prior, folder)
    weights = _weights(args)
    if any(weights.values()):
        from alignda.alignment.soup import RewardSoup, load_deltas

        net = RewardSoup(net, load_deltas("aligned", folder)).network(weights)
    hybrid = None
    if settings.mode == "hybrid":
        from alignda.analysis.hybrid import HybridEnVar
        from alignda.analysis.threedvar import BackgroundError, ThreeDVar
        from alignda.checkpoints import resolve

        hybrid = HybridEnVar(ThreeDVar(BackgroundError.load(resolve("threedvar_b", folder))))
    with worker_threads() as workers:  # groups of members side by side, one thread each
        members = analyse(
            prior_denoiser(net),
            codec,
            bg,
            obs,
            settings,
            progress=not args.quiet,
            workers=workers,
            hybrid=hybrid,
        )
    ds = analysis_dataset(
        members,
        grid,
        t,
        attrs={
            "settings": json.dumps(settings.to_dict()),
            "pattern": f"csv points {Path(args.points).name}" if args.points else args.pattern,
            "density": args.density,
            "noise_scale": args.noise_scale,
            "reward_weights": json.dumps(weights),
        },
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(out)
    print(f"analysis ({settings.members} member(s), {settings.mode}) -> {out}")


def cmd_preferences(args: argparse.Namespace) -> None:
    """Sample and score candidates for the preference data (safetensors)."""
    from alignda.alignment.preferences import PreferenceConfig, generate_preferences
    from alignda.checkpoints import resolve
    from alignda.model.codec import load_codec
    from alignda.model.prior import load_prior
    from alignda.world.stats import WorldStats

    cfg = PreferenceConfig(
        candidates=args.candidates,
        backgrounds=args.backgrounds,
        steps=args.steps,
        corrections=args.corrections,
        seed=args.seed,
    )
    folder = Path(args.checkpoints)
    stats = WorldStats.load(resolve("world_stats", folder))
    prefs = generate_preferences(
        Cases.open(args.cases),
        load_codec(folder),
        load_prior(directory=folder),
        stats.std,
        cfg,
        progress=not args.quiet,
    )
    prefs.config["cases"] = str(args.cases)
    path = prefs.save(args.out)
    means = {k: round(float(v.mean()), 4) for k, v in prefs.rewards.items()}
    print(f"{prefs.z.shape[0]} backgrounds x {prefs.z.shape[1]} candidates -> {path}; {means}")


def cmd_align(args: argparse.Namespace) -> None:
    """Diffusion-DPO of one delta per preference kind; export them as ``aligned``."""
    from alignda.alignment.dpo import DPOConfig, train_dpo
    from alignda.alignment.preferences import Preferences
    from alignda.alignment.soup import DELTAS, export_deltas
    from alignda.checkpoints import read_manifest
    from alignda.model.prior import load_prior

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    for k in kinds:
        if k not in DELTAS:
            raise ValueError(f"unknown kind {k!r}; choose from {DELTAS}")
    train_cfg = TrainConfig(
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        warmup=min(20, args.steps),
        val_every=args.val_every,
        save_every=args.val_every,
    )
    cfg = DPOConfig(
        beta=args.beta, fraction=args.fraction, multi_fraction=args.multi_fraction, train=train_cfg
    )
    prefs = Preferences.load(args.prefs)
    val = Preferences.load(args.val_prefs) if args.val_prefs else None
    ref = load_prior(directory=args.checkpoints)
    deltas, figures = {}, {}
    for k in kinds:
        deltas[k], _ = train_dpo(
            ref, prefs, k, cfg, Path(args.workdir) / k, val, progress=not args.quiet
        )
        figures[k] = last_log(Path(args.workdir) / k)
        print(f"{k}: {figures[k]}")
    if not args.no_export:
        path = export_deltas(
            deltas,
            "aligned",
            args.out,
            config={
                "dpo": {
                    "beta": cfg.beta,
                    "fraction": cfg.fraction,
                    "multi_fraction": cfg.multi_fraction,
                    "train": train_cfg.to_dict(),
                },
                "preferences": prefs.config,
                "prior_sha256": read_manifest(args.checkpoints)["prior"]["sha256"],
            },
            data={"prefs": str(args.prefs), "pairs_from_backgrounds": int(prefs.z.shape[0])},
            figures=figures,
        )
        print(f"exported {path}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    """The paper's Tables 1 and 2, the obs density/noise sweep and the trade-off PNG."""
    from alignda.runtime import worker_threads

    with worker_threads() as workers:  # one torch thread per worker: members side by side
        _evaluate(args, workers)


def _evaluate(args: argparse.Namespace, workers: int) -> None:
    import numpy as np

    from alignda.alignment.soup import load_soup
    from alignda.analysis.score import SamplerSettings
    from alignda.analysis.threedvar import BackgroundError, ThreeDVar
    from alignda.checkpoints import resolve
    from alignda.evaluation.metrics import format_table
    from alignda.evaluation.tables import EvalConfig, Evaluator, tradeoff_figure
    from alignda.model.codec import load_codec
    from alignda.viz.maps import save_png
    from alignda.world.stats import WorldStats

    folder = Path(args.checkpoints)
    cases = Cases.open(args.cases)
    stats = WorldStats.load(resolve("world_stats", folder))
    ev = Evaluator(
        load_soup(folder),
        load_codec(folder),
        ThreeDVar(BackgroundError.load(resolve("threedvar_b", folder))),
        stats,
        progress=not args.quiet,
        workers=workers,
    )
    times = [t for t in cases.times if cases.future_truth(t, 48) is not None][: args.n_cases]
    truth = np.stack([cases.truth_state(t) for t in times])
    bg = np.stack([cases.background_state(t) for t in times])
    future = np.stack([cases.future_truth(t, 48) for t in times])
    sampler = SamplerSettings(
        steps=args.steps, members=args.members, zeta=args.zeta, gamma=args.gamma, seed=args.seed
    )
    cfg = EvalConfig(density=args.density, pattern=args.pattern, sampler=sampler)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    head = (
        f"{len(times)} cases of {args.cases}, {args.density:.0%} {args.pattern} obs, "
        f"{args.steps} steps, mean of {args.members} members, seed {args.seed}"
    )
    report = [f"# Align-DA evaluation\n\n{head}\n"]
    if not args.skip_tables:
        t1, t2 = ev.tables(truth, bg, future, cfg, [m for m in args.modes.split(",") if m])
        report += [
            "## Table 1: analyses\n",
            format_table(t1),
            "\n## Table 2: 48 h forecasts\n",
            format_table(t2),
        ]
    n_small = min(args.sweep_cases, len(times))
    small = replace(cfg, sampler=replace(sampler, members=args.sweep_members))
    if args.densities:
        dens = [float(x) for x in args.densities.split(",")]
        noise = [float(x) for x in args.noise.split(",")]
        sw = ev.sweep(truth[:n_small], bg[:n_small], small, dens, noise)
        report += [f"\n## Sweep: analysis MSE, {n_small} cases, dps\n", sw.round(5).to_string()]
    if not args.skip_tradeoff:
        tr = ev.tradeoff(truth[:n_small], bg[:n_small], future[:n_small], small)
        report += [
            f"\n## Trade-off over the weight simplex, {n_small} cases\n",
            tr.round(4).to_string(),
        ]
        print(save_png(tradeoff_figure(tr), out / "tradeoff.png"))
    text = "\n".join(report) + "\n"
    (out / "tables.md").write_text(text)
    print(text)


def _weights(args: argparse.Namespace) -> dict[str, float]:
    """Normalised reward weights from ``--preset`` or ``--weights`` (default: unaligned)."""
    from alignda.alignment.soup import PRESETS, normalise_weights

    if args.preset and args.weights:
        raise ValueError("give --preset or --weights, not both")
    if args.preset:
        if args.preset not in PRESETS:
            raise ValueError(f"unknown preset {args.preset!r}; choose one of {list(PRESETS)}")
        return normalise_weights(PRESETS[args.preset])
    if not args.weights:
        return normalise_weights({})
    try:
        values = [float(x) for x in args.weights.split(",")]
    except ValueError:
        raise ValueError(
            f"--weights must be comma-separated numbers, got {args.weights!r}"
        ) from None
    return normalise_weights(values)


def cmd_finetune_decoder(args: argparse.Namespace) -> None:
    """Fine-tune the VAE decoder against its frozen encoder (the prior stays valid)."""
    from alignda.checkpoints import read_manifest
    from alignda.model.codec import load_codec
    from alignda.training.vae import export_vae, finetune_decoder

    cfg = _train_config(args)
    before = read_manifest(args.out)["vae"]
    codec = finetune_decoder(
        load_codec(args.out),
        [p.strip() for p in args.train.split(",") if p.strip()],
        args.val,
        args.workdir,
        cfg,
        progress=not args.quiet,
    )
    if not args.no_export:
        figures = last_log(args.workdir)
        path = export_vae(
            codec,
            args.out,
            figures=figures,
            train_config={
                **before["config"],
                "decoder_finetune": {"train": cfg.to_dict(), "cases": args.train},
            },
            data=before["data"],
        )
        print(f"exported {path}: {figures}")


def cmd_rebuild(args: argparse.Namespace) -> None:
    """Rebuild the checkpoints from a seed (data, statistics and B, VAE, prior)."""
    from dataclasses import replace

    from alignda.training.pipeline import STAGES, rebuild, scaled

    recipe = scaled(Recipe(), args.scale) if args.scale != 1.0 else Recipe()
    if args.vae_steps:
        recipe = replace(recipe, vae_train=replace(recipe.vae_train, steps=args.vae_steps))
    if args.prior_steps:
        recipe = replace(recipe, prior_train=replace(recipe.prior_train, steps=args.prior_steps))
    if args.prior_batch or args.prior_lr:
        pt = recipe.prior_train
        pt = replace(pt, batch=args.prior_batch or pt.batch, lr=args.prior_lr or pt.lr)
        recipe = replace(recipe, prior_train=pt)
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
    figures = rebuild(
        recipe,
        out=args.out,
        data=args.data,
        runs=args.runs,
        stages=stages,
        save_data=not args.no_save_data,
        progress=not args.quiet,
        budget_seconds=args.budget_minutes * 60 if args.budget_minutes else None,
        prior_init=args.prior_init,
    )
    print(json.dumps(figures, indent=1))


def cmd_upload(args: argparse.Namespace) -> None:
    """Upload a checkpoint folder to a Hugging Face Hub model repo."""
    print(upload(args.folder, args.repo_id))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    p = argparse.ArgumentParser(prog="alignda", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

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

    v = sub.add_parser("train-vae", help="train the VAE and export it")
    _add_train_args(v)
    vae_recipe = Recipe()
    v.add_argument("--width", type=int, default=vae_recipe.vae.width)
    v.add_argument(
        "--latent-channels",
        dest="latent_channels",
        type=int,
        default=vae_recipe.vae.latent_channels,
    )
    v.add_argument("--fine-width", dest="fine_width", type=int, default=vae_recipe.vae.fine_width)
    v.add_argument("--space", choices=("state", "controls"), default=vae_recipe.vae.space)
    v.add_argument("--kl-weight", dest="kl_weight", type=float, default=vae_recipe.kl_weight)
    v.add_argument(
        "--balance-weight",
        dest="balance_weight",
        type=float,
        default=vae_recipe.balance_weight,
    )
    v.set_defaults(func=cmd_train_vae)

    r = sub.add_parser("train-prior", help="train the latent score prior and export it")
    _add_train_args(r)
    r.add_argument("--dim", type=int, default=128)
    r.add_argument("--depth", type=int, default=4)
    r.add_argument("--heads", type=int, default=4)
    r.add_argument(
        "--full-latent",
        dest="full_latent",
        action="store_true",
        help="model the latent itself, not the increment z - z_b",
    )
    r.set_defaults(func=cmd_train_prior)

    a = sub.add_parser("assimilate", help="analyse one case with the latent prior -> netCDF")
    a.add_argument("--cases", default=str(SHIPPED_CASES))
    a.add_argument("--case", default="0", help="index or analysis time (e.g. 2000-07-04T00)")
    a.add_argument("--pattern", default="random")
    a.add_argument("--density", type=float, default=0.01)
    a.add_argument(
        "--points", help="CSV of observed points: lat, lon[, variable, value] (replaces --pattern)"
    )
    a.add_argument(
        "--noise-scale",
        type=float,
        default=1.0,
        help="obs error std as a multiple of z 10 m, u/v 1 m/s, tracer 0.02 (0: perfect obs)",
    )
    a.add_argument("--mode", default="hybrid")
    a.add_argument("--steps", type=int, default=32)
    a.add_argument("--corrections", type=int, default=1)
    a.add_argument("--zeta", type=float, default=1.0)
    a.add_argument("--gamma", type=float, default=0.01, help="0: plain DPS normalisation")
    a.add_argument("--members", type=int, default=8, help="ensemble size (mean = analysis)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--prior", default="prior", help="checkpoint name in the manifest")
    a.add_argument(
        "--weights",
        help="reward weights accuracy,forecast,physics[,multi] (normalised; default unaligned;"
        " a value starting with '-' needs --weights=...)",
    )
    a.add_argument("--preset", help="named weights, e.g. 'paper -M' (see alignda.alignment.dpo)")
    a.add_argument("--checkpoints", default=str(CHECKPOINT_DIR))
    a.add_argument("--hub-repo", dest="hub_repo", help=f"Hub repo id (or env {HUB_ENV})")
    a.add_argument("--out", default="out/analysis.nc")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=cmd_assimilate)

    pr = sub.add_parser("preferences", help="sample and score candidates for DPO")
    pr.add_argument("--cases", default="data/world/train.nc")
    pr.add_argument("--out", required=True, help="safetensors file")
    pr.add_argument("--candidates", type=int, default=16)
    pr.add_argument("--backgrounds", type=int, default=32)
    pr.add_argument("--steps", type=int, default=32)
    pr.add_argument("--corrections", type=int, default=1)
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--checkpoints", default=str(CHECKPOINT_DIR))
    pr.add_argument("--quiet", action="store_true")
    pr.set_defaults(func=cmd_preferences)

    al = sub.add_parser("align", help="Diffusion-DPO deltas per reward (+ multi) -> checkpoints")
    al.add_argument("--prefs", required=True, help="training preference file")
    al.add_argument("--val-prefs", dest="val_prefs", help="held-out preference file")
    al.add_argument("--kinds", default="accuracy,forecast,physics,multi")
    al.add_argument("--workdir", required=True)
    al.add_argument("--out", default=str(CHECKPOINT_DIR))
    al.add_argument("--checkpoints", default=str(CHECKPOINT_DIR), help="reference prior folder")
    al.add_argument("--steps", type=int, default=200)
    al.add_argument("--batch", type=int, default=8)
    al.add_argument("--lr", type=float, default=1e-5)
    al.add_argument("--beta", type=float, default=8000.0)
    al.add_argument("--fraction", type=float, default=0.25, help="top/bottom fraction (-P)")
    al.add_argument("--multi-fraction", dest="multi_fraction", type=float, default=0.5)
    al.add_argument("--seed", type=int, default=0)
    al.add_argument("--val-every", dest="val_every", type=int, default=50)
    al.add_argument("--no-export", action="store_true")
    al.add_argument("--quiet", action="store_true")
    al.set_defaults(func=cmd_align)

    fd = sub.add_parser(
        "finetune-decoder", help="fine-tune the VAE decoder alone (latents, prior unchanged)"
    )
    _add_train_args(fd)
    fd.set_defaults(func=cmd_finetune_decoder)

    rb = sub.add_parser(
        "rebuild", help="rebuild the checkpoints from a seed: data, stats and B, VAE, prior"
    )
    rb.add_argument("--out", default=str(CHECKPOINT_DIR), help="checkpoint folder")
    rb.add_argument("--data", default="data/rebuild", help="generated cases (kept, reused)")
    rb.add_argument("--runs", default="runs/rebuild", help="resumable training states")
    rb.add_argument("--stages", default="data,stats,vae,prior")
    rb.add_argument("--scale", type=float, default=1.0, help="trajectories and steps x this")
    rb.add_argument("--vae-steps", dest="vae_steps", type=int)
    rb.add_argument("--prior-steps", dest="prior_steps", type=int)
    rb.add_argument("--prior-batch", dest="prior_batch", type=int)
    rb.add_argument("--prior-lr", dest="prior_lr", type=float)
    rb.add_argument("--prior-init", dest="prior_init", help="folder whose prior to fine-tune")
    rb.add_argument("--no-save-data", dest="no_save_data", action="store_true")
    rb.add_argument(
        "--budget-minutes",
        dest="budget_minutes",
        type=float,
        help="wall-clock budget: training steps are cut to fit it on this machine",
    )
    rb.add_argument("--quiet", action="store_true")
    rb.set_defaults(func=cmd_rebuild)

    e = sub.add_parser("evaluate", help="paper tables, obs sweep and reward trade-off")
    e.add_argument("--cases", default=str(SHIPPED_CASES))
    e.add_argument("--n-cases", dest="n_cases", type=int)
    e.add_argument("--checkpoints", default=str(CHECKPOINT_DIR))
    e.add_argument("--density", type=float, default=0.01)
    e.add_argument("--pattern", default="random")
    e.add_argument("--modes", default="obsfree,repaint,dps")
    e.add_argument("--steps", type=int, default=32)
    e.add_argument("--members", type=int, default=8)
    e.add_argument("--zeta", type=float, default=1.0)
    e.add_argument("--gamma", type=float, default=0.01)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--densities", default="0.01,0.03,0.05,0.1", help="sweep ('' to skip)")
    e.add_argument("--noise", default="1,3", help="obs noise multipliers of the sweep")
    e.add_argument("--sweep-cases", dest="sweep_cases", type=int, default=8)
    e.add_argument("--sweep-members", dest="sweep_members", type=int, default=4)
    e.add_argument("--skip-tables", dest="skip_tables", action="store_true")
    e.add_argument("--skip-tradeoff", dest="skip_tradeoff", action="store_true")
    e.add_argument("--out", default="out/eval")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    u = sub.add_parser("upload", help="upload a checkpoint folder to the Hugging Face Hub")
    u.add_argument("--repo-id", dest="repo_id", required=True)
    u.add_argument("--folder", default=str(CHECKPOINT_DIR))
    u.set_defaults(func=cmd_upload)

    m = sub.add_parser("plot", help="PNG maps of one case (truth, background, observations)")
    m.add_argument("--cases", default=str(SHIPPED_CASES))
    m.add_argument("--case", type=int, default=0, help="case index")
    m.add_argument("--pattern", default="random")
    m.add_argument("--density", type=float, default=0.05)
    m.add_argument("--out", default="out/maps")
    m.set_defaults(func=cmd_plot)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (errors print one clear line)."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, KeyError, IndexError) as err:
        # str(KeyError) is the repr of its message: print the message itself
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"alignda {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0
