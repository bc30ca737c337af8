"""Does a VAE suit a world? Its reconstruction of case files' truths and backgrounds.

For each case file, N evenly spaced analysis times: the rms error of decode(encode(x)) per
variable, in physical units and as a fraction of the truths' standard deviation about their
zonal mean (so that worlds with other variability compare), the Geo-Score of the
reconstructions, and the initialisation shock (rms 1 h height tendency, m/h, by the
forecaster's model of the file's world) of the truths and of their reconstructions. A VAE
trained on one world is fit for another when these figures match those on its own world.

    python benchmarks/vae_bench.py --cases assets/test_cases.nc data/v2/part_00/test.nc
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from alignda.model.codec import load_codec
from alignda.paths import CHECKPOINT_DIR, SHIPPED_CASES
from alignda.training.vae import reconstruction_figures
from alignda.world.cases import Cases
from alignda.world.grid import Grid
from alignda.world.shock import height_tendency
from alignda.world.variables import VARIABLE_NAMES


def eddy_std(states: np.ndarray) -> np.ndarray:
    """Area-weighted std about the zonal mean of each variable (C,) of states (N, C, H, W)."""
    w = Grid(*states.shape[-2:]).weights[:, None]
    eddy = states - states.mean(axis=-1, keepdims=True)
    return np.sqrt((eddy**2 * w).mean(axis=(0, 2, 3)))


def figures(codec, cases: Cases, n: int) -> dict[str, dict[str, float]]:
    """Reconstruction figures of the truths and the backgrounds of ``n`` cases."""
    times = cases.times[np.linspace(0, len(cases) - 1, n).round().astype(int)]
    truth = np.stack([cases.truth_state(t) for t in times]).astype(np.float32)
    scale = eddy_std(truth)
    out = {}
    for label, states in (
        ("truth", truth),
        ("background", np.stack([cases.background_state(t) for t in times])),
    ):
        x = torch.from_numpy(states.astype(np.float32))
        row = reconstruction_figures(codec, x)
        for i, v in enumerate(VARIABLE_NAMES):
            row[f"recon_rel_{v}"] = row[f"recon_rmse_{v}"] / float(scale[i])
        with torch.no_grad():
            recon = codec.decode(codec.encode(x)).numpy()
        row["shock_m_per_h"] = float(np.mean(height_tendency(states, world=cases.world)))
        row["recon_shock_m_per_h"] = float(np.mean(height_tendency(recon, world=cases.world)))
        out[label] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=[str(SHIPPED_CASES)])
    ap.add_argument("--checkpoints", default=str(CHECKPOINT_DIR))
    ap.add_argument("--n", type=int, default=32, help="cases per file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    codec = load_codec(args.checkpoints)
    for path in args.cases:
        cases = Cases.open(path)
        version = cases.attrs.get("world_version", "v1")
        for label, row in figures(codec, cases, min(args.n, len(cases))).items():
            text = ", ".join(f"{k} {v:.3g}" for k, v in row.items())
            print(f"{path} ({version}) {label}: {text}")


if __name__ == "__main__":
    main()
