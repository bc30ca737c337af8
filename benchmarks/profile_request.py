"""Where a Studio request spends its time: the parts of one default request, timed alone.

One torch thread (as each analysis gets in the app on 2 cores). Per network evaluation of the
sampler (batch = members): the score network forward / forward+backward, the decoder forward /
forward+backward (DPS differentiates through both, twice per step with one correction); then
one whole analysis, 3D-Var, scores, maps, netCDF, the 48 h forecasts of the forecast reward.
Run: ``python benchmarks/profile_request.py`` (prints figures, asserts nothing).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

from alignda import studio as st
from alignda.experiment import DEFAULT
from alignda.runtime import usable_cores
from alignda.studio.scoring import result_table


def ms(fn: Callable[[], object], repeat: int) -> float:
    """Mean milliseconds of fn over ``repeat`` calls after one warm-up call."""
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1000


def main() -> None:
    """Print the figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--members", type=int, default=DEFAULT.method.members)
    p.add_argument("--steps", type=int, default=DEFAULT.method.steps)
    p.add_argument("--repeat", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(1)
    studio = st.default_studio()
    req = st.Request(members=args.members, steps=args.steps)
    sc = studio.scenario(req)
    net, codec = studio.prior, studio.codec
    z = torch.randn(args.members, 8, 16, 32)
    t = torch.full((args.members,), 0.5)

    def backward(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            x = z.clone().requires_grad_()
            f(x).square().sum().backward()

        return run

    with torch.no_grad():
        dit_f = ms(lambda: net(z, t, z), args.repeat)
        dec_f = ms(lambda: codec.decode(z), args.repeat)
    dit_b = ms(backward(lambda x: net(x, t, z)), args.repeat)
    dec_b = ms(backward(codec.decode), args.repeat)
    both = ms(backward(lambda x: codec.decode(net(x, t, z))), args.repeat)
    evals = 2 * args.steps
    print(f"{usable_cores()} cores, 1 torch thread; batch of {args.members} members")
    print("| part | ms per evaluation |")
    print("|---|---:|")
    for name, v in (
        ("score network forward", dit_f),
        ("score network forward + backward", dit_b),
        ("decoder forward", dec_f),
        ("decoder forward + backward", dec_b),
        ("DPS evaluation (network + decoder, forward + backward)", both),
    ):
        print(f"| {name} | {v:.1f} |")
    print(f"DPS: {evals} evaluations ({args.steps} steps x 2) -> {evals * both / 1000:.2f} s")
    rows = {}
    for mode in ("obsfree", "dps"):
        r = st.Request(members=args.members, steps=args.steps, mode=mode)
        for workers in (1, 2):
            t0 = time.perf_counter()
            studio.analyse(r, r.weight_dict, sc, progress=False, workers=workers)
            rows[f"{mode} analysis, {workers} worker(s)"] = time.perf_counter() - t0
    result = studio.run(st.Request(members=args.members, steps=args.steps, forecast=True))
    states = np.stack([result.mean(n) for n in st.table_rows(result)])
    with tempfile.TemporaryDirectory() as tmp:
        rows |= {
            "3D-Var": ms(lambda: studio.threedvar_analysis(sc), 2) / 1000,
            "scores table": ms(lambda: result_table(result, studio.grid, studio.stats), 2) / 1000,
            "maps (8 panels, PNG)": ms(
                lambda: st.render_maps(result, "z", st.ALIGNED_ROW, f"{tmp}/m.png"), 2
            )
            / 1000,
            "analysis netCDF": ms(lambda: st.analysis_netcdf(result, f"{tmp}/a.nc"), 2) / 1000,
            f"48 h forecasts of {len(states)} rows": ms(lambda: studio.forecaster(states, 48), 1)
            / 1000,
        }
    print("| part of a request | s |")
    print("|---|---:|")
    for name, v in rows.items():
        print(f"| {name} | {v:.2f} |")


if __name__ == "__main__":
    main()
