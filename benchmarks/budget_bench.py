"""The compute budget's calibration on this machine, idle or busy (asserts nothing).

Builds the studio (shipped checkpoints and cases) as the app does, optionally while ``--busy N``
processes spin on the CPU, and prints what its budget measured: one denoiser evaluation per
member of each guidance mode, one 3D-Var, one hybrid solve; the nominal seconds of the default
request in each mode; the sliders' maxima. With ``--run`` it also runs the default request and
prints its seconds, the budget's load and the notes. Run:
``python benchmarks/budget_bench.py [--busy 2] [--run]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # alignda from the clone


def main() -> None:
    from probe import busy_cores

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", type=int, default=0, help="processes spinning on the CPU")
    ap.add_argument("--run", action="store_true", help="also run the default request")
    args = ap.parse_args()
    from alignda import studio as st
    from alignda.analysis.score import ANALYSIS_MODES
    from alignda.runtime import limit_threads

    limit_threads()  # as the app does
    with busy_cores(args.busy):
        t0 = time.perf_counter()
        studio = st.Studio()
        print(f"studio built in {time.perf_counter() - t0:.1f} s, {args.busy} busy loop(s)")
        budget = studio.budget
        speeds = budget.speeds
        print("| mode | ms per evaluation and member | default request, nominal s |")
        print("|---|---:|---:|")
        for mode in ANALYSIS_MODES:  # the hybrid's members are obsfree samples
            ms = 1000 * speeds.per_eval[st.Request(mode=mode).sampler().work().mode]
            print(f"| {mode} | {ms:.0f} | {studio.estimate(st.Request(mode=mode)):.1f} |")
        print(f"3D-Var {speeds.threedvar:.3f} s, hybrid solve {speeds.solve:.3f} s")
        print(f"slider maxima: steps {budget.slider_max('steps')}, ", end="")
        print(f"members {budget.slider_max('members')}")
        if args.run:
            t0 = time.perf_counter()
            result = studio.run(st.Request())
            print(f"default request: {time.perf_counter() - t0:.1f} s, load {budget.load:.2f}")
            print("\n".join(result.notes))


if __name__ == "__main__":
    main()
