"""Classroom benchmark: the seconds of the Classroom tab's experiments on this machine (prints
figures, asserts nothing), measured on the studio the app serves (after its start-up).

    python benchmarks/classroom_bench.py [--cycles 10] [--repeats 3]

- single observation: both increments (3D-Var and the default mode) for one click;
- ensemble: the default mode's members for the ensemble lesson (8 members);
- cycled DA: ``--cycles`` cycles of 48 h with 3D-Var and the default mode (the free run beside).
"""

from __future__ import annotations

import argparse
import time

from alignda import studio as st
from alignda.evaluation.cycling import CycleConfig
from alignda.studio import classroom as cl


def seconds(run, repeats: int) -> tuple[float, float]:
    """(fastest, slowest) wall-clock seconds of ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times), max(times)


def main() -> None:
    """Print the table (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=10, help="cycles of the cycling run")
    p.add_argument("--repeats", type=int, default=3, help="runs of the quick experiments")
    args = p.parse_args()
    t0 = time.perf_counter()
    studio = st.default_studio()
    print(f"studio ready in {time.perf_counter() - t0:.1f} s")
    one = seconds(
        lambda: cl.single_obs_experiment(studio, "0", "z", 50.0, 10.0, 40.0), args.repeats
    )
    print(f"single observation, both increments: {one[0]:.1f} s (slowest {one[1]:.1f} s)")
    ens = seconds(lambda: cl.ensemble_experiment(studio, "0", 8), args.repeats)
    print(f"ensemble of 8 members: {ens[0]:.1f} s (slowest {ens[1]:.1f} s)")
    names = [st.THREEDVAR, cl.DEFAULT_MODE]
    per_step: list[float] = []
    config = CycleConfig(cycles=args.cycles, world=studio.world)
    t0 = time.perf_counter()
    ds = cl.cycling_experiment(
        studio, "0", names, config, on_step=lambda s: per_step.append(time.perf_counter())
    )
    total = time.perf_counter() - t0
    print(
        f"{args.cycles} cycles of 48 h, 3D-Var and the default mode: {total:.1f} s "
        f"(first plot after {per_step[0] - t0:.1f} s)"
    )
    last = ds.isel(cycle=slice(args.cycles // 2, None)).analysis_mse.mean("cycle")
    for name, value in zip(ds.experiment.values, last.values, strict=True):
        print(f"  {name:<22} mean analysis MSE over the last half: {float(value):.4f}")


if __name__ == "__main__":
    main()
