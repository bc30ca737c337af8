"""Probe of the app as a new user tries it: every preset, mode, pattern and several densities.

Starts the real app (``python app.py``) on 127.0.0.1, optionally while ``--busy N`` processes
spin on the CPU (from before the start-up to the end: the app calibrates and serves on a busy
machine), and sends one request of each kind through ``gradio_client``: the page's defaults,
each weight preset, each guidance mode, each observation pattern, 5 / 10 / 20 % random
observations. Prints a table: request, seconds, answered or refused (with the message), and
the notes that say the machine was busy. Run:
``python benchmarks/probe.py [--busy 2]`` (prints figures, asserts nothing).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # alignda from the clone

BUSY_S = 1800
BUSY_LOOP = f"import time\nend = time.time() + {BUSY_S}\nwhile time.time() < end:\n    pass\n"


@contextmanager
def busy_cores(n: int) -> Iterator[None]:
    """``n`` processes spinning on the CPU while the block runs (each stops by itself after
    ``BUSY_S`` seconds in any case)."""
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(n)]
    try:
        yield
    finally:
        for p in loops:
            p.kill()
        for p in loops:
            p.wait(timeout=30)


def probe_requests() -> dict[str, dict[str, Any]]:
    """Request name -> the endpoint's keyword arguments (the rest: the page's defaults)."""
    from alignda.alignment.soup import DELTAS, PRESETS
    from alignda.analysis.score import ANALYSIS_MODES
    from alignda.obs.networks import PATTERNS
    from alignda.studio.request import preset_weights

    out: dict[str, dict[str, Any]] = {"defaults": {}}
    for name in PRESETS:
        weights = dict(zip((f"w_{k}" for k in DELTAS), preset_weights(name), strict=True))
        out[f"preset {name}"] = weights
    out |= {f"mode {m}": {"mode": m} for m in ANALYSIS_MODES}
    out |= {f"pattern {p}": {"pattern": p, "density_pct": 3.0} for p in PATTERNS}
    out |= {f"random {d:g} %": {"density_pct": float(d)} for d in (5, 10, 20)}
    return out


def main() -> None:
    from app_bench import connect, free_port, start_server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", type=int, default=0, help="processes spinning on the CPU")
    args = ap.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    port = free_port()
    log = Path(tempfile.mkdtemp()) / "app.log"
    rows = []
    with busy_cores(args.busy):
        t0 = time.perf_counter()
        server = start_server(port, log)
        try:
            client = connect(f"http://127.0.0.1:{port}/", server, timeout=600)
            print(f"app started in {time.perf_counter() - t0:.0f} s with {args.busy} busy loop(s)")
            for name, params in probe_requests().items():
                t1 = time.perf_counter()
                try:
                    *_, notes = client.predict(api_name="/assimilate", **params)
                    busy = "busy" in notes
                    rows.append(
                        (name, time.perf_counter() - t1, "answered" + " (busy note)" * busy)
                    )
                except Exception as err:  # the app's refusal reaches the client as an error
                    rows.append((name, time.perf_counter() - t1, f"refused: {err}"[:120]))
                print(f"| {rows[-1][0]} | {rows[-1][1]:.1f} | {rows[-1][2]} |", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    answered = sum(r[2].startswith("answered") for r in rows)
    print(f"\n| request ({args.busy} busy loops) | seconds | result |\n|---|---:|---|")
    for name, seconds, what in rows:
        print(f"| {name} | {seconds:.1f} | {what} |")
    print(f"\n{answered} of {len(rows)} answered; app log: {log}")


if __name__ == "__main__":
    main()
