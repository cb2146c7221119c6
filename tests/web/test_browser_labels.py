"""End to end in Chromium: the owner selects a span on the context timeline, names it, saves, removes it."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from agent.consent.ledger import audit_matching
from agent.learning import labels
from agent.store.ledger import open_ledger
from tests.web.browser_support import log_in, script_errors, shot
from tests.web.web_support import RunningHub


def _ledger(data_dir: Path) -> tuple[list[labels.Label], list[str]]:
    """The owner's labels, and the kinds of the label entries in the audit log (oldest first)."""
    with contextlib.closing(open_ledger(data_dir, read_only=True)) as conn:
        rows, _ = audit_matching(conn, strand="labels.activity", limit=50)
        return labels.listed(conn), [kind for _, _, kind, _ in reversed(rows)]


def _drag(page: Page, bar: Any, start: float, end: float) -> None:
    box = bar.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (start + end) / 2, y, steps=4)
    page.mouse.move(box["x"] + box["width"] * end, y, steps=4)
    page.mouse.up()


def test_owner_labels_a_span_of_the_timeline_with_a_new_class_and_removes_it(
    running_context_hub: RunningHub, chromium: Any
) -> None:
    url = running_context_hub.url
    data_dir = running_context_hub.config.parent / "data"
    browser: Browser = chromium
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    errors = script_errors(page)

    log_in(page, url)
    page.get_by_role("link", name="Context").click()
    strand = page.locator('[data-stream="context.activity"]')
    expect(strand.locator('[data-live="value"]')).to_have_text(re.compile(r"^[a-z_]+$"), timeout=30_000)
    # The model has classified a window: the timeline drawn now ends after at least one window of data.
    page.reload()
    form = strand.locator("form[data-label-form]")
    start, end = form.get_by_label("From"), form.get_by_label("To")
    bar = strand.locator("svg.timeline")

    # Two clicks select a span; a class name the hub refuses is shown back, escaped, with the span kept.
    box = bar.bounding_box()
    assert box is not None
    bar.click(position={"x": box["width"] * 0.5, "y": box["height"] / 2})
    bar.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    expect(strand.locator("rect[data-selection]")).to_be_visible()
    # A datetime-local field reports a whole minute without its ":00" seconds.
    expect(start).to_have_value(re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$"))
    clicked = (start.input_value(), end.input_value())
    assert clicked[0] < clicked[1]
    form.get_by_label(re.compile("^Class")).fill("<b>Heat Pump</b>")
    form.get_by_role("button", name="Save label").click()
    expect(page.get_by_role("alert")).to_contain_text("invalid class name '<b>Heat Pump</b>'")
    expect(page.locator("[role=alert] b")).to_have_count(0)
    expect(start).to_have_value(clicked[0])
    assert _ledger(data_dir) == ([], [])

    # A drag over the last minutes (all the hub has seen) selects them; a new class is typed and saved,
    # and the running hub adapts the model from it at once.
    _drag(page, bar, 0.9, 0.9999)
    selected = (start.input_value(), end.input_value())
    assert selected[0] < selected[1]
    assert selected != clicked
    classes = [o.get_attribute("value") for o in strand.locator("datalist option").all()]
    assert "walking" in classes
    form.get_by_label(re.compile("^Class")).fill("cycling")
    shot(page, "40-label-selected")
    form.get_by_role("button", name="Save label").click()
    expect(page.get_by_role("status")).to_contain_text("Saved label 1.", timeout=30_000)
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"activity (v1: kept|: kept version 0)"))
    listed = page.locator('[data-labels="activity"] li')
    expect(listed).to_have_count(1)
    expect(listed.first.locator('[data-f="class"]')).to_have_text("cycling")
    expect(listed.first.locator('[data-f="from"]')).to_have_text(selected[0])
    expect(listed.first.locator('[data-f="to"]')).to_have_text(selected[1])
    # The page offers the class it now knows.
    assert "cycling" in [o.get_attribute("value") for o in strand.locator("datalist option").all()]
    shot(page, "41-label-saved")

    saved, audited = _ledger(data_dir)
    assert [(x.id, x.model, x.cls) for x in saved] == [(1, "activity", "cycling")]
    assert saved[0].end_ts - saved[0].start_ts > 30
    assert audited == ["label"]

    # Removing it takes it out of the ledger and the list, audited too.
    listed.first.get_by_role("button", name="Remove label 1 (cycling)").click()
    expect(page.get_by_role("status")).to_contain_text("Removed label 1.", timeout=30_000)
    expect(page.locator('[data-labels="activity"] li')).to_have_count(0)
    expect(page.locator('[data-no-labels="activity"]')).to_be_visible()
    assert _ledger(data_dir) == ([], ["label", "label remove"])

    # The refused class came back with 400, which the browser logs as a failed resource: that one is expected.
    assert [e for e in errors if not e.startswith("Failed to load resource")] == [], errors
    context.close()
