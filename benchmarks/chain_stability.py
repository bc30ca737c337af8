"""Is world v2's 3D-Var chain stable over a whole record? Prints its rms analysis error per
8-day block (asserts nothing).

The chain (:func:`alignda.world.osse.chain_analyses`, its B calibrated first) runs again on the
truths of a generated case file, every 6 h at each ``--density`` of random observations. A
stable chain keeps a flat error; a drifting one grows towards the climate's. Example (world
seed 99's held-out set of ``generate --world v2 --seed 99``):

    python benchmarks/chain_stability.py --cases data/v2_heldout/train.nc --density 0.01,0.05

``--record`` runs nothing: it prints the rms error of the file's own 48 h backgrounds per
quarter of each trajectory's record (the kept chain's drift, if any), cheaply:

    python benchmarks/chain_stability.py --record --cases data/v2/part_00/train.nc
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from alignda.evaluation.metrics import spatial_mean
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.model import ShallowWaterModel
from alignda.world.osse import chain_analyses

BLOCK = 32  # 6-hourly states: 8 days


def main() -> None:
    """Print the chain's error per block for every density."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", required=True, help="a generated case file (its truths)")
    ap.add_argument("--density", default="0.01", help="comma list of observed fractions")
    ap.add_argument("--seed", type=int, default=99, help="networks and the chain's start")
    ap.add_argument("--batch", type=int, default=64, help="calibration forecasts at a time")
    ap.add_argument("--cycle-hours", type=int, default=6, help="the chain's cycle")
    ap.add_argument("--record", action="store_true", help="the file's backgrounds, by quarter")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cases = Cases.open(args.cases)
    if args.record:
        record_drift(cases)
        return
    truth = cases.truth_trajectories()
    model = ShallowWaterModel(cases.world.imperfect())
    w = Grid(*truth.shape[-2:]).weights.reshape(-1, 1)
    for density in (float(d) for d in args.density.split(",")):
        an, _, _ = chain_analyses(
            truth, model, args.cycle_hours, density, args.seed, BLOCK, batch=args.batch
        )
        err = np.sqrt((((an - truth) ** 2) * w).mean(axis=(3, 4)))  # (n, T, C), NaN unanalysed
        print(f"density {density:g}, {len(truth)} trajectories: rms analysis error")
        for b in range(0, truth.shape[1] - 1, BLOCK):
            z, u = (np.nanmean(err[:, b : b + BLOCK, c]) for c in (0, 1))
            print(f"  days {b // 4:>2}-{(b + BLOCK) // 4:>2}: z {z:6.1f} m, u {u:5.2f} m/s")


def record_drift(cases: Cases) -> None:
    """Print the rms error (z, u) of the backgrounds per quarter of each trajectory's record,
    and the median and worst trajectory's last quarter against its first."""
    truth = cases.truth.sel(time=cases.times)
    msq = spatial_mean((cases.background - truth) ** 2)  # per analysis time and variable
    traj = truth.trajectory.values
    ratios = []
    print("48 h background rms error by quarter of the record")
    for j in np.unique(traj):
        err = np.sqrt(msq.isel(time=traj == j))
        q = np.array_split(np.arange(err.sizes["time"]), 4)
        z, u = ([float(err[v].isel(time=i).mean()) for i in q] for v in ("z", "u"))
        ratios.append(z[-1] / z[0])
        print(
            f"  trajectory {j:>3}: z {' '.join(f'{x:6.1f}' for x in z)} m; "
            f"u {' '.join(f'{x:5.2f}' for x in u)} m/s"
        )
    print(f"last / first quarter z: median {np.median(ratios):.2f}, worst {max(ratios):.2f}")


if __name__ == "__main__":
    main()
