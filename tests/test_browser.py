"""A real headless browser (Debian chromium driven by playwright) runs one assimilation.

The page is loaded from the real app on 127.0.0.1; every other request of the browser is
refused, so nothing is downloaded. The screenshot is written to the test's tmp folder (set
``ALIGNDA_SCREENSHOT=<path.png>`` to keep a copy, e.g. for the README).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.slow,  # a real browser on the session's app
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM} (apt-get install -y chromium)"
    ),
]


@pytest.fixture(scope="module")
def url(app_url: str) -> str:
    """The session's app server (conftest.py)."""
    return app_url


def _local_only(route) -> None:
    host = urlparse(route.request.url).hostname
    if host in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


def _set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, url: str):
    page = browser.new_page(viewport={"width": 1600, "height": 1300})
    page.route("**/*", _local_only)
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("button", name="Assimilate").wait_for(timeout=30_000)
    yield page
    page.close()


def _wait_for_results(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#maps img")).to_be_visible(timeout=90_000)
    expect(page.locator("#scores")).to_contain_text("3D-Var", timeout=10_000)
    expect(page.locator("#notes")).to_contain_text("Observations", timeout=10_000)


def test_page_runs_one_assimilation(page, tmp_path: Path) -> None:
    _set_number(page, "steps", 8)
    _set_number(page, "members", 2)
    page.get_by_role("button", name="Assimilate").click()
    _wait_for_results(page)
    shot = page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
    assert len(shot) > 100_000
    keep = os.environ.get("ALIGNDA_SCREENSHOT")
    if keep:
        shutil.copy(tmp_path / "app.png", keep)


def test_front_button_draws_the_front(page) -> None:
    """The trade-off front of the last scenario replaces the small plot (12 light analyses)."""
    from playwright.sync_api import expect

    _set_number(page, "steps", 4)
    _set_number(page, "members", 1)
    page.get_by_role("button", name="Assimilate").click()
    _wait_for_results(page)
    plot = page.locator("#tradeoff img")
    before = plot.get_attribute("src")
    page.get_by_role("button", name="Trade-off front").click()
    expect(plot).not_to_have_attribute("src", before or "", timeout=180_000)


def test_a_lesson_fills_the_controls_and_runs(page) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Learn").click()
    page.get_by_role("button", name="no guidance (obsfree): the prior alone").click()
    expect(page.get_by_role("tab", name="Studio")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#steps input[type=number]")).to_have_value("32")
    _wait_for_results(page)
    expect(page.locator("#maps img")).to_have_attribute("src", re.compile("maps"))


def _refused(page, message: str) -> None:
    """Click Assimilate and expect an error toast with ``message`` (no results drawn)."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Assimilate").click()
    toast = page.locator("[data-testid=toast-body]").filter(has_text=message)
    expect(toast.first).to_be_visible(timeout=30_000)
    expect(page.locator("#maps img")).to_have_count(0)
    for close in page.locator("[data-testid=toast-close]").all():
        close.click()


def test_bad_input_on_the_page_is_refused_and_the_page_keeps_working(page, tmp_path) -> None:
    case = page.locator("#case input")
    case.fill("not a case")
    case.press("Enter")
    _refused(page, "neither an index nor a time")

    page.locator("#pattern input").click()
    page.get_by_role("option", name="CSV points (upload)").click()
    _refused(page, "needs a CSV file")
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00 not text")
    page.locator("#points input[type=file]").set_input_files(str(junk))
    page.locator("#points").get_by_text("junk.csv").wait_for(timeout=10_000)
    _refused(page, "binary file")

    page.locator("#pattern input").click()
    page.get_by_role("option", name="random").click()
    case.fill("0")
    case.press("Enter")
    _set_number(page, "steps", 8)
    _set_number(page, "members", 2)
    page.get_by_role("button", name="Assimilate").click()
    _wait_for_results(page)


def test_classroom_click_places_an_observation_and_the_cycling_plot_grows(page) -> None:
    """A click on the map assimilates one observation there; a cycling run redraws its
    sawtooth after every analysis, before the run ends."""
    import time

    from playwright.sync_api import expect

    page.get_by_role("tab", name="Classroom").click()
    lat = page.locator("input[aria-label='latitude (deg N)']")
    before = lat.input_value()
    page.locator("#classroom_map img").click(position={"x": 200, "y": 40})
    expect(page.locator("#single_obs_maps img")).to_be_visible(timeout=60_000)
    expect(page.locator("#single_obs_text")).to_contain_text("observation at", timeout=30_000)
    assert lat.input_value() != before  # the click moved the observation

    page.locator("#cycle_methods").get_by_label("default mode (hybrid)").uncheck()
    _set_number(page, "cycles", 3)
    page.get_by_role("button", name="Run cycles").click()
    status, plot = page.locator("#cycle_status"), page.locator("#sawtooth img")
    seen: set[str] = set()
    deadline = time.monotonic() + 180
    while "done" not in status.inner_text() and time.monotonic() < deadline:
        if plot.count():
            seen.add(plot.first.get_attribute("src") or "")
        page.wait_for_timeout(200)
    expect(status).to_contain_text("done", timeout=5_000)
    assert len(seen - {""}) >= 2, seen  # the plot was redrawn while the cycles ran
