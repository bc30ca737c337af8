"""Load test: many requests against the real app on localhost, a few at a time.

Starts ``python app.py`` (as :mod:`app_bench` does) and sends ``--requests`` requests through
``gradio_client``, ``--at-once`` at a time, cycling through what users do: new scenarios
(seed, case, observation pattern), reward-weight changes on a cached scenario, the forecast
reward. Prints latency p50 / p95 / max, the error count, the server's resident memory after
each round of requests (it must level off, not grow), and then an overload burst larger than
the queue (requests beyond it must be refused at once, and the app must keep serving).
Run: ``python benchmarks/load_test.py`` (prints figures, asserts nothing).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app_bench import connect, free_port, peak_rss_mb, start_server, timed

PATTERNS = ("random", "stations", "swaths", "tracks")


def workload(i: int) -> dict[str, Any]:
    """The i-th request of the mix (deterministic)."""
    kind = i % 4
    if kind == 1:  # the previous scenario with other weights: baselines cached
        return {"seed": 100 + i - 1, "case": str((i - 1) % 16), "w_physics": 3.0}
    params: dict[str, Any] = {"seed": 100 + i, "case": str(i % 16)}
    if kind == 2:
        params |= {"pattern": PATTERNS[(i // 4) % len(PATTERNS)], "density_pct": 2.0}
    if kind == 3 and i % 8 == 3:
        params["forecast"] = True
    return params


def rss_mb(pid: int) -> float:
    """Current resident set size (VmRSS) of a live process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Sampler(threading.Thread):
    """Samples a process's RSS every ``period`` seconds until stopped."""

    def __init__(self, pid: int, period: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.period, self.samples = pid, period, []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.period):
            self.samples.append((time.perf_counter(), rss_mb(self.pid)))


def attempt(client: Any, params: dict[str, Any]) -> tuple[float, str | None]:
    """Latency and error (None if it succeeded) of one request."""
    t0 = time.perf_counter()
    try:
        timed(client, **params)
        return time.perf_counter() - t0, None
    except Exception as err:  # an error of any kind counts as a failed request
        return time.perf_counter() - t0, f"{type(err).__name__}: {str(err)[:120]}"


def load(client: Any, n: int, at_once: int, pid: int) -> tuple[list[float], list[str], list]:
    """Send n requests, at_once at a time; latencies, errors, RSS after each round."""
    latencies, errors, rounds = [], [], []
    with ThreadPoolExecutor(at_once) as pool:
        for start in range(0, n, at_once):
            batch = [workload(i) for i in range(start, min(n, start + at_once))]
            for latency, error in pool.map(lambda p: attempt(client, p), batch):
                latencies.append(latency)
                if error:
                    errors.append(error)
            rounds.append((start + len(batch), rss_mb(pid)))
    return latencies, errors, rounds


def overload(client: Any, n: int) -> tuple[int, int, list[str]]:
    """n cheap requests at once (more than the queue holds): served, refused, other errors."""
    cheap = {"steps": 4, "members": 1}
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda s: attempt(client, cheap | {"seed": s}), range(n)))
    refused = [e for _, e in results if e and "queue" in e.lower()]
    other = [e for _, e in results if e and "queue" not in e.lower()]
    return sum(e is None for _, e in results), len(refused), other


def main() -> None:
    """Print the figures."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--at-once", type=int, default=4)
    p.add_argument("--overload", type=int, default=24, help="burst size (0: skip)")
    args = p.parse_args()
    port = free_port()
    log = Path(tempfile.mkdtemp()) / "app.log"
    server = start_server(port, log)
    try:
        client = connect(f"http://127.0.0.1:{port}/", server)
        sampler = Sampler(server.pid)
        sampler.start()
        start_rss = rss_mb(server.pid)
        t0 = time.perf_counter()
        latencies, errors, rounds = load(client, args.requests, args.at_once, server.pid)
        wall = time.perf_counter() - t0
        q = statistics.quantiles(latencies, n=20, method="inclusive")
        print(
            f"{len(latencies)} requests, {args.at_once} at a time, in {wall:.0f} s "
            f"({len(latencies) / wall * 60:.1f} per minute)"
        )
        print("| latency p50 [s] | p95 [s] | max [s] | errors | peak RSS [MB] |")
        print("|---:|---:|---:|---:|---:|")
        print(
            f"| {statistics.median(latencies):.1f} | {q[18]:.1f} | {max(latencies):.1f} | "
            f"{len(errors)} | {peak_rss_mb(server.pid):.0f} |"
        )
        for e in errors:
            print(f"  error: {e}")
        trace = ", ".join(f"{k}: {mb:.0f}" for k, mb in rounds)
        print(f"RSS [MB] at start {start_rss:.0f}; after k requests: {trace}")
        if args.overload:
            served, refused, other = overload(client, args.overload)
            print(
                f"overload burst of {args.overload} at once: {served} served, {refused} refused "
                f"(queue full), {len(other)} other errors"
            )
            for e in other[:3]:
                print(f"  error: {e}")
            after = attempt(client, {"seed": 999, "steps": 4, "members": 1})
            print(f"a request after the burst: {'ok' if after[1] is None else after[1]}")
        sampler.done.set()
        peak = max(mb for _, mb in sampler.samples) if sampler.samples else float("nan")
        print(f"server peak RSS {peak_rss_mb(server.pid):.0f} MB (sampled max {peak:.0f} MB)")
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"(server log: {log})")


if __name__ == "__main__":
    main()
