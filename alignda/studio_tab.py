"""The page's Studio tab: its controls (observations, sampler, reward weights), its output
panel, and the small handlers that only touch them (weight presets, the cost estimate, the
CSV upload). Every control starts at :data:`alignda.experiment.DEFAULT`; :mod:`alignda.app`
wires the events."""

from __future__ import annotations

from typing import Any

import gradio as gr

from alignda import studio as st
from alignda.alignment.soup import DELTAS, PRESETS
from alignda.analysis.score import ANALYSIS_MODES, SamplerSettings
from alignda.experiment import DEFAULT, DEFAULT_PRESET

CUSTOM = "custom"
PATTERN_CHOICES = [(p, p) for p in st.OBS_PATTERNS[:-1]] + [("CSV points (upload)", "csv")]
WEIGHT_LABELS = {
    "accuracy": "accuracy",
    "forecast": "forecast (48 h skill)",
    "physics": "physics (balance)",
    "multi": "paper -M (all three)",
}


def apply_preset(name: str) -> list[Any]:
    """Slider values of a weight preset (``custom`` leaves them alone)."""
    if name not in PRESETS:
        return [gr.skip()] * len(DELTAS)
    return list(st.preset_weights(name))


def cost_text(mode: str, steps: float, members: float, *weights_and_forecast: Any) -> str:
    """The estimated seconds of the current settings against the budget (for the page)."""
    *weights, forecast = weights_and_forecast
    studio = st.default_studio()
    try:
        req = st.Request(
            mode=mode, steps=steps, members=members, weights=tuple(weights), forecast=forecast
        )
        cost = studio.check_budget(req)
    except st.OverBudget as err:
        return f"**Over the compute budget:** {err}."
    except ValueError:
        return ""
    text = f"Estimated cost {cost:.0f} s of the {studio.budget.seconds:g} s budget."
    expected = studio.budget.expected(cost)
    if expected > 1.2 * cost:
        text += f" The machine is busy: expect about {expected:.0f} s."
    return text


def toggle_pattern(pattern: str) -> tuple[Any, Any]:
    """The CSV upload shows for the csv pattern, which ignores the density."""
    csv = pattern == st.CSV_PATTERN
    return gr.update(visible=csv), gr.update(interactive=not csv)


def observation_controls(labels: list[str]) -> dict[str, Any]:
    """The case and how it is observed (pattern, CSV upload, density in %, noise)."""
    lo, o = st.LIMITS, DEFAULT.observing
    return {
        "case": gr.Dropdown(
            labels,
            value=labels[0],
            label="case (analysis time)",
            allow_custom_value=True,
            elem_id="case",
        ),
        "pattern": gr.Dropdown(
            PATTERN_CHOICES, value=o.pattern, label="observation pattern", elem_id="pattern"
        ),
        "points": gr.File(
            label="CSV points: lat, lon[, variable, value] (max 1 MB)",
            file_types=[".csv", ".txt"],
            type="filepath",
            visible=False,
            elem_id="points",
        ),
        "density": gr.Slider(
            0.1, 100, value=100 * o.density, step=0.1, label="density (% of grid points)"
        ),
        "noise": gr.Slider(
            *lo["noise_scale"],
            value=o.noise_scale,
            step=0.1,
            label="obs noise std (x z 10 m, u/v 1 m/s, tracer 0.02)",
        ),
    }


def sampler_controls(studio: st.Studio) -> dict[str, Any]:
    """Mode, zeta, steps and members (sliders bounded by the budget), seed, cost estimate."""
    lo, d = st.LIMITS, st.Request()  # the request's defaults are the page's

    def slider(name: str, label: str, **kw: Any) -> gr.Slider:
        top = studio.budget.slider_max(name)
        value = getattr(d, name)
        return gr.Slider(lo[name][0], top, value=value, step=1, label=label, elem_id=name, **kw)

    budget = (
        f"cost ~ steps x members; above the {studio.budget.seconds:g} s budget: refused "
        f"(at or below {d.steps} steps x {d.members} members: always run)"
    )
    with gr.Accordion("sampler", open=True):
        return {
            "mode": gr.Radio(list(ANALYSIS_MODES), value=d.mode, label="guidance"),
            "zeta": gr.Slider(*lo["zeta"], value=d.zeta, step=0.1, label="guidance strength zeta"),
            "steps": slider("steps", "steps", info=budget),
            "members": slider("members", "ensemble members"),
            "seed": gr.Number(d.seed, precision=0, minimum=0, label="seed"),
            "cost": gr.Markdown(
                cost_text(d.mode, d.steps, d.members, *d.weights, d.forecast),
                elem_id="cost",
            ),
        }


def weights_text(mode: str, steps: float) -> str:
    """What the weights do at the page's mode and steps (shown under the sliders)."""
    try:
        settings = SamplerSettings(mode=mode, steps=int(steps))
    except (TypeError, ValueError):
        return ""
    return st.default_studio().weights_note(settings)


def weight_controls(studio: st.Studio) -> dict[str, Any]:
    """The preset, one slider per delta, what the weights do in the current mode, the
    forecast reward."""
    with gr.Accordion("reward weights", open=True):
        gr.Markdown(
            f"{studio.aligned_note()} Only the ratios count: weights are normalised to sum 1."
        )
        preset = gr.Dropdown([*PRESETS, CUSTOM], value=DEFAULT_PRESET, label="preset")
        weights = {
            f"w_{k}": gr.Slider(*st.LIMITS["weight"], value=v, step=0.05, label=WEIGHT_LABELS[k])
            for k, v in zip(DELTAS, st.preset_weights(DEFAULT_PRESET), strict=True)
        }
        note = gr.Markdown(studio.weights_note(DEFAULT.method), elem_id="weights-note")
        forecast = gr.Checkbox(False, label="forecast reward (48 h forecasts, a few s more)")
    return {"preset": preset, **weights, "weights_note": note, "forecast": forecast}


def output_panel(default_analysis: str) -> dict[str, Any]:
    """The run button, maps, score table, trade-off plot and front button, notes, downloads."""
    with gr.Row():
        run = gr.Button("Assimilate", variant="primary", scale=1, min_width=160)
        variable = gr.Radio(list(st.MAP_VARIABLES), value="z", label="variable", scale=3)
        analysis = gr.Radio(
            list(st.ANALYSES), value=default_analysis, label="analysis mapped", scale=3
        )
    maps = gr.Image(label="maps", type="filepath", elem_id="maps")
    table = gr.Dataframe(
        label="scores",
        elem_id="scores",
        headers=list(st.TABLE_HEADERS),
        wrap=True,
        column_widths=["12%"]
        + [f"{88 / (len(st.TABLE_HEADERS) - 1):.1f}%"] * (len(st.TABLE_HEADERS) - 1),
    )
    gr.Markdown(
        "MSE, MAE, CRPS: normalised, mean over variables; ACC: anomaly correlation against the "
        "climatology; spread/skill: ensemble spread over the error of its mean, 1 = reliable, "
        "for ensembles of 2+ members; obs misfit: rms of (obs - state) / obs error, O-B for "
        "the background; rewards: higher is better."
    )
    with gr.Row():
        with gr.Column(scale=2):
            plot = gr.Image(label="trade-off", type="numpy", elem_id="tradeoff")
            front_button = gr.Button(
                "Trade-off front of this scenario (every preset, 2 seeds)", size="sm"
            )
        with gr.Column(scale=3):
            notes = gr.Markdown(label="notes", elem_id="notes")
            files = gr.File(label="downloads", file_count="multiple")
    return {
        "run": run,
        "variable": variable,
        "analysis": analysis,
        "maps": maps,
        "table": table,
        "plot": plot,
        "front": front_button,
        "notes": notes,
        "files": files,
    }


def studio_tab(studio: st.Studio, labels: list[str]) -> dict[str, Any]:
    """The tab's layout (call inside ``gr.Tab``): its controls and outputs by name."""
    default_analysis = st.ALIGNED_ROW if studio.aligned_available else st.UNALIGNED
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            c = observation_controls(labels)
            c |= sampler_controls(studio)
            c |= weight_controls(studio)
        with gr.Column(scale=3):
            c |= output_panel(default_analysis)
    return c
