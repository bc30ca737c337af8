"""The page's Learn tab: what the Studio shows, the compute budget on this machine, and the
lessons (one click fills the Studio's controls and runs; each asks a question)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from alignda import studio as st
from alignda.alignment.soup import DELTAS
from alignda.experiment import DEFAULT, DEFAULT_PRESET
from alignda.runtime import parallel_workers

#: The lessons teach the guidance of the latent sampler: DPS unless a lesson changes it (the
#: rest of their settings are the project's defaults).
LESSON_MODE = "dps"

LEARN = """
## What you are looking at
**The twin world.** A global shallow-water model on the sphere plays the atmosphere: height
`z` (m, like a 500 hPa surface), winds `u`, `v` (m/s) and a passive `tracer`. Its states are
the *truth*; we know it exactly, so every analysis can be scored (an OSSE).

**Background.** A 48 h forecast by an *imperfect* model from a perturbed state two days
earlier: a good first guess with errors that grew over two days (*background - truth*).

**Observations.** The truth sampled at some grid points plus Gaussian noise: random points,
land stations (dense over continents), a polar-orbiting satellite swath, aircraft tracks between
airport hubs, or your own points (CSV with `lat, lon[, variable, value]`).

**Analysis and increment.** Data assimilation blends background and observations into the
analysis. The *increment* (analysis - background) is the correction; a good one cancels the
background error (compare *increment* with *background - truth* sign-flipped). Without the
truth, DA checks itself against the observations: the *obs misfit* column is the rms of
(observation - state) / observation error, *O-B* for the background and *O-A* for an
analysis; a sound analysis has O-A well below O-B (about 1 means within the observation error).

**3D-Var vs score-based DA.** 3D-Var minimises a quadratic cost with a static
background-error covariance B: errors are Gaussian, balanced and the same every day. The
score-based prior (Align-DA) learns p(state | background) with a diffusion model in the latent
space of a VAE and samples it, guided by the observations (*DPS*: gradient of the observation
misfit through the decoder; *MMPS*: the same with the Tweedie covariance; *RePaint*: observed
values written in; *obsfree*: no guidance). *Hybrid* joins the two worlds as operational
centres do (3DEnVar): the prior's members, drawn without the observations, give a
flow-dependent B that a variational solve uses beside 3D-Var's static one, and the prior's
mean given the background (its large scales) is the solve's first guess instead of the
background itself.
Several *members* give an ensemble; their *spread* says where the analysis is uncertain.

**Rewards** (higher is better):
- *accuracy*: Bradley-Terry preference from the latitude-weighted RMSE per variable, against
  the other rows of the table (0.5 = as good as the rest);
- *forecast*: minus the normalised MSE of a 48 h forecast started from the analysis;
- *physics*: the balance score, how calmly a forecast starts from the analysis: the rms
  height tendency over the forecast's first hour, against the truth's (100 % = as calm as the
  truth; 50 % = it shakes the model twice as hard). Winds and heights that do not match launch
  gravity waves (an *initialisation shock*); analyses that fit scattered observations closely
  do, so this reward trades against accuracy. The map variable *z tendency* shows them: the
  height tendency over the 6th hour of forecasts from the truth, the background, 3D-Var and
  the analysis mapped, on one colour scale. The truth's and the background's are smooth and
  large-scale (weather moving); an unbalanced start adds rings and wave trains of gravity
  waves, and a larger rms (in each panel's title). The paper's *Geo-Score* (how geostrophic the
  winds are, against the truth) is the last column: every analysis here scores 100 %, so it
  cannot tell them apart.

**Reward weights.** Alignment gives one weight change (delta) per reward, plus the paper's
multi-reward -M delta: each from Diffusion-DPO on preference pairs or from a fine-tune on the
reward's own gradient, whichever gave the better guided analyses on validation cases. Your
weights mix them: theta = theta_ref + sum_i w_i delta_i, normalised to sum 1, applied at once
without retraining. All zero is the unaligned prior. The guided sampler (DPS, MMPS, ...) reads
the prior at every step; the default mode (hybrid) reads it once, for its first guess. So the
hybrid mixes its own deltas, tuned through that first guess and the variational solve; the
note under the sliders says which deltas act and what they were measured to do.
The *trade-off front* button under the plot analyses the last scenario with every preset
(two sampler seeds each: the error bars are sampling noise) and marks your weights: a move
of a slider is worth reading only where it leaves those error bars.

**Reading the numbers.** MSE and MAE are averaged over the variables after dividing by their
climatological std (the paper's columns); RMSE per variable is in physical units. The small
trade-off plot places this run beside the baselines and earlier weights of the same scenario.

## Lessons
Click one: the controls are filled in, the Studio tab opens and the run starts. Each asks a
question the maps and the table answer. The Classroom tab has the single-observation
experiment, the ensemble and cycled DA.
"""


#: The lesson that maps the height tendency of 3D-Var and the physics-weighted prior.
BALANCE_LESSON = "balance: 3D-Var against the physics-weighted prior"
#: The Studio's controls a lesson sets, in the order of its row (:func:`lesson_rows`).
LESSON_CONTROLS = ["case", "pattern", "density", "noise", "mode", "zeta", "steps", "members"]
LESSON_CONTROLS += ["seed", "forecast", "preset", *(f"w_{k}" for k in DELTAS), "variable"]


#: The Learn tab's lessons: label -> (settings changed from the lesson defaults, what to look
#: at, the question the maps answer).
LESSONS: dict[str, tuple[dict[str, Any], str, str]] = {
    "1 % random observations, DPS guidance": (
        {},
        "the increment map beside background - truth (sign-flipped)",
        "where does the increment cancel the background error, and where is there no "
        "observation to do it?",
    ),
    "10 % random observations (zeta 0.3): more data, smaller errors": (
        {"density": 10.0, "zeta": 0.3},
        "the RMSE columns against the 1 % lesson",
        "how much does ten times more data buy, and for which variables?",
    ),
    "10 % with zeta 1: guidance too strong, the prior drifts": (
        {"density": 10.0},
        "the obs misfit O-A and the notes",
        "why can pulling harder towards the observations make the analysis worse?",
    ),
    "land stations: the oceans stay uncertain (see the spread)": (
        {"pattern": "stations", "density": 3.0},
        "the spread map against the station map",
        "does the ensemble know where it has no data?",
    ),
    "one satellite swath": (
        {"pattern": "swaths", "density": 3.0},
        "the error along and away from the swath",
        "how far from the swath does the information reach?",
    ),
    "aircraft tracks between hubs": (
        {"pattern": "tracks", "density": 2.0},
        "the error along the routes and over the empty oceans",
        "what does a network concentrated on a few routes leave uncorrected?",
    ),
    "no guidance (obsfree): the prior alone": (
        {"mode": "obsfree"},
        "the unaligned prior's MSE against the background's",
        "what does the learned prior know about the truth without any observation?",
    ),
    BALANCE_LESSON: (
        {"preset": "physics", "variable": st.HEIGHT_TENDENCY},
        "the z tendency maps of 3D-Var and the physics-weighted prior beside the truth's "
        "(6th forecast hour, one colour scale: the rings are gravity waves), then the physics "
        "(balance) column beside the MSE",
        "why does the analysis that fits the observations best (3D-Var) launch the most "
        "gravity waves, and what does the prior's calmer start cost it in accuracy?",
    ),
    "physics weight in the default mode (its delta tuned on the balance score)": (
        {"preset": "physics", "mode": DEFAULT.method.mode},
        "the physics (balance) column of the aligned and unaligned rows beside their MSE",
        "how much calmer does the physics delta make the hybrid's analysis, and at what cost?",
    ),
    "forecast weight, with the 48 h forecast reward": (
        {"preset": "forecast", "forecast": True},
        "the forecast column of the aligned and unaligned rows",
        "is the better analysis also the better start for a forecast?",
    ),
}


def lessons_text() -> str:
    """What each lesson asks the user to look at and to conclude (Markdown)."""
    items = [
        f"- **{name}**: look at {look}. *{ask[0].upper()}{ask[1:]}*"
        for name, (_, look, ask) in LESSONS.items()
    ]
    return "\n".join(items)


def lesson_rows(labels: list[str]) -> tuple[list[str], list[list[Any]]]:
    """The lessons' labels and their rows of control values (the Examples of the tab)."""

    def row(preset: str = DEFAULT_PRESET, variable: str = "z", **kw: Any) -> list[Any]:
        o, m = DEFAULT.observing, DEFAULT.method
        base = {"case": labels[0], "pattern": o.pattern, "density": 100 * o.density}
        base |= {"noise": o.noise_scale, "mode": LESSON_MODE, "zeta": m.zeta, "steps": m.steps}
        base |= {"members": m.members, "seed": DEFAULT.seed, "forecast": False} | kw
        weights = list(st.preset_weights(preset))
        return [*base.values(), preset, *weights, variable]

    rows = [row(**changes) for changes, _, _ in LESSONS.values()]
    return list(LESSONS), rows


def budget_text(studio: st.Studio) -> str:
    """The Learn tab's paragraph on the compute budget, with this machine's figures."""
    budget, d = studio.budget, studio.budget.defaults
    ms = ", ".join(f"{m} {1000 * v:.0f} ms" for m, v in budget.speeds.per_eval.items())
    most = int(st.LIMITS["members"][1])
    fit = {
        m: budget.largest_within(st.Request(mode=m, steps=d.steps, members=1), "members", most)
        for m in ("dps", "mmps")
    }
    steps, members = budget.slider_max("steps"), budget.slider_max("members")
    return f"""
**Compute budget.** Each request may use about {budget.seconds:g} s of this machine when it is
idle (its {parallel_workers()} cores run the unaligned and aligned priors side by side).
Before a request runs, its cost is estimated: *steps* x 2 denoiser evaluations (one Langevin
correction each) x *members* x the cost of one evaluation per member, measured when the app
started ({ms}), for each prior analysis (two with reward weights, one without), plus a few
seconds for 3D-Var, scores, maps and forecasts. A request above the budget is refused at once
with the most members or steps that fit: at {d.steps} steps up to {fit["dps"]} DPS or
{fit["mmps"]} MMPS members fit. Requests at or below the default {d.steps} steps x
{d.members} members always run: when other work shares the machine they take longer, and the
notes say how long. The sliders go up to {steps} steps and {members} members (each alone fits
the budget; both at once do not). The estimate of your settings shows under the sampler
controls; a request whose page is closed is cancelled, and the queue shows your position and
the estimated wait.
"""


def learn_tab(c: dict[str, Any], labels: list[str], studio: st.Studio) -> gr.Examples:
    """The tab's text and lessons (call inside ``gr.Tab``); ``c`` are the Studio's controls
    that a lesson fills in."""
    gr.Markdown(LEARN.replace("## Lessons", budget_text(studio) + "\n## Lessons"))
    gr.Markdown(lessons_text())
    example_labels, example_rows = lesson_rows(labels)
    return gr.Examples(
        example_rows,
        [c[n] for n in LESSON_CONTROLS],
        example_labels=example_labels,
        cache_examples=False,
        api_visibility="private",
    )
