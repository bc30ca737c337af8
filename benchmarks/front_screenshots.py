"""Screenshots of the app's trade-off front as the physics weight moves (asserts nothing).

Serves the real app on 127.0.0.1, drives it with headless chromium (playwright): ``--mode``
(default: the app's, the hybrid) at ``--steps`` x ``--members`` (default 32 x 4) on shipped
case 0, weights accuracy 1, forecast 1 and physics at each given value; after each run the
"Trade-off front" button draws the front, and its plot is saved as
``<out>/front_<mode>_physics<w>.png``.

    python benchmarks/front_screenshots.py --physics 0,10 --out docs/images
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from alignda.experiment import DEFAULT

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ALIGNDA_BUDGET_S", "inf")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # alignda from the clone

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def set_number(page, selector: str, value: float) -> None:
    """Type a value into a slider's number box and commit it."""
    box = page.locator(selector)
    box.fill(f"{value:g}")
    box.press("Enter")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--physics", default="0,10", help="physics weights, one screenshot each")
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--steps", type=int, default=DEFAULT.method.steps)
    ap.add_argument("--members", type=int, default=DEFAULT.method.members)
    ap.add_argument("--mode", default=DEFAULT.method.mode)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import expect, sync_playwright

    from alignda import app, studio_tab

    demo = app.build_demo()
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = studio_tab.WEIGHT_LABELS
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1300})
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("button", name="Assimilate").wait_for(timeout=60_000)
            page.get_by_label(args.mode, exact=True).check()
            set_number(page, "#steps input[type=number]", args.steps)
            set_number(page, "#members input[type=number]", args.members)
            for name, value in (("accuracy", 1), ("forecast", 1), ("multi", 0)):
                set_number(page, f'input[aria-label="number input for {labels[name]}"]', value)
            for w in (float(x) for x in args.physics.split(",")):
                box = f'input[aria-label="number input for {labels["physics"]}"]'
                set_number(page, box, w)
                plot = page.locator("#tradeoff img")
                old = plot.get_attribute("src") if plot.count() else None
                page.get_by_role("button", name="Assimilate").click()
                if old:  # the plot of the previous run is replaced by this run's
                    expect(plot).not_to_have_attribute("src", old, timeout=300_000)
                expect(page.locator("#notes")).to_contain_text("Timings", timeout=300_000)
                page.wait_for_timeout(1000)
                before = plot.get_attribute("src")
                page.get_by_role("button", name="Trade-off front").click()
                expect(plot).not_to_have_attribute("src", before or "", timeout=600_000)
                page.wait_for_timeout(1000)
                path = out / f"front_{args.mode}_physics{w:g}.png"
                page.locator("#tradeoff").screenshot(path=str(path))
                print(path)
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    main()
