"""Load test: many requests against the real app on localhost, a few at a time.

Starts ``python app.py`` (as :mod:`app_bench` does) and sends ``--requests`` requests through
``gradio_client``, ``--at-once`` at a time, cycling through what users do: new scenarios
(seed, case, observation pattern), reward-weight changes on a cached scenario, the forecast
reward, and heavy requests: one at the UI's maxima (MMPS, 256 steps, 16 members: over the
compute budget, it must be refused at once) and, every ``--heavy-every`` requests, one at the
budget (MMPS, 256 steps, the most members the refusal says fit). Prints latency p50 / p95 /
max, the wait of the default-sized requests (latency minus their own run time, from the notes)
behind the heavy ones (target: max <= 2 x the budget), the error count, the server's resident
memory after each round of requests (it must level off, not grow), and then an overload burst
larger than the queue (requests beyond it must be refused at once, and the app must keep
serving). Run: ``python benchmarks/load_test.py`` (prints figures, asserts nothing).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app_bench import connect, free_port, peak_rss_mb, start_server, timed

PATTERNS = ("random", "stations", "swaths", "tracks")
#: The UI's maxima: over the default 60 s budget on 2 cores.
MAXIMA = {"mode": "mmps", "steps": 256, "members": 16}
DEFAULT, HEAVY, REFUSED = "default", "heavy (at the budget)", "maxima (refused)"


def kind_of(i: int, heavy_every: int) -> str:
    """Request i's kind: the first round sends the maxima once; then every ``heavy_every``-th
    request (starting with the second of a round) is at the budget."""
    if i == 1:
        return REFUSED
    if heavy_every and i % heavy_every == 1:
        return HEAVY
    return DEFAULT


def workload(i: int) -> dict[str, Any]:
    """The i-th default-sized request of the mix (deterministic)."""
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


def served(client: Any, params: dict[str, Any]) -> tuple[float, float, str | None]:
    """Latency, the request's own run time (the notes' total, plus its maps) and error."""
    t0 = time.perf_counter()
    try:
        maps, _, _, _, notes = client.predict(api_name="/assimilate", **params)
        latency = time.perf_counter() - t0
        if not Path(maps).is_file():
            raise RuntimeError("no maps returned")
        total = re.search(r"total \(no maps\) ([\d.]+) s", notes)
        return latency, float(total.group(1)) if total else 0.0, None
    except Exception as err:  # an error of any kind counts as a failed request
        return time.perf_counter() - t0, 0.0, f"{type(err).__name__}: {str(err)[:160]}"


def heavy_request(client: Any) -> tuple[dict[str, Any], str]:
    """The UI's maxima are refused; the heaviest request the refusal says fits the budget."""
    _, _, error = served(client, MAXIMA | {"seed": 7})
    found = re.search(r"steps to (\d+)", error or "")  # finer than members: nearer the budget
    steps = int(found.group(1)) if found else 4
    return MAXIMA | {"steps": steps}, error or "(not refused)"


def load(
    client: Any, n: int, at_once: int, pid: int, heavy: dict[str, Any], heavy_every: int
) -> tuple[list[tuple[str, float, float, str | None]], list]:
    """Send n requests, at_once at a time: (kind, latency, own run time, error) of each and
    the RSS after each round."""
    results, rounds = [], []

    def one(i: int) -> tuple[str, float, float, str | None]:
        kind = kind_of(i, heavy_every)
        params = workload(i) | ({} if kind == DEFAULT else heavy if kind == HEAVY else MAXIMA)
        time.sleep(0.2 * (i % at_once))  # arrival order within a round: as numbered
        return (kind, *served(client, params))

    with ThreadPoolExecutor(at_once) as pool:
        for start in range(0, n, at_once):
            results += pool.map(one, range(start, min(n, start + at_once)))
            rounds.append((start + at_once, rss_mb(pid)))
    return results, rounds


def percentiles(values: list[float]) -> str:
    """``p50 / p95 / max`` of a list (seconds)."""
    if not values:
        return "-"
    q = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else values * 19
    return f"{statistics.median(values):.1f} / {q[18]:.1f} / {max(values):.1f}"


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
    p.add_argument("--heavy-every", type=int, default=8, help="one at the budget every n")
    p.add_argument("--budget", type=float, default=60.0, help="the server's budget (seconds)")
    args = p.parse_args()
    port = free_port()
    log = Path(tempfile.mkdtemp()) / "app.log"
    server = start_server(port, log)
    try:
        client = connect(f"http://127.0.0.1:{port}/", server)
        sampler = Sampler(server.pid)
        sampler.start()
        start_rss = rss_mb(server.pid)
        t1 = time.perf_counter()
        heavy, refusal = heavy_request(client)
        print(f"UI maxima {MAXIMA}: refused in {time.perf_counter() - t1:.1f} s: {refusal}")
        print(f"heavy request (at the budget): {heavy}")
        t0 = time.perf_counter()
        results, rounds = load(
            client, args.requests, args.at_once, server.pid, heavy, args.heavy_every
        )
        wall = time.perf_counter() - t0
        print(
            f"{len(results)} requests, {args.at_once} at a time, in {wall:.0f} s "
            f"({len(results) / wall * 60:.1f} per minute); budget {args.budget:g} s"
        )
        print("| requests | n | latency p50 / p95 / max [s] | wait p50 / p95 / max [s] | errors |")
        print("|---|---:|---:|---:|---:|")
        errors = []
        for kind in (DEFAULT, HEAVY, REFUSED):
            rows = [r for r in results if r[0] == kind]
            ok = [r for r in rows if r[3] is None]
            failed = [r[3] for r in rows if r[3] is not None]
            if kind == REFUSED:  # expected: refused at once for the budget
                errors += [e for e in failed if "budget" not in e]
                lat = [r[1] for r in rows]
                print(f"| {kind} | {len(rows)} | {percentiles(lat)} | - | {len(ok)} served |")
                continue
            # a heavy request may be refused later if the machine got slower (the estimate
            # follows the measured speed): a refusal for the budget, not an error
            refused = [e for e in failed if kind == HEAVY and "budget" in e]
            errors += [e for e in failed if e not in refused]
            lat = [r[1] for r in ok]
            wait = [r[1] - r[2] for r in ok]
            print(
                f"| {kind} | {len(rows)} | {percentiles(lat)} | {percentiles(wait)} | "
                f"{len(failed) - len(refused)}"
                + (f" ({len(refused)} refused: over the budget by then)" if refused else "")
                + " |"
            )
        waits = [r[1] - r[2] for r in results if r[0] == DEFAULT and r[3] is None]
        if waits:
            worst = max(waits)
            verdict = "met" if worst <= 2 * args.budget else "MISSED"
            print(
                f"worst wait of a default request {worst:.0f} s; target <= 2 x budget = "
                f"{2 * args.budget:g} s: {verdict}"
            )
        print(f"peak RSS {peak_rss_mb(server.pid):.0f} MB")
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
