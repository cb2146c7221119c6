"""End to end in Chromium: adopt a simulated BLE thermometer, watch it live, forget it; see context."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.testbed.wait import wait_until
from tests.web.browser_support import log_in, script_errors, shot
from tests.web.web_support import RunningHub

PHONE = {"width": 390, "height": 844}
BEDROOM = "A4:C1:38:8D:18:B2"


def _opens(page: Page, url: str) -> bool:
    response = page.goto(url)
    return response is not None and response.status == 200


def test_owner_adopts_watches_and_forgets_a_ble_device_and_sees_context(
    running_ble_hub: RunningHub, chromium: Any
) -> None:
    url = running_ble_hub.url
    browser: Browser = chromium
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    errors = script_errors(page)

    log_in(page, url)

    # Nearby devices arrive live on the open page, without a reload.
    page.get_by_role("link", name="BLE").click()
    expect(page.get_by_role("heading", name="BLE devices")).to_be_visible()
    row = page.locator(f'tr[data-address="{BEDROOM}"]')
    expect(row.locator('[data-f="name"]')).to_have_text("ATC_8D18B2", timeout=10_000)
    expect(row.locator('[data-f="kind"]')).to_contain_text("bthome (Temperature/Humidity sensor)")
    heard = row.locator('[data-f="seen"]')
    first = heard.inner_text()
    expect(heard).not_to_have_text(first, timeout=10_000)
    shot(page, "11-ble-nearby")

    # Adopting: a bad name is refused on the page; a good one is adopted.
    row.get_by_role("link", name="Adopt").click()
    expect(page.get_by_label("Address")).to_have_value(BEDROOM)
    page.get_by_label("Name").fill("Bed Room!")
    page.get_by_role("button", name="Adopt").click()
    expect(page.get_by_role("alert")).to_contain_text("not a usable device name")
    shot(page, "12-ble-adopt-error")
    page.get_by_label("Name").fill("bedroom")
    page.get_by_role("button", name="Adopt").click()
    expect(page.get_by_role("status")).to_contain_text("Adopted bedroom")
    expect(page.locator('[data-adopted="bedroom"]')).to_contain_text(BEDROOM)
    expect(page.locator(f'tr[data-address="{BEDROOM}"]')).to_have_count(0)
    shot(page, "13-ble-adopted")

    # Its temperature is recorded and changes live on its stream page.
    wait_until(lambda: _opens(page, url + "streams/bedroom.temperature"), "the adopted device's stream")
    expect(page.get_by_role("heading", name="bedroom.temperature")).to_be_visible()
    value = page.locator('[data-stream="bedroom.temperature"] [data-live="value"]')
    seen = value.inner_text()
    page.wait_for_function(
        "([el, before]) => el.textContent !== before", arg=[value.element_handle(), seen], timeout=15_000
    )
    shot(page, "14-ble-stream")

    # Forgetting asks first, then erases the device's data.
    page.goto(url + "ble")
    page.locator('[data-adopted="bedroom"]').get_by_role("link", name="Forget…").click()
    expect(page.get_by_role("heading", name="Forget bedroom?")).to_be_visible()
    shot(page, "15-ble-forget")
    page.get_by_role("button", name="Forget and erase").click()
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"Forgot bedroom and erased \d+ readings"))
    expect(page.get_by_text("No BLE devices adopted yet.")).to_be_visible()
    response = page.goto(url + "streams/bedroom.temperature")
    assert response is not None
    assert response.status == 404

    # The wearer's activity appears on the context timeline as the model classifies the wrist IMU.
    page.goto(url)
    page.get_by_role("link", name="Context").click()
    strand = page.locator('[data-stream="context.activity"]')
    expect(strand.get_by_role("heading", name="activity")).to_be_visible()
    expect(strand.locator('[data-live="value"]')).to_have_text(re.compile(r"^[a-z_]+$"), timeout=30_000)
    expect(strand.locator("ol[data-changes] li").first).to_be_visible()
    shot(page, "16-context")
    page.get_by_role("link", name="day").click()
    expect(strand.locator("svg.timeline rect").first).to_be_attached()
    shot(page, "17-context-day")

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # A 404 page load is logged by the browser as a failed resource: that one is expected.
    assert [e for e in errors if not e.startswith("Failed to load resource")] == [], errors
    context.close()
