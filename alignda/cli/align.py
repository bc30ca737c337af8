"""Commands of the reward alignment: align (Diffusion-DPO), align-select (sweep and selection)."""

from __future__ import annotations

import argparse
from pathlib import Path

from alignda.alignment.selection import SELECTION_MODE
from alignda.alignment.soup import DELTAS
from alignda.analysis.score import ANALYSIS_MODES
from alignda.cli.common import add_choice, add_command, add_out, comma_list, out_path
from alignda.cli.flags import add_method_args, method_from_args
from alignda.experiment import DEFAULT
from alignda.paths import CHECKPOINT_DIR
from alignda.training.loop import TrainConfig, last_log
from alignda.world.cases import Cases


def cmd_align(args: argparse.Namespace) -> None:
    """Diffusion-DPO of one delta per preference kind; export them as ``aligned``."""
    from alignda.alignment.dpo import DPOConfig, train_dpo
    from alignda.alignment.preferences import Preferences
    from alignda.alignment.provenance import dpo_config
    from alignda.alignment.soup import export_deltas
    from alignda.checkpoints import read_manifest
    from alignda.model.prior import load_prior

    kinds = comma_list(args.kinds, DELTAS, "kind", "--kinds")
    out = None if args.no_export else out_path(args)
    train_cfg = TrainConfig.snapshots(args.steps, args.batch, args.lr, args.val_every, args.seed)
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
        prior_sha256 = read_manifest(args.checkpoints)["prior"]["sha256"]
        path = export_deltas(
            deltas,
            "aligned",
            out,
            config=dpo_config(cfg, prefs.config, prior_sha256),
            data={"prefs": str(args.prefs), "pairs_from_backgrounds": int(prefs.z.shape[0])},
            figures=figures,
        )
        print(f"exported {path}")


def cmd_align_select(args: argparse.Namespace) -> None:
    """DPO sweep per kind with selection by sampled rewards on validation cases; export the
    better of (selected, shipped) per kind when ``--export``."""
    import json

    import torch

    from alignda.alignment.preferences import Preferences
    from alignda.alignment.provenance import choose, export_config, shipped_record
    from alignda.alignment.recipe import (
        Announced,
        DPOTrainer,
        Setting,
        save_selected,
        select,
        selected_deltas,
    )
    from alignda.alignment.reward_tune import TuneData, TuneSetting, TuneTrainer
    from alignda.alignment.selection import scenarios
    from alignda.alignment.soup import delta_set, export_deltas
    from alignda.bundle import load_bundle

    kinds = tuple(comma_list(args.kinds, DELTAS, "kind", "--kinds"))
    tune_kinds = tuple(comma_list(args.tune_kinds, DELTAS, "kind", "--tune-kinds"))
    out = out_path(args) if args.export else None
    torch.set_num_threads(args.threads)
    folder = Path(args.checkpoints)
    bundle = load_bundle(folder)
    trainers: list = []
    prefs = None
    for item in filter(None, args.settings.split(",")):
        if args.prefs is None:
            raise ValueError("DPO settings need --prefs (or pass --settings '' for none)")
        prefs = prefs or Preferences.load(args.prefs)
        st = Setting.from_spec(item, args.batch, args.val_every)
        trainers.append(DPOTrainer(st, prefs, kinds, args.n_val_prefs))
    tune_data = val_data = None
    schedules = tuple(int(n) for n in args.tune_schedules.split(","))
    for item in filter(None, args.tune.split(",")):
        if tune_data is None:
            tune_data = TuneData(Cases.open(args.tune_cases), bundle.codec, args.tune_limit)
            val_data = TuneData(Cases.open(args.val_cases), bundle.codec, 8)
        st, only = TuneSetting.from_spec(
            item,
            batch=args.batch_tune,
            snapshot_every=args.tune_every,
            t_min=args.tune_t_min,
            schedules=schedules,
            mode=args.tune_mode,
        )
        these = only or tune_kinds
        trainer = TuneTrainer(
            st, bundle.codec, tune_data, bundle.stats.std, these, val_data, bundle.threedvar
        )
        trainers.append(trainer)
    if not trainers:
        raise ValueError("nothing to train: give --settings (DPO) and/or --tune")
    val_cases = scenarios(Cases.open(args.val_cases), args.n_val, args.density)
    sampler = method_from_args(args, mode=args.mode)
    # the deltas now used in the judged mode: the hybrid's own, else the latent sampler's
    shipped_set = bundle.delta_set(sampler)
    soup = bundle.soup_for(sampler)
    shipped = soup.deltas if soup is not None else None
    if shipped is None:  # no or foreign deltas: nothing to compare with
        print(f"no shipped deltas to compare: {bundle.soup_problem or 'none in ' + str(folder)}")
    print(
        f"judging the unaligned prior{', the shipped deltas' * bool(shipped)} and every "
        f"snapshot on {len(val_cases)} validation cases ({sampler.mode}, {sampler.steps} steps, "
        f"{sampler.members} members)",
        flush=True,
    )
    selection = select(
        bundle.prior,
        bundle.codec,
        val_cases,
        [Announced(t) for t in trainers],
        bundle.stats.std,
        args.workdir,
        sampler,
        tuple(float(c) for c in args.delta_scales.split(",")),
        shipped,
        hybrid=bundle.hybrid,
        world=bundle.world,
    )
    save_selected(selection, Path(args.workdir) / "selected.safetensors")
    # what stays shipped keeps its record
    record = shipped_record(bundle.manifest, shipped, shipped_set)
    choice = choose(selection, selected_deltas(selection), shipped, record)
    (Path(args.workdir) / "chosen.json").write_text(json.dumps(choice.origin, indent=1))
    new = sorted(choice.improved) or "none"
    print(f"chosen per kind on validation: {choice.origin} (new: {new})")
    if not args.export:
        return
    if not choice.improved:
        print("no selected delta beats the shipped ones on validation: nothing exported")
        return
    config = export_config(
        choice,
        selection,
        trainers,
        record,
        validation={
            "cases": str(args.val_cases),
            "n": args.n_val,
            "density": args.density,
            "sampler": sampler.to_dict(),
        },
        preferences=None if prefs is None else prefs.config,
        reward_tune=None if tune_data is None else {"cases": str(args.tune_cases)},
        prior_sha256=bundle.manifest["prior"]["sha256"],
    )
    data = {
        "prefs": None if prefs is None else str(args.prefs),
        "pairs_from_backgrounds": None if prefs is None else int(prefs.z.shape[0]),
        "tune_states": None if tune_data is None else len(tune_data),
    }
    name = delta_set(sampler.latent)
    path = export_deltas(choice.deltas, name, out, config=config, data=data)
    print(f"exported {path}: {choice.origin}")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's commands to the parser's subcommands."""
    al = add_command(sub, "align", "Diffusion-DPO deltas per reward (+ multi) -> checkpoints")
    al.add_argument("--prefs", required=True, help="training preference file")
    al.add_argument("--val-prefs", dest="val_prefs", help="held-out preference file")
    al.add_argument(
        "--kinds",
        default="accuracy,forecast,physics,multi",
        help=f"comma list of the deltas to train, of: {', '.join(DELTAS)}",
    )
    al.add_argument(
        "--workdir", required=True, help="folder of the resumable training state per kind"
    )
    add_out(
        al,
        "checkpoint folder the deltas are exported into (as 'aligned')",
        default=str(CHECKPOINT_DIR),
    )
    al.add_argument("--checkpoints", default=str(CHECKPOINT_DIR), help="reference prior folder")
    al.add_argument("--steps", type=int, default=200, help="optimiser steps per kind")
    al.add_argument("--batch", type=int, default=8, help="preference pairs per step")
    al.add_argument("--lr", type=float, default=1e-5, help="peak learning rate")
    al.add_argument(
        "--beta", type=float, default=8000.0, help="DPO beta: strength of the tie to the prior"
    )
    al.add_argument(
        "--fraction",
        type=float,
        default=0.25,
        help="top vs bottom fraction of the candidates paired per reward (-P)",
    )
    al.add_argument(
        "--multi-fraction",
        dest="multi_fraction",
        type=float,
        default=0.5,
        help="the same for 'multi' (-M): top on every reward vs bottom on every reward",
    )
    al.add_argument("--seed", type=int, default=0, help="seed of the training run")
    al.add_argument(
        "--val-every",
        dest="val_every",
        type=int,
        default=50,
        help="validate and save the state every this many steps",
    )
    al.add_argument("--no-export", action="store_true", help="train only: write nothing to --out")
    al.add_argument("--quiet", action="store_true", help="no progress bars")
    al.set_defaults(func=cmd_align)

    se = add_command(
        sub, "align-select", "DPO sweep, selection by sampled rewards on validation cases"
    )
    se.add_argument("--prefs", help="training preference file (for --settings)")
    se.add_argument(
        "--val-cases",
        dest="val_cases",
        default="data/cpu2/val.nc",
        help="validation cases the deltas are judged on",
    )
    se.add_argument(
        "--n-val",
        dest="n_val",
        type=int,
        default=6,
        help="validation cases judged (evenly spaced, each with its own random network)",
    )
    se.add_argument(
        "--n-val-prefs",
        dest="n_val_prefs",
        type=int,
        default=6,
        help="backgrounds held out of --prefs for the implicit reward accuracy",
    )
    se.add_argument(
        "--settings",
        default="8000:3e-6:200",
        help="DPO beta:lr:steps[:groups],... (groups > 1: pairs within observation groups)",
    )
    se.add_argument(
        "--tune",
        default="",
        help="reward-gradient fine-tunes lr:steps:anchor[:kind+kind],... (beside DPO; '' for "
        "none; without kinds: --tune-kinds)",
    )
    se.add_argument(
        "--tune-kinds",
        dest="tune_kinds",
        default="accuracy,forecast,physics,multi",
        help=f"comma list of the deltas a --tune setting without kinds trains, of: "
        f"{', '.join(DELTAS)}",
    )
    se.add_argument(
        "--tune-cases", dest="tune_cases", default="data/cpu2/train.nc", help="fine-tune states"
    )
    se.add_argument(
        "--tune-limit",
        dest="tune_limit",
        type=int,
        default=None,
        help="use this many states (default: all)",
    )
    se.add_argument(
        "--tune-every",
        dest="tune_every",
        type=int,
        default=50,
        help="fine-tune steps between snapshots",
    )
    se.add_argument(
        "--tune-batch", dest="batch_tune", type=int, default=4, help="states per fine-tune step"
    )
    se.add_argument(
        "--tune-schedules",
        dest="tune_schedules",
        default="16,32,64",
        help="sampler step counts the rollouts draw from",
    )
    add_choice(
        se,
        "--tune-mode",
        dest="tune_mode",
        choices=ANALYSIS_MODES,
        what="mode",
        default="obsfree",
        help="rollouts of the fine-tune: obsfree, or guided by random 1 %% networks; or the "
        "hybrid's first guess through its variational solve",
    )
    se.add_argument(
        "--tune-t-min",
        dest="tune_t_min",
        type=float,
        default=0.3,
        help="lowest noise level t whose estimate is scored (the highest is 0.9)",
    )
    se.add_argument(
        "--delta-scales",
        dest="delta_scales",
        default="1",
        help="comma list of multipliers of each run's last snapshot, each judged too",
    )
    se.add_argument(
        "--kinds",
        default="accuracy,forecast,physics,multi",
        help=f"comma list of the deltas the DPO settings train, of: {', '.join(DELTAS)}",
    )
    se.add_argument("--batch", type=int, default=8, help="DPO preference pairs per step")
    se.add_argument(
        "--val-every",
        dest="val_every",
        type=int,
        default=100,
        help="DPO steps between snapshots",
    )
    add_choice(
        se,
        "--mode",
        choices=ANALYSIS_MODES,
        what="analysis mode",
        default=SELECTION_MODE,
        help="guidance of the validation analyses",
    )
    se.add_argument(
        "--density",
        type=float,
        default=DEFAULT.observing.density,
        help="validation observation density, a fraction of the grid points (0.01 = 1 %%)",
    )
    add_method_args(se, modes=False, members="ensemble members per validation analysis")
    se.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    se.add_argument(
        "--workdir",
        required=True,
        help="folder of the runs, snapshots, evaluations and selection (resumable)",
    )
    se.add_argument("--checkpoints", default=str(CHECKPOINT_DIR), help="prior + shipped deltas")
    add_out(
        se,
        "checkpoint folder the chosen deltas are exported into (with --export; as 'aligned', or "
        "'aligned_hybrid' when judged in the hybrid)",
        default=str(CHECKPOINT_DIR),
    )
    se.add_argument("--export", action="store_true", help="export what beats the shipped deltas")
    se.set_defaults(func=cmd_align_select)
