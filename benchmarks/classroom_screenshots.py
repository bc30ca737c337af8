"""Screenshots of the Classroom tab (asserts nothing): the single observation placed by a click,
the ensemble lesson and a cycling run, as a user sees them.

Serves the real app on 127.0.0.1 and drives it with headless chromium (playwright); writes
``classroom_single_obs.png``, ``classroom_ensemble.png`` and ``classroom_cycling.png``.

    python benchmarks/classroom_screenshots.py --out docs/images --cycles 10
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # alignda from the clone

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import expect, sync_playwright

    from alignda import app

    demo = app.build_demo()
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("tab", name="Classroom").click()
            page.locator("#classroom_map img").click(position={"x": 230, "y": 70})
            expect(page.locator("#single_obs_text")).to_contain_text(
                "observation at", timeout=60_000
            )
            page.locator("#classroom_map").scroll_into_view_if_needed()
            page.screenshot(path=str(out / "classroom_single_obs.png"), full_page=False)
            page.get_by_role("button", name="Sample the ensemble").click()
            expect(page.locator("#ens_text")).to_contain_text("members", timeout=120_000)
            page.locator("#ens_maps").scroll_into_view_if_needed()
            page.screenshot(path=str(out / "classroom_ensemble.png"), full_page=False)
            box = page.locator("#cycles input[type=number]")
            box.fill(str(args.cycles))
            box.press("Enter")
            page.get_by_role("button", name="Run cycles").click()
            expect(page.locator("#cycle_status")).to_contain_text("done", timeout=600_000)
            page.locator("#sawtooth").scroll_into_view_if_needed()
            page.screenshot(path=str(out / "classroom_cycling.png"), full_page=False)
            browser.close()
    finally:
        demo.close()
    for name in ("single_obs", "ensemble", "cycling"):
        print(out / f"classroom_{name}.png")


if __name__ == "__main__":
    main()
