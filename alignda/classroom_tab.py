"""The page's Classroom tab: the single-observation experiment and cycled DA, live.

Built by :func:`classroom_tab` inside the page of :mod:`alignda.app`; its two functions are
also API endpoints (``/single_observation``, ``/cycle``). The experiments themselves live in
:mod:`alignda.studio.classroom`.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from alignda import studio as st
from alignda.alignment.soup import DELTAS
from alignda.analysis.score import Cancelled
from alignda.evaluation.cycling import CycleConfig, errors_dataset, fits_worse_summary
from alignda.events import client_left
from alignda.studio import classroom as cl
from alignda.world.variables import VARIABLE_NAMES

SINGLE_OBS_TEXT = """### The single-observation experiment
Click the map (or type a point) to place **one observation** on this case's 48 h background, and
compare how the methods spread it. **Look at:** the shape of 3D-Var's height increment and the
winds around it. **Conclude:** 3D-Var's increment *is* its static covariance B (one column,
scaled by innovation / (B + R)): round, the same anywhere at that latitude, with winds in
geostrophic balance around a height observation (clockwise around a rise in the north). The
default mode builds its covariance from the prior's members, conditioned on this background:
where does it spread the same information, and what does it change far from the observation
(its first guess, the prior's conditional mean, corrects the background everywhere)?"""

ENSEMBLE_TEXT = """### The ensemble
The default mode samples an ensemble of analyses from the prior. **Look at:** how members
differ from each other and from their mean; where the spread is large against where the mean's
error is; the rank histogram (where the truth falls among the sorted members). **Conclude:** the
mean is smoother than any member (averaging cancels what the members disagree on); a reliable
ensemble has spread/skill near 1 and a flat histogram; a U shape means the truth often lies
outside the members: under-dispersion, too little spread for the error (more members do not
cure it; inflation does); a dome means over-dispersion, more spread than error."""

CYCLING_TEXT = """### Cycled data assimilation
A truth run starts from the case; every 48 h it is observed (random network) and each method
analyses its own background, whose forecast becomes the next background. **Look at:** the
sawtooth: the error grows over each forecast (peaks) and each analysis cuts it (troughs); the
free run (no analysis) drifts away. **Conclude:** the errors settle where what the analyses
remove balances what the forecasts add; a method with better analyses also gets better
backgrounds. The plot grows after every analysis; Stop cancels the run."""


def single_observation(
    case: str, variable: str, lat: float, lon: float, innovation: float
) -> tuple[np.ndarray, str]:
    """The increments of 3D-Var and of the default mode for one observation.

    Args:
        case: analysis time of a shipped case or its index ('0').
        variable: observed variable: z, u, v or tracer.
        lat: latitude of the observation (-90..90); the nearest grid point is observed.
        lon: longitude (any range, wrapped).
        innovation: observation minus background (m for z, m/s for winds).

    Returns:
        the increment maps (z, u, v; one row per method) and a summary.
    """
    try:
        studio = st.default_studio()
        out = cl.single_obs_experiment(studio, case, variable, lat, lon, innovation)
    except (ValueError, KeyError) as err:
        raise gr.Error(str(err).strip("'\"")) from err
    peak = {name: float(np.abs(dx[out.ob.index]).max()) for name, dx in out.increments.items()}
    said = ", ".join(f"{name} {value:.3g}" for name, value in peak.items())
    text = (
        f"One {variable} observation at {studio.grid.lat[out.ob.row]:.1f} N, "
        f"{studio.grid.lon[out.ob.col]:.1f} E; largest {variable} increment: {said}."
    )
    return st.figure_array(out.figure()), text


def ensemble(case: str, members: int, density_pct: float) -> tuple[np.ndarray, np.ndarray, str]:
    """The default mode's ensemble: maps of members, mean, truth, error and spread, and the
    rank histogram.

    Args:
        case: analysis time of a shipped case or its index ('0').
        members: ensemble size, 2..16.
        density_pct: observed share of the grid in percent (random network).

    Returns:
        the maps, the rank histogram and a summary.
    """
    try:
        out = cl.ensemble_experiment(
            st.default_studio(), case, int(members), float(density_pct) / 100.0
        )
    except (ValueError, KeyError) as err:
        raise gr.Error(str(err).strip("'\"")) from err
    text = (
        f"{len(out.members)} members; spread/skill of z {out.spread_skill:.2f} (1 = reliable, "
        "< 1 under-dispersive)."
    )
    return st.figure_array(out.maps()), st.figure_array(out.rank_figure()), text


def click(evt: gr.SelectData) -> tuple[float, float]:
    """(lat, lon) of the point clicked on the map."""
    x, y = evt.index
    width, height = cl.CLICK_MAP_SIZE
    lat, lon = cl.pixel_to_lat_lon(float(x), float(y), width, height)
    return round(lat, 2), round(lon, 2)


def show_background(case: str) -> np.ndarray:
    """The clickable map of the case's background height."""
    try:
        studio = st.default_studio()
        sc = studio.scenario(st.Request(case=case))
    except (ValueError, KeyError) as err:
        raise gr.Error(str(err).strip("'\"")) from err
    return cl.click_map(sc.background, studio.grid.lat, studio.grid.lon)


def cycle(
    case: str,
    methods: list[str],
    cycles: int,
    density_pct: float,
    *weights: float,
) -> Iterator[tuple[Any, str, Any]]:
    """Cycle the chosen methods from the case's truth, the sawtooth redrawn after every
    analysis.

    Args:
        case: analysis time of a shipped case or its index ('0'): the truth starts there.
        methods: among '3D-Var', 'default mode (hybrid)', 'aligned prior (dps)'.
        cycles: number of 48 h cycles (1..20).
        density_pct: observed share of the grid in percent, each cycle a new random network.
        weights: reward weights of the aligned prior (accuracy, forecast, physics, multi).

    Yields:
        the sawtooth plot, a status line, and at the end the per-cycle errors (netCDF).
    """
    if not 1 <= int(cycles) <= 20:
        raise gr.Error(f"cycles must be 1..20, not {cycles}")
    if not 0 < float(density_pct) <= 100:
        raise gr.Error(f"density must be in (0, 100] %, not {density_pct}")
    studio = st.default_studio()
    config = CycleConfig(cycles=int(cycles), density=float(density_pct) / 100.0, world=studio.world)
    steps: queue.Queue = queue.Queue()
    stop, left = threading.Event(), client_left()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["ds"] = cl.cycling_experiment(
                studio,
                case,
                list(methods),
                config,
                dict(zip(DELTAS, weights, strict=True)),
                on_step=steps.put,
                stop=lambda: stop.is_set() or left(),
            )
        except Exception as err:  # noqa: BLE001 (reported to the page below)
            outcome["error"] = err
        finally:
            steps.put(None)

    # not a daemon: at exit the interpreter waits for it (at most one analysis once stopped)
    thread = threading.Thread(target=work, name="alignda-cycling", daemon=False)
    thread.start()
    done: list = []
    try:
        while (step := steps.get()) is not None:
            done.append(step)
            ds = errors_dataset(done, config)
            status = f"cycle {step.cycle + 1} of {config.cycles}: {step.method} analysed"
            status += f"; warning: {step.warning}" if step.fits_worse else ""
            yield st.figure_array(cl.sawtooth_figure(ds, config.cycles)), status, None
    finally:  # the page cancelled (Stop) or the client left: stop at the next analysis
        stop.set()  # (not joined here: closing the generator must not block the server)
    thread.join()
    if "error" in outcome:
        err = outcome["error"]
        if isinstance(err, Cancelled):
            raise gr.Error("the cycling was cancelled")
        raise gr.Error(str(err).strip("'\"")) from err
    ds = outcome["ds"]
    path = Path(tempfile.mkdtemp(prefix="alignda_cycle_")) / "cycle_errors.nc"
    ds.to_netcdf(path)
    last = ds.isel(cycle=slice(len(ds.cycle) // 2, None)).analysis_mse.mean("cycle")
    summary = "; ".join(
        f"{n} {float(v):.4f}" for n, v in zip(ds.experiment.values, last.values, strict=True)
    )
    worse = fits_worse_summary(ds)
    said = f". Fit the observations worse than the background: {worse}" if worse else ""
    yield (
        st.figure_array(cl.sawtooth_figure(ds, config.cycles)),
        f"done: mean analysis MSE over the last {len(ds.cycle) - len(ds.cycle) // 2} cycles: "
        f"{summary}{said}",
        str(path),
    )


def classroom_tab(labels: list[str], weight_inputs: list[Any]) -> None:
    """The tab's components and events (call inside ``gr.Tab``); ``weight_inputs`` are the
    Studio's reward-weight sliders (the aligned prior cycles with them)."""
    gr.Markdown(SINGLE_OBS_TEXT)
    with gr.Row():
        with gr.Column(scale=2):
            case = gr.Dropdown(
                labels,
                value=labels[0],
                label="case (background; its truth starts the cycling)",
                allow_custom_value=True,  # an index ('0') through the API
            )
            where = gr.Image(
                show_background(labels[0]),
                label="click to place the observation (the background height)",
                interactive=False,
                elem_id="classroom_map",
            )
        with gr.Column(scale=1):
            variable = gr.Dropdown(list(VARIABLE_NAMES), value="z", label="observed variable")
            lat = gr.Number(50.0, label="latitude (deg N)")
            lon = gr.Number(10.0, label="longitude (deg E)")
            innovation = gr.Number(40.0, label="innovation (obs - background; m or m/s)")
            run_one = gr.Button("Assimilate one observation", variant="primary")
    increments = gr.Image(
        label="increments: 3D-Var (top), default mode (bottom)", elem_id="single_obs_maps"
    )
    said = gr.Markdown(elem_id="single_obs_text")
    inputs = [case, variable, lat, lon, innovation]
    run_one.click(single_observation, inputs, [increments, said], api_name="single_observation")
    where.select(click, None, [lat, lon], api_visibility="private").then(
        single_observation, inputs, [increments, said], api_visibility="private"
    )
    case.change(show_background, case, where, api_visibility="private")

    gr.Markdown(ENSEMBLE_TEXT)
    with gr.Row():
        size = gr.Slider(2, 16, value=8, step=1, label="ensemble size", elem_id="ens_size")
        ens_density = gr.Slider(0.1, 20, value=1.0, step=0.1, label="density (%)")
        run_ens = gr.Button("Sample the ensemble", variant="primary")
    with gr.Row():
        ens_maps = gr.Image(label="members, mean, truth, error, spread", elem_id="ens_maps")
        ens_ranks = gr.Image(label="rank histogram", elem_id="ens_ranks")
    ens_text = gr.Markdown(elem_id="ens_text")
    run_ens.click(
        ensemble, [case, size, ens_density], [ens_maps, ens_ranks, ens_text], api_name="ensemble"
    )

    gr.Markdown(CYCLING_TEXT)
    with gr.Row():
        chosen = gr.CheckboxGroup(
            list(cl.CYCLING_METHODS),
            value=[st.THREEDVAR, cl.DEFAULT_MODE],
            label="methods (a free run is always shown)",
            elem_id="cycle_methods",
        )
        cycles = gr.Slider(1, 20, value=10, step=1, label="cycles of 48 h", elem_id="cycles")
        density = gr.Slider(0.1, 20, value=1.0, step=0.1, label="density (%)")
    with gr.Row():
        start = gr.Button("Run cycles", variant="primary")
        stop = gr.Button("Stop")
    sawtooth = gr.Image(
        label="sawtooth: background (peaks) and analysis (troughs) error", elem_id="sawtooth"
    )
    status = gr.Markdown(elem_id="cycle_status")
    errors = gr.File(label="per-cycle errors (netCDF)")
    running = start.click(
        cycle,
        [case, chosen, cycles, density, *weight_inputs],
        [sawtooth, status, errors],
        api_name="cycle",
    )
    stop.click(None, None, None, cancels=[running], api_visibility="private")
