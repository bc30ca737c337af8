"""Twin-world benchmark: model speed, case-generation time, background vs 3D-Var skill.

Run: ``python benchmarks/world_bench.py`` (2-core CPU; prints figures, asserts nothing).
"""

from __future__ import annotations

import argparse
import time

import torch

from alignda.bundle import load_bundle
from alignda.evaluation.experiments import baseline_table
from alignda.evaluation.scorecard import format_table
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases
from alignda.world.generation import GenerateConfig, generate
from alignda.world.model import DAY, ShallowWaterModel


def world_speed(batch: int, days: float = 1.0) -> float:
    """Model days per second (per trajectory, times batch = throughput)."""
    model = ShallowWaterModel()
    s = model.random_state(batch, torch.Generator().manual_seed(0))
    model.run(s, 2)
    steps = int(days * DAY / model.config.dt)
    t0 = time.perf_counter()
    model.run(s, steps)
    return days / (time.perf_counter() - t0)


def generation_time() -> tuple[float, int]:
    """Seconds to generate a small case set, and its number of cases."""
    cfg = GenerateConfig(n_trajectories=4, spinup_days=1.0, record_days=4.0)
    t0 = time.perf_counter()
    cases = generate(cfg, progress=False)
    return time.perf_counter() - t0, len(cases)


def skill_table(densities: list[float], seed: int = 0) -> str:
    """Background vs 3D-Var on the shipped test cases at several random-obs densities."""
    cases = Cases.open(SHIPPED_CASES)
    bundle = load_bundle()
    table, seconds = baseline_table(cases, bundle.stats, bundle.threedvar, densities, seed=seed)
    return (
        f"{len(cases)} shipped test cases, random obs, default noise "
        f"(z 10 m, u/v 1 m/s, tracer 0.02); 3D-Var {seconds:.2f} s per analysis\n"
        + format_table(table)
    )


def main() -> None:
    """Print all figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--skip-generation", action="store_true")
    args = p.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    for batch in (1, 32):
        v = world_speed(batch)
        print(
            f"world speed, batch {batch:2d}: {v:.2f} model days/s per trajectory, "
            f"{v * batch:.1f} model days/s in all"
        )
    if not args.skip_generation:
        secs, n = generation_time()
        print(f"generation: {n} cases (4 trajectories x 5 days, 1 day spin-up) in {secs:.0f} s")
    print(skill_table([0.01, 0.03, 0.05, 0.10]))


if __name__ == "__main__":
    main()
