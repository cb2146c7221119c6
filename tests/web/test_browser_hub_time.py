"""End to end in Chromium: the dashboard shows and reads times on the hub's clock, not the browser's or the
server process's.

The hub's clock is Pacific/Auckland (+13:00 in December), its process runs on UTC and the browser on
America/New_York, so each of the three zones names a different wall-clock time for the same instant.
"""

from __future__ import annotations

import contextlib
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, expect

from agent.learning import labels
from agent.store.ledger import open_ledger
from tests.web.browser_support import log_in, script_errors
from tests.web.web_support import ARTIFACTS, RunningHub

AUCKLAND = ZoneInfo("Pacific/Auckland")
TYPED = "%Y-%m-%dT%H:%M:%S"


def _labels(data_dir: Path) -> list[tuple[float, float, str]]:
    with contextlib.closing(open_ledger(data_dir, read_only=True)) as conn:
        return [(x.start_ts, x.end_ts, x.cls) for x in labels.listed(conn)]


def _off_by(shown: str, now: float) -> float:
    """Seconds between the clock time ``shown`` (HH:MM:SS) and ``now`` on the hub's clock, across midnight."""
    hub = datetime.fromtimestamp(now, AUCKLAND)
    h, m, s = (int(x) for x in shown.split(":"))
    delta = abs((h * 3600 + m * 60 + s) - (hub.hour * 3600 + hub.minute * 60 + hub.second))
    return min(delta, 86400 - delta)


def test_the_dashboard_shows_and_reads_times_on_the_hubs_clock(
    running_far_hub: RunningHub, chromium: Any
) -> None:
    url = running_far_hub.url
    data_dir = running_far_hub.config.parent / "data"
    browser: Browser = chromium
    context = browser.new_context(viewport={"width": 1024, "height": 900}, timezone_id="America/New_York")
    page = context.new_page()
    errors = script_errors(page)
    # The browser really is on New York's clock: a page's own script would get its hours from it.
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/New_York"

    log_in(page, url)

    # A live time the browser writes is the hub's: the tank's "Updated" moves with every reading.
    page.goto(f"{url}streams/tank.level")
    updated = page.locator('[data-live="time"]')
    expect(updated).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    first = updated.inner_text()
    expect(updated).not_to_have_text(first)  # written by app.js from a live reading now
    shown = updated.inner_text()
    assert re.fullmatch(r"\d\d:\d\d:\d\d", shown), shown
    assert _off_by(shown, time.time()) < 300, shown
    expect(page.locator("[data-zone]")).to_have_text("(Pacific/Auckland)")

    page.goto(f"{url}context")
    strand = page.locator('[data-stream="context.activity"]')
    expect(strand.locator("[data-zone]")).to_contain_text("Pacific/Auckland")
    form = strand.locator("form[data-label-form]")
    start, end = form.get_by_label("From"), form.get_by_label("To")

    # A span typed without a zone is the hub's time, and is listed back as typed.
    start.fill("2026-12-02T14:30:00")
    end.fill("2026-12-02T14:31:00")
    form.get_by_label(re.compile("^Class")).fill("cycling")
    form.get_by_role("button", name="Save label").click()
    expect(page.get_by_role("status")).to_contain_text("Saved label 1.", timeout=30_000)
    at = datetime(2026, 12, 2, 14, 30, tzinfo=AUCKLAND).timestamp()
    assert _labels(data_dir) == [(at, at + 60, "cycling")]
    listed = page.locator('[data-labels="activity"] li')
    expect(listed.first.locator('[data-f="from"]')).to_have_text("2026-12-02T14:30:00")
    expect(listed.first.locator('[data-f="to"]')).to_have_text("2026-12-02T14:31:00")

    # A span selected on the timeline fills the fields with the hub's time of the instants selected.
    bar = strand.locator("svg.timeline")
    box = bar.bounding_box()
    assert box is not None
    bar.click(position={"x": box["width"] * 0.5, "y": box["height"] / 2})
    bar.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    selected = [float(form.locator(f'[data-ts="{k}"]').input_value()) for k in ("from", "to")]
    expect(start).to_have_value(_typed(selected[0]))
    expect(end).to_have_value(_typed(selected[1]))
    page.screenshot(path=str(ARTIFACTS / "45-hub-clock.png"), full_page=True)

    assert errors == [], errors
    context.close()


def _typed(ts: float) -> re.Pattern[str]:
    """What a datetime-local field holds for ``ts`` on the hub's clock: Chromium drops seconds of ``:00``
    from the value it reports (one selection in sixty lands on a whole minute)."""
    text = datetime.fromtimestamp(ts, AUCKLAND).strftime(TYPED)
    whole = text.removesuffix(":00") if text.endswith(":00") else text
    return re.compile(f"^{re.escape(whole)}(:00)?$")
