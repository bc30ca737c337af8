"""Figures of whole cases (built on :mod:`alignda.viz.maps`), written as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alignda.obs.operator import observe_case
from alignda.viz.maps import map_panel, save_png
from alignda.world.cases import Cases
from alignda.world.variables import VARIABLE_NAMES, VARIABLES


def plot_case(
    cases: Cases,
    index: int,
    out: str | Path,
    *,
    pattern: str = "random",
    density: float = 0.05,
    seed: int = 0,
) -> list[Path]:
    """One PNG per variable: truth, background, background - truth, observations, +48 h truth."""
    t = cases.time_of(index)
    truth, bg = cases.truth_state(t), cases.background_state(t)
    lat, lon = cases.truth.latitude.values, cases.truth.longitude.values
    obs = observe_case(truth, seed, pattern=pattern, density=density)
    future = cases.future_truth(t, cases.lead_hours)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = np.datetime_as_string(t, unit="h")
    paths = []
    for i, var in enumerate(VARIABLE_NAMES):
        fields = {"truth": truth[i], "background": bg[i], "background - truth": bg[i] - truth[i]}
        if future is not None:
            fields[f"truth +{cases.lead_hours} h"] = future[i]
        ii, jj = np.nonzero(obs.mask[i])
        points = (lat[ii], lon[jj], obs.values[i, ii, jj])
        fig = map_panel(
            fields,
            lat,
            lon,
            units=VARIABLES[var]["units"],
            ncols=2,
            diverging_keys=["background - truth"],
            obs=points,
            obs_keys=["truth"],
            title=f"{VARIABLES[var]['long_name']} ({var}), {stamp}, "
            f"{obs.counts[var]} {pattern} obs",
        )
        paths.append(save_png(fig, out / f"case{index:03d}_{var}.png"))
    return paths
