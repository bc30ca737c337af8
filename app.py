"""Align-DA Studio web app (Gradio Blocks).

This first version serves the twin world and its 3D-Var baseline on the shipped test cases;
the score-based aligned sampler joins it in later issues. Run: ``python app.py``.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from functools import lru_cache  # noqa: E402

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from alignda.cases import Cases  # noqa: E402
from alignda.checkpoints import resolve  # noqa: E402
from alignda.cli import SHIPPED_CASES  # noqa: E402
from alignda.climate import WorldStats  # noqa: E402
from alignda.grid import Grid  # noqa: E402
from alignda.maps import map_panel  # noqa: E402
from alignda.metrics import format_table, score_table  # noqa: E402
from alignda.obs import PATTERNS, ObsError, make_mask, observe  # noqa: E402
from alignda.state import to_dataset  # noqa: E402
from alignda.threedvar import BackgroundError, ThreeDVar  # noqa: E402
from alignda.variables import VARIABLE_NAMES, VARIABLES  # noqa: E402


@lru_cache(maxsize=1)
def resources() -> tuple[Cases, WorldStats, ThreeDVar]:
    """Shipped cases, world statistics and the 3D-Var, loaded once per process."""
    cases = Cases.open(SHIPPED_CASES)
    stats = WorldStats.load(resolve("world_stats"))
    return cases, stats, ThreeDVar(BackgroundError.load(resolve("threedvar_b")))


def case_labels() -> list[str]:
    """Menu labels: the analysis times of the shipped cases."""
    return [str(np.datetime_as_string(t, unit="h")) for t in resources()[0].times]


def _render(fig) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    fig.clear()
    return image


def assimilate(case: str, variable: str, pattern: str, density_pct: float, seed: int):
    """Observe the truth of a case, run 3D-Var, return maps and a score table."""
    try:
        cases, stats, var = resources()
        t = cases.time_of(case)
        truth, bg = cases.truth_state(t), cases.background_state(t)
        grid = Grid(*truth.shape[-2:])
        rng = np.random.default_rng(int(seed))
        obs = observe(truth, make_mask(pattern, grid, rng, density=density_pct / 100.0), rng)
        xa = var.analyse(bg, obs)
    except (ObsError, ValueError, KeyError) as err:
        raise gr.Error(str(err)) from err
    i = VARIABLE_NAMES.index(variable)
    ii, jj = np.nonzero(obs.mask[i])
    fig = map_panel(
        {
            "truth": truth[i],
            "background": bg[i],
            "3D-Var analysis": xa[i],
            "background - truth": bg[i] - truth[i],
            "analysis - truth": xa[i] - truth[i],
            "increment": xa[i] - bg[i],
        },
        grid.lat,
        grid.lon,
        units=VARIABLES[variable]["units"],
        diverging_keys=["background - truth", "analysis - truth", "increment"],
        obs=(grid.lat[ii], grid.lon[jj], obs.values[i, ii, jj]),
        obs_keys=["truth"],
        title=f"{VARIABLES[variable]['long_name']}, {case}, {obs.counts[variable]} obs",
    )
    table = score_table(
        {
            "background": to_dataset(bg, grid),
            "3D-Var": to_dataset(xa, grid),
        },
        to_dataset(truth, grid),
        stats.scales,
    )
    return _render(fig), format_table(table)


def build_demo() -> gr.Blocks:
    """The Blocks page."""
    labels = case_labels()
    with gr.Blocks(title="Align-DA Studio") as demo:
        gr.Markdown(
            "# Align-DA Studio\nData assimilation on a shallow-water twin world: choose a case "
            "and an observation network; the 3D-Var baseline turns the 48 h background and the "
            "observations into an analysis."
        )
        with gr.Row():
            case = gr.Dropdown(labels, value=labels[0], label="case (analysis time)")
            variable = gr.Dropdown(list(VARIABLE_NAMES), value="z", label="variable")
            pattern = gr.Dropdown(list(PATTERNS), value="random", label="observation pattern")
            density = gr.Slider(0.1, 100, value=1.0, step=0.1, label="density (% of grid)")
            seed = gr.Number(0, precision=0, label="seed")
        run = gr.Button("Assimilate", variant="primary")
        image = gr.Image(label="maps", type="numpy")
        table = gr.Markdown()
        run.click(
            assimilate,
            [case, variable, pattern, density, seed],
            [image, table],
            api_name="assimilate",
        )
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=1).launch()
