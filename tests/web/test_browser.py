"""End to end in Debian's Chromium: log in, read the overview, watch a stream's value change live, log out."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, expect

from tests.web.browser_support import shot
from tests.web.web_support import PASSWORD, RunningHub

PHONE = {"width": 390, "height": 844}


def test_owner_logs_in_watches_a_live_value_and_logs_out(running_hub: RunningHub, chromium: Any) -> None:
    browser: Browser = chromium
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The wrong password's 401 is logged by the browser as a failed load; script errors are what count.
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )

    page.goto(running_hub.url)
    expect(page).to_have_url(running_hub.url + "login")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shot(page, "01-login")

    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong password.")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(running_hub.url)
    expect(page.get_by_role("heading", name="Test flat")).to_be_visible()
    expect(page.locator('tr[data-source="tank"] [data-f="state"]')).to_have_text("running")
    # The figures move without a reload: they come from the server-sent stats events.
    committed = page.locator('[data-stat="committed"]')
    first = committed.inner_text()
    expect(committed).not_to_have_text(first, timeout=10_000)
    expect(page.locator("#live")).to_be_visible()
    shot(page, "02-overview")

    page.get_by_role("link", name="Streams").click()
    expect(page.get_by_role("heading", name="Devices and streams")).to_be_visible()
    drawn = re.compile(r"^[\d.]+,[\d.]+ [\d.]+,[\d.]+")
    expect(page.locator('[data-stream="tank.level"] polyline')).to_have_attribute("points", drawn)
    shot(page, "03-streams")

    page.get_by_role("link", name="level").click()
    expect(page.get_by_role("heading", name="tank.level")).to_be_visible()
    value = page.locator('[data-stream="tank.level"] [data-live="value"]')
    seen = value.inner_text()
    page.wait_for_function(
        "([el, before]) => el.textContent !== before", arg=[value.element_handle(), seen], timeout=10_000
    )
    later = value.inner_text()
    page.wait_for_function(
        "([el, before]) => el.textContent !== before", arg=[value.element_handle(), later], timeout=10_000
    )
    shot(page, "04-stream")

    # Nothing overflows sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(running_hub.url + "login")
    page.goto(running_hub.url + "streams")
    expect(page).to_have_url(running_hub.url + "login")
    shot(page, "05-logged-out")
    assert errors == [], errors
    context.close()
