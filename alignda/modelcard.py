"""The Hub model card (README.md) of a checkpoint folder, built from its ``manifest.json``.

:func:`build_model_card` returns a :class:`huggingface_hub.ModelCard` whose metadata
(:class:`huggingface_hub.ModelCardData`: licence, library, tags, model-index with the
evaluation figures) and Markdown body (what the model is, training data and recipe, figures,
files with sha256, limits, how to load it) all come from the manifest;
:func:`write_model_card` saves it as ``README.md`` beside the weights, ready for upload.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from alignda.checkpoints import HUB_ENV, MANIFEST_NAME, read_manifest

CARD_NAME = "README.md"
#: Benchmark tables a checkpoint folder may carry (written by the benchmarks' ``--json``).
SKILL_NAME, ALIGNMENT_NAME = "skill.json", "alignment.json"
#: Installs the package (from a clone or its wheel); the snippets below then need no clone.
PYPI_INSTALL = "pip install ./alignda   # a clone of the project, or its wheel (alignda-*.whl)"
LICENSE = "mit"
LIBRARY_NAME = "alignda"
TAGS = [
    "alignda",
    "data-assimilation",
    "score-based",
    "diffusion",
    "latent-diffusion",
    "dpo",
    "weather",
    "shallow-water",
    "twin-experiment",
    "safetensors",
]
PAPER = "https://arxiv.org/abs/2505.22008"
#: The training data's name in the card's metadata: generated, not downloaded (see the card).
DATASET = "alignda-shallow-water-twin-world"
PROJECT = "Align-DA Studio"

#: What each manifest entry is, in one line (unknown entries are listed as they are).
ROLES: dict[str, str] = {
    "vae": "variational autoencoder of the balanced controls (64 x 128 grid <-> latent grid)",
    "prior": "diffusion transformer (DiT) score prior of the latent increment, conditioned on "
    "the background",
    "aligned": "deltas of the prior, one per reward (accuracy, forecast, physics, multi), each "
    "from Diffusion-DPO or the reward-gradient fine-tune (the manifest names its origin), "
    "mixed as a reward soup",
    "aligned_hybrid": "the same four deltas tuned through the default mode's own pipeline (the "
    "hybrid's first guess and variational solve), mixed when the hybrid runs",
    "threedvar_b": "static balanced spectral background-error covariance B of the 3D-Var baseline",
    "world_stats": "per-variable statistics of the twin world (normalisation)",
}
#: Figures reported as Hub eval results (model-index): (entry, path in figures, metric type).
EVAL_FIGURES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("vae", ("recon_rmse_z",), "rmse"),
    ("vae", ("recon_rmse_u",), "rmse"),
    ("vae", ("recon_rmse_v",), "rmse"),
    ("vae", ("recon_rmse_tracer",), "rmse"),
    ("vae", ("recon_geo_score_pct",), "geo-score"),
    ("prior", ("val_loss",), "loss"),
    ("aligned", ("accuracy", "val_reward_accuracy"), "accuracy"),
    ("aligned", ("forecast", "val_reward_accuracy"), "accuracy"),
    ("aligned", ("physics", "val_reward_accuracy"), "accuracy"),
    ("aligned", ("multi", "val_reward_accuracy"), "accuracy"),
)


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {'a.b.c': value}; lists are kept as JSON."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k in sorted(d):
        out.update(_flatten(d[k], f"{prefix}.{k}" if prefix else str(k)))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return json.dumps(value)
    return str(value).replace("|", "\\|")


def _table(rows: dict[str, Any], header: tuple[str, str]) -> str:
    if not rows:
        return "_none recorded_\n"
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| `{k}` | {_fmt(v)} |" for k, v in rows.items()]
    return "\n".join(lines) + "\n"


def _get(d: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def _dataset_name(manifest: dict) -> str:
    gen = next(
        (e["data"]["generate"] for e in manifest.values() if "generate" in e.get("data", {})), None
    )
    if not gen:
        return "alignda shallow-water twin world"
    return (
        f"alignda shallow-water twin world (seed {gen.get('seed')}, "
        f"{gen.get('n_trajectories')} trajectories x {gen.get('record_days')} days)"
    )


def _eval_results(manifest: dict) -> list[EvalResult]:
    results = []
    dataset = _dataset_name(manifest)
    for entry, path, metric in EVAL_FIGURES:
        value = _get(manifest.get(entry, {}).get("figures", {}), path)
        if not isinstance(value, (int, float)):
            continue
        results.append(
            EvalResult(
                task_type="data-assimilation",
                task_name="score-based data assimilation (twin experiment)",
                dataset_type="alignda-twin-world",
                dataset_name=dataset,
                dataset_split="validation",
                metric_type=metric,
                metric_name=f"{entry} {'.'.join(path)}",
                metric_value=float(value),
            )
        )
    return results


def write_benchmark(
    path: str | Path, script: str, cases: str, settings: str, **tables: Any
) -> Path:
    """Write a benchmark's tables for the card (``skill.json``, ``alignment.json``) with the
    command that made them (this process's arguments), the date, the cases and settings."""
    record = {
        "command": f"python {script} " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "cases": cases,
        "settings": settings,
        **tables,
    }
    path = Path(path)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def read_benchmark(folder: Path, name: str) -> dict | None:
    """A benchmark table of a checkpoint folder (None when it has none)."""
    path = folder / name
    return json.loads(path.read_text()) if path.is_file() else None


def _skill_section(skill: dict | None) -> list[str]:
    """Analysis skill against 3D-Var (benchmarks/science_bench.py --json)."""
    if not skill:
        return ["No analysis-skill table in this folder (`benchmarks/science_bench.py --json`).\n"]
    rows = [
        "| network | method | MSE (normalised) | x 3D-Var [90 % CI] | Geo-Score % | "
        "spread/skill | O-A (O-B) | diverged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in skill["rows"]:
        ratio, lo, hi = r["x3dvar"]
        ss = "-" if r["spread_skill"] is None else f"{r['spread_skill']:.2f}"
        rows.append(
            f"| {r['network']} | {r['method']} | {r['mse']:.4f} | {ratio:.2f} [{lo:.2f}, {hi:.2f}] "
            f"| {r['geo_score_pct']:.1f} | {ss} | {r['o_minus_a']:.2f} "
            f"({r['o_minus_b']:.2f}) | {r['diverged']} |"
        )
    return [
        f"{skill['cases']}; {skill['settings']}; analysis = ensemble mean; ratio to 3D-Var with a "
        f"paired bootstrap 90 % interval over the cases ({skill['date']}: `{skill['command']}`).\n",
        *rows,
        "",
    ]


def _alignment_section(alignment: dict | None) -> list[str]:
    """Each weight preset's effect against the unaligned prior (alignment_bench.py --json)."""
    if not alignment:
        return ["No alignment table in this folder (`benchmarks/alignment_bench.py --json`).\n"]
    parts = [
        f"{alignment['cases']}; {alignment['settings']}; paired difference against the unaligned "
        "prior with a bootstrap 90 % interval (MSEs in relative %, Geo-Score in points; "
        f"'neutral' when the interval holds 0) ({alignment['date']}: `{alignment['command']}`).\n"
    ]
    for mode, rows in alignment["tables"].items():
        parts += [f"**{mode}**\n", "| preset | metric | change [90 % CI] | verdict |"]
        parts.append("|---|---|---|---|")
        for r in rows:
            mean, lo, hi = r["change"]
            parts.append(
                f"| {r['variant']} | {r['metric']} | {mean:+.2f} [{lo:+.2f}, {hi:+.2f}] | "
                f"{r['verdict']} |"
            )
        parts.append("")
    return parts


def _body(manifest: dict, repo_id: str | None, folder: Path) -> str:
    repo = repo_id or "<user>/<repo>"
    names = sorted(manifest)
    parts = [
        f"# {PROJECT} checkpoints: latent score-based data assimilation on a twin world\n",
        "Checkpoints of Align-DA Studio (Python package `alignda`): "
        "score-based atmospheric data assimilation aligned with reward signals, after "
        f"*Align-DA* (Sun, Fan et al., 2025, [arXiv 2505.22008]({PAPER})), trained on a "
        "shallow-water **twin world** that ships with the project. An analysis is sampled from "
        "a latent diffusion prior of the increment (analysis - background), guided by the "
        "observations (DPS / MMPS / RePaint) and optionally steered by reward-aligned deltas.\n",
        "## What is in this repo\n",
        "| name | file | what it is | bytes | sha256 |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        e = manifest[name]
        parts.append(
            f"| `{name}` | `{e.get('file', '?')}` | {ROLES.get(name, name)} | "
            f"{e.get('bytes', '?')} | `{e.get('sha256', '?')}` |"
        )
    parts += [
        "",
        f"`{MANIFEST_NAME}` records each file's sha256, configuration, training data, git commit "
        "and figures; the loader verifies every sha256 before it reads a file.\n",
        "## Training data\n",
        "Generated by the project itself (`python -m alignda rebuild`): truth trajectories of a "
        "forced-dissipative global shallow-water model (T42, 64 x 128 Gaussian grid, mean depth "
        "5500 m like a 500 hPa surface) with a passive tracer, and 48 h forecasts of an "
        "*imperfect* model as backgrounds. Variables: `z` (m), `u`, `v` (m/s), `tracer` (1). "
        "No real observations or reanalysis were used. To regenerate it: `python -m alignda "
        "generate --out data/world --seed 0` (seed, trajectories and days as in the tables "
        "below), or everything from data to checkpoints: `python -m alignda rebuild`.\n",
    ]
    seen: set[str] = set()
    for name in names:
        data = manifest[name].get("data", {})
        key = json.dumps(data, sort_keys=True)
        if not data or key in seen:
            continue
        seen.add(key)
        same = [n for n in names if json.dumps(manifest[n].get("data", {}), sort_keys=True) == key]
        parts += [
            f"### Data of {', '.join(f'`{n}`' for n in same)}\n",
            _table(_flatten(data), ("field", "value")),
        ]
    parts.append("## Training recipe\n")
    for name in names:
        e = manifest[name]
        config = dict(e.get("config", {}))
        provenance = config.pop("provenance", None)
        parts.append(
            f"### `{name}` (commit `{str(e.get('commit', '?'))[:12]}`, {e.get('created', '?')})\n"
        )
        if provenance:
            parts += [f"- provenance: {p}" for p in provenance] + [""]
        parts.append(_table(_flatten(config), ("setting", "value")))
    parts.append("## Evaluation\n")
    parts.append(
        "Figures recorded by the training runs (validation split of the generated data; losses "
        "and reconstruction errors of the VAE, denoising loss of the prior, DPO reward accuracy "
        "of each aligned delta). Full tables: `python -m alignda evaluate`.\n"
    )
    for name in names:
        figures = manifest[name].get("figures", {})
        if figures:
            parts += [f"### `{name}`\n", _table(_flatten(figures), ("figure", "value"))]
    parts += ["## Analysis skill\n", *_skill_section(read_benchmark(folder, SKILL_NAME))]
    parts += ["## Alignment\n", *_alignment_section(read_benchmark(folder, ALIGNMENT_NAME))]
    parts += [
        "## Intended uses\n",
        "- Teaching data assimilation: observation networks, 3D-Var's static covariance against a "
        "learned, background-conditioned prior, ensembles and their spread, reward trade-offs.",
        "- Research on score-based data assimilation and its alignment with rewards (accuracy, "
        "forecast skill, physical balance) in a controlled twin experiment whose truth is known.",
        "- A small, offline, CPU-friendly reference that runs in a browser (the Studio app).\n",
        "## Limits\n",
        "- Trained on a **twin world**, not the real atmosphere: one shallow-water layer, T42, "
        "no moisture physics; the tracer is passive.",
        "- Real fields (e.g. ERA5 regridded with `python -m alignda cases-from-reanalysis`) are "
        "**out of the prior's training distribution**: its analyses of them are not to be "
        "trusted; the 3D-Var baseline applies to any field.",
        "- Checkpoints trained under a time budget: the recipe's steps may have been cut "
        "(see provenance above); the figures are those of these files.",
        "- For teaching and research on data-assimilation methods, not for forecasting.\n",
        "## Licence\n",
        "MIT (code and weights).\n",
        "## How to load\n",
        "```bash",
        PYPI_INSTALL,
        "# CPU-only machines: first pip install torch --index-url https://download.pytorch.org/whl/cpu",
        f"{HUB_ENV}={repo} alignda serve   # the Studio on these checkpoints",
        f"HF_HUB_OFFLINE=1 {HUB_ENV}={repo} alignda serve   # from the local Hub cache",
        "```\n",
        "```python",
        "from alignda.checkpoints import checkpoint_dir, resolve",
        "",
        f'folder = checkpoint_dir("{repo}")   # huggingface_hub snapshot (cached)',
        'prior_file = resolve("prior", folder)  # sha256 verified against the manifest',
        "```\n",
        "## Reference\n",
        "*Align-DA: Align Score-based Atmospheric Data Assimilation with Multiple Preferences* "
        f"(Sun, Fan et al., 2025, [arXiv 2505.22008]({PAPER})).\n",
    ]
    return "\n".join(parts)


def build_model_card(folder: str | Path, repo_id: str | None = None) -> ModelCard:
    """The model card of a checkpoint folder (its ``manifest.json``); ``repo_id`` for the
    loading instructions (a placeholder otherwise)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if not manifest:
        raise FileNotFoundError(f"{folder} has no {MANIFEST_NAME}: no model card without one")
    evals = _eval_results(manifest)
    data = ModelCardData(
        license=LICENSE,
        library_name=LIBRARY_NAME,
        tags=list(TAGS),
        datasets=[DATASET],
        model_name=f"{PROJECT} ({repo_id})" if repo_id else PROJECT,
        eval_results=evals or None,
    )
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{_body(manifest, repo_id, folder)}")


def write_model_card(
    folder: str | Path, repo_id: str | None = None, out: str | Path | None = None
) -> Path:
    """Write the model card of ``folder`` as ``README.md`` into ``out`` (default: ``folder``)."""
    path = Path(out if out is not None else folder) / CARD_NAME
    build_model_card(folder, repo_id).save(path)
    return path
