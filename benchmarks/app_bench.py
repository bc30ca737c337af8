"""App benchmark: request-to-maps latency, peak RSS of the server, 4 concurrent requests.

Starts the real app (``python app.py``) on 127.0.0.1 in a subprocess and drives it with
``gradio_client`` like a user: the default settings (the page's defaults), a weight change
(baselines cached), the forecast reward, then 4 requests at once (they queue: one analysis at a
time). Run: ``python benchmarks/app_bench.py`` (prints figures, asserts nothing).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """An unused localhost TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log: Path) -> subprocess.Popen:
    """``python app.py`` on 127.0.0.1:port, output to ``log``."""
    env = os.environ | {
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def connect(url: str, server: subprocess.Popen, timeout: float = 180.0) -> Any:
    """A gradio_client Client once the server answers."""
    from gradio_client import Client

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with status {server.returncode}")
        try:
            return Client(url, verbose=False)
        except Exception:  # not listening yet
            time.sleep(0.5)
    raise TimeoutError(f"no app at {url} after {timeout:.0f} s")


def peak_rss_mb(pid: int) -> float:
    """Peak resident set size (VmHWM) of a live process, MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed(client: Any, **params: Any) -> float:
    """Seconds from request to maps (the endpoint returns maps, scores and files at once)."""
    t0 = time.perf_counter()
    maps, *_ = client.predict(api_name="/assimilate", **params)
    if not Path(maps).is_file():
        raise RuntimeError("no maps returned")
    return time.perf_counter() - t0


def concurrent(client: Any, n: int, seed0: int) -> tuple[list[float], float]:
    """Latencies of n requests sent at once (distinct seeds: nothing cached), and wall time."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        latencies = list(pool.map(lambda s: timed(client, seed=s), range(seed0, seed0 + n)))
    return latencies, time.perf_counter() - t0


def main() -> None:
    """Print the figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--concurrent", type=int, default=4)
    args = p.parse_args()
    port = free_port()
    log = Path(tempfile.mkdtemp()) / "app.log"
    t0 = time.perf_counter()
    server = start_server(port, log)
    try:
        client = connect(f"http://127.0.0.1:{port}/", server)
        print(f"server up in {time.perf_counter() - t0:.1f} s (models loaded at start)")
        print(f"load average before: {os.getloadavg()[0]:.2f} (2 = both cores busy elsewhere)")
        first = timed(client)
        second = timed(client, seed=1)
        weights = timed(client, seed=1, w_accuracy=0.0, w_physics=2.0)
        forecast = timed(client, seed=2, forecast=True)
        print(f"default settings, request to maps: first {first:.1f} s, new seed {second:.1f} s")
        print(f"weight change only (baselines cached): {weights:.1f} s")
        print(f"default settings + forecast reward: {forecast:.1f} s")
        latencies, wall = concurrent(client, args.concurrent, seed0=10)
        print(
            f"{args.concurrent} concurrent requests: latency min {min(latencies):.1f} s, median "
            f"{statistics.median(latencies):.1f} s, max {max(latencies):.1f} s; all done in "
            f"{wall:.1f} s (queued, one at a time)"
        )
        print(f"server peak RSS: {peak_rss_mb(server.pid):.0f} MB")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"(peak RSS of the finished server from getrusage: {children:.0f} MB; log {log})")


if __name__ == "__main__":
    main()
