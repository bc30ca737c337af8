"""The Align-DA Studio page (Gradio Blocks): choose observations and reward weights, run the
score-based analysis next to its baselines, and map everything.

Start it with ``alignda serve`` (an installed package) or ``python app.py`` (a clone, and
Hugging Face Spaces). Request logic lives in :mod:`alignda.studio`; this module only wires the
page. Checkpoints come from ``$ALIGNDA_CHECKPOINTS``, the Hub repo ``$ALIGNDA_HUB_REPO`` or the
shipped folder.
"""

from __future__ import annotations

import inspect
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402
import gradio.utils as gradio_utils  # noqa: E402

from alignda import studio as st  # noqa: E402
from alignda.alignment.soup import DELTAS  # noqa: E402
from alignda.analysis.score import Cancelled  # noqa: E402
from alignda.classroom_tab import classroom_tab  # noqa: E402
from alignda.events import client_left  # noqa: E402
from alignda.learn_tab import learn_tab  # noqa: E402
from alignda.runtime import (  # noqa: E402
    default_device,
    gpu_task,
    limit_threads,
)
from alignda.studio.budget import GPU_MIN_S  # noqa: E402
from alignda.studio_tab import (  # noqa: E402
    CUSTOM,
    apply_preset,
    cost_text,
    studio_tab,
    toggle_pattern,
    weights_text,
)

limit_threads()

MAX_FILE_SIZE = "1mb"
#: The queue group of the analysis events (the button, the API and the lessons share it).
ANALYSIS_QUEUE = "analysis"
#: Requests waiting beyond this are refused with "queue full" (memory stays bounded).
QUEUE_MAX_SIZE = 16
#: A browser session's last result and trade-off history are dropped after this (seconds).
SESSION_TTL = 3600
OUTPUT_ROOT = Path(tempfile.gettempdir()) / "alignda-studio"
KEEP_OUTPUT_DIRS = 32
#: System fonts only: the default theme would fetch Google Fonts (nothing is downloaded).
THEME = gr.themes.Default(
    font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"]
)


def _error(err: Exception) -> gr.Error:
    return gr.Error(str(err).strip("'\""), title="Cannot run this request")


def _output_dir() -> Path:
    """A fresh folder for one request's files; the oldest beyond KEEP_OUTPUT_DIRS go."""
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    old = sorted(OUTPUT_ROOT.iterdir(), key=lambda p: p.stat().st_mtime)
    for path in old[: max(0, len(old) - KEEP_OUTPUT_DIRS + 1)]:
        shutil.rmtree(path, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=OUTPUT_ROOT))


def _render(result: st.Result, variable: str, analysis: str) -> tuple[str, list[str]]:
    """Maps PNG and the download files (analysis netCDF, maps PNG, settings JSON)."""
    out = _output_dir()
    maps = st.render_maps(result, variable, analysis, out / "maps.png")
    nc = st.analysis_netcdf(result, out / "analysis.nc")
    settings = st.settings_json(result, out / "settings.json")
    return str(maps), [str(nc), str(maps), str(settings)]


def assimilate(
    case: str,
    pattern: str,
    density_pct: float,
    noise_scale: float,
    mode: str,
    zeta: float,
    steps: int,
    members: int,
    seed: int,
    w_accuracy: float,
    w_forecast: float,
    w_physics: float,
    w_multi: float,
    forecast: bool,
    points_file: str | None = None,
    variable: str = "z",
    analysis: str = st.ALIGNED_ROW,
    history: list[dict] | None = None,
    progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
) -> tuple[Any, ...]:
    """Observe the truth of a case, run 3D-Var and the unaligned and reward-aligned priors.

    Args:
        case: analysis time of a shipped case, e.g. '2000-07-01T00', or its index ('0').
        pattern: observation network: random, stations, swaths, tracks or csv (points_file).
        density_pct: observed share of the grid in percent, (0, 100]; ignored for csv.
        noise_scale: observation error std as a multiple of z 10 m, u/v 1 m/s, tracer 0.02.
        mode: guidance of the score-based prior: obsfree, repaint, dps, mmps or hybrid.
        zeta: guidance strength (dps), 0 to 20.
        steps: sampler steps, 4 to 256 (each with one Langevin correction).
        members: ensemble size, 1 to 16. A request whose cost on this machine when idle
            (steps x members x the mode's cost, two analyses with reward weights) exceeds the
            compute budget (ALIGNDA_BUDGET_S, default 60 s) is refused with what to lower,
            unless it is at or below the default steps x members: those always run (on
            a busy machine more slowly, with a note).
        seed: seed of the observation network, its noise and the sampler.
        w_accuracy: reward weight of the accuracy-aligned delta (>= 0).
        w_forecast: reward weight of the forecast-aligned delta (>= 0).
        w_physics: reward weight of the physics-aligned delta (>= 0).
        w_multi: reward weight of the paper's multi-reward -M delta (>= 0; all 0 = unaligned).
        forecast: also compute the 48 h forecast reward (a few seconds more).
        points_file: CSV with lat, lon[, variable, value] columns, for pattern csv (max 1 MB).
        variable: variable mapped: z, u, v, tracer, wind speed, or z tendency (the height
            tendency over the 6th hour of forecasts from the truth, the background, 3D-Var
            and the analysis mapped, on one colour scale: gravity waves).
        analysis: analysis mapped: aligned prior, unaligned prior or 3D-Var.

    Returns:
        maps PNG, score table (MSE, MAE, RMSE per variable, ACC, ensemble spread/skill and
        CRPS, obs misfit, three rewards),
        trade-off plot, downloads (analysis netCDF, maps PNG, settings JSON), notes.
    """
    try:
        csv = None
        if pattern == st.CSV_PATTERN:
            csv = st.read_upload(points_file, root=gradio_utils.get_upload_folder())
        request = _request(**_arguments(locals()), points_csv=csv)
        studio = st.default_studio()
        studio.use_device(default_device())  # ZeroGPU: the GPU lent to this call
        result = studio.run(request, lambda f, d: progress(f, desc=d), cancelled=client_left())
        progress(0.95, desc="maps")
        maps, files = _render(result, variable, analysis)
    except (ValueError, KeyError, IndexError, FileNotFoundError) as err:
        raise _error(err) from err
    except Cancelled as err:
        raise gr.Error("the request was cancelled: its client left", title="Cancelled") from err
    plot = st.figure_array(st.tradeoff_figure(result, history))
    history = st.extend_history(history, result)
    table = st.display_table(result.table)
    return maps, table, plot, files, st.summary(result), result, history


_REQUEST_FIELDS = ("case", "pattern", "density_pct", "noise_scale", "mode", "zeta", "steps")
_REQUEST_FIELDS += ("members", "seed", "forecast")
_WEIGHTS = ("w_accuracy", "w_forecast", "w_physics", "w_multi")


def _arguments(given: dict[str, Any]) -> dict[str, Any]:
    """The request's arguments among a page function's (its locals or bound arguments)."""
    return {k: given[k] for k in (*_REQUEST_FIELDS, *_WEIGHTS)}


def _request(points_csv: str | None = None, **kw: Any) -> st.Request:
    """The Request of the page's controls (``kw``: :data:`_REQUEST_FIELDS` and the weights)."""
    weights = tuple(kw.pop(k) for k in _WEIGHTS)
    density = kw.pop("density_pct")
    if isinstance(density, int | float) and not isinstance(density, bool):
        density = density / 100.0  # the page's slider is in percent
    return st.Request(**kw, density=density, weights=weights, points_csv=points_csv)


def assimilate_gpu_seconds(*args: Any, **kwargs: Any) -> int:
    """GPU seconds to reserve on ZeroGPU for an :func:`assimilate` call, from its estimate
    (a CSV network is costed as a random one: the network barely changes the cost)."""
    bound = inspect.signature(_assimilate_plain).bind(*args, **kwargs).arguments
    given = {**_arguments(bound), "pattern": "random"}
    try:
        request = _request(**given)
    except (ValueError, KeyError):
        return GPU_MIN_S  # refused at once
    return st.default_studio().gpu_seconds(request)


# On Hugging Face ZeroGPU hardware a GPU is attached while a request runs (no-op elsewhere).
_assimilate_plain = assimilate
assimilate = gpu_task(assimilate, assimilate_gpu_seconds)


def front(
    result: st.Result | None,
    progress: gr.Progress = gr.Progress(),  # noqa: B008
) -> Any:
    """The trade-off front of the last run's scenario: the prior with each weight preset
    (unaligned, accuracy, forecast, physics, balanced, paper -M), two sampler seeds each
    (error bars), beside 3D-Var and the last run's weights (a red star).

    Args:
        result: the last run (the page keeps it; run an assimilation first).

    Returns:
        the front as an image (analysis MSE against the Geo-Score).
    """
    if result is None:
        raise gr.Error("run an assimilation first: the front is drawn for its scenario")
    try:
        studio = st.default_studio()
        studio.use_device(default_device())  # ZeroGPU: the GPU lent to this call
        points = studio.front(
            result.request, stage=lambda f, d: progress(f, desc=d), cancelled=client_left()
        )
    except (ValueError, KeyError) as err:
        raise _error(err) from err
    except Cancelled as err:
        raise gr.Error("the front was cancelled: its client left", title="Cancelled") from err
    return st.figure_array(st.front_figure(points, result))


def front_gpu_seconds(result: st.Result | None, *_: Any, **__: Any) -> int:
    """GPU seconds to reserve on ZeroGPU for a :func:`front` call, from its estimate."""
    if result is None:
        return GPU_MIN_S
    return st.default_studio().gpu_seconds(result.request, front=True)


front = gpu_task(front, front_gpu_seconds)


def rerender(result: st.Result | None, variable: str, analysis: str) -> tuple[Any, Any]:
    """Maps of another variable or analysis of the last run (no new analysis)."""
    if result is None:
        return gr.skip(), gr.skip()
    try:
        return _render(result, variable, analysis)
    except ValueError as err:
        raise _error(err) from err


def _wire(c: dict[str, Any], tabs: gr.Tabs, examples: gr.Examples) -> None:
    """Events: the run (API ``/assimilate``), lessons, map re-rendering, presets, CSV upload."""
    names = ["case", "pattern", "density", "noise", "mode", "zeta", "steps", "members", "seed"]
    names += [*(f"w_{k}" for k in DELTAS), "forecast", "points", "variable", "analysis"]
    inputs = [c[n] for n in names] + [c["history"]]
    outputs = [c[n] for n in ("maps", "table", "plot", "files", "notes", "result", "history")]
    # one analysis at a time, the button, the API and the lessons in one queue that shows
    # each waiting client its position and estimated wait
    shown = {
        "show_progress": "full",
        "show_progress_on": c["maps"],
        "concurrency_limit": 1,
        "concurrency_id": ANALYSIS_QUEUE,
    }
    c["run"].click(assimilate, inputs, outputs, api_name="assimilate", **shown)
    examples.load_input_event.then(
        lambda: gr.Tabs(selected="studio"), None, tabs, api_visibility="private"
    ).then(assimilate, inputs, outputs, api_visibility="private", **shown)
    cost_inputs = [c[n] for n in ("mode", "steps", "members")]
    cost_inputs += [*(c[f"w_{k}"] for k in DELTAS), c["forecast"]]
    for control in cost_inputs:
        control.change(cost_text, cost_inputs, c["cost"], api_visibility="private", queue=False)
    c["front"].click(front, c["result"], c["plot"], api_name="front", **shown)
    view = [c["result"], c["variable"], c["analysis"]]
    for control in (c["variable"], c["analysis"]):
        control.input(rerender, view, [c["maps"], c["files"]], api_visibility="private")
    weights = [c[f"w_{k}"] for k in DELTAS]
    c["preset"].input(apply_preset, c["preset"], weights, api_visibility="private")
    for slider in weights:
        slider.input(lambda: CUSTOM, None, c["preset"], api_visibility="private")
    for control in (c["mode"], c["steps"]):
        control.change(
            weights_text,
            [c["mode"], c["steps"]],
            c["weights_note"],
            api_visibility="private",
            queue=False,
        )
    c["pattern"].change(
        toggle_pattern, c["pattern"], [c["points"], c["density"]], api_visibility="private"
    )


def build_demo() -> gr.Blocks:
    """The Blocks page: a Studio tab (controls, maps, scores, downloads), a Learn tab and a
    Classroom tab (the single observation, cycled DA)."""
    studio = st.default_studio()
    labels = studio.labels
    with gr.Blocks(title="Align-DA Studio", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(
            "# Align-DA Studio\nScore-based data assimilation aligned with rewards, on a "
            "shallow-water twin world: choose observations and reward weights, run the "
            "analysis, compare it with the background, 3D-Var and the unaligned prior."
        )
        if studio.real_fields:
            gr.Markdown(
                f"**Real atmosphere ({studio.cases_path.name}).** {studio.real_fields_note()}"
            )
        with gr.Tabs() as tabs:
            with gr.Tab("Studio", id="studio"):
                c = studio_tab(studio, labels)
            with gr.Tab("Learn", id="learn"):
                examples = learn_tab(c, labels, studio)
            with gr.Tab("Classroom", id="classroom"):
                classroom_tab(labels, [c[f"w_{k}"] for k in DELTAS])
        c["result"] = gr.State(None, time_to_live=SESSION_TTL)
        c["history"] = gr.State([], time_to_live=SESSION_TTL)
        _wire(c, tabs, examples)
    return demo


def launch(demo: gr.Blocks, **kwargs: Any) -> tuple[Any, str, str]:
    """Queue (one analysis at a time, at most QUEUE_MAX_SIZE waiting) and serve the page."""
    demo.queue(default_concurrency_limit=1, max_size=QUEUE_MAX_SIZE)
    kwargs.setdefault("show_error", True)  # gradio's own input errors reach API clients
    return demo.launch(max_file_size=MAX_FILE_SIZE, theme=THEME, **kwargs)


def serve(**kwargs: Any) -> None:
    """Build the page on the shipped checkpoints and serve it until interrupted."""
    launch(build_demo(), **kwargs)
