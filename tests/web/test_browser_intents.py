"""End to end in Debian's Chromium: publish an intent, read a hostile vendor's offer as inert text, answer
it, withdraw the intent, and find every step under "What left"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.testbed.mosquitto import Mosquitto
from tests.testbed.vendor import Vendor
from tests.testbed.wait import wait_until
from tests.web.browser_support import log_in, shot
from tests.web.web_support import RunningHub

PHONE = {"width": 390, "height": 844}

# What a hostile vendor sends: each piece would set ``window.pwned`` (or make an element) if it were
# rendered as markup, run, or made a link.
VENDOR = '<b id="bold">Acme</b> Heat <img id="logo" src=x onerror="window.pwned=\'vendor\'">'
TEXT = (
    "Heat pump, fitted in a day.\n"
    '<script id="inject">window.pwned = "script"</script>\n'
    '<img id="pixel" src=x onerror="window.pwned=\'img\'">\n'
    '<a id="click" href="javascript:window.pwned=\'href\'">claim your voucher</a>'
)
PRICE = "<i>from 7900 EUR</i>"
LINKS = ("javascript:window.pwned='link'", "https://acme.example/<script>x</script>")
ANSWER = "Please call 0123 456789 on weekdays"


@pytest.fixture
def vendor(market_broker: Mosquitto) -> Iterator[Vendor]:
    """examples/vendor.py serving heating intents with the hostile offer, subscribed before any intent."""
    made = Vendor(
        market_broker.port,
        *("--category", "heating", "--name", VENDOR, "--text", TEXT, "--price", PRICE),
        *(arg for link in LINKS for arg in ("--link", link)),
    )
    try:
        made.next("ready")
        yield made
    finally:
        made.stop()


def _offer_shown(page: Page) -> bool:
    page.reload()
    return page.locator('[data-offer="1"]').count() == 1


def test_a_hostile_offer_renders_inert_and_the_owner_answers_it_and_withdraws(
    running_market_hub: RunningHub, vendor: Vendor, chromium: Any
) -> None:
    browser: Browser = chromium
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A blocked inline script or an image that failed to load would both be console errors here.
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    url = running_market_hub.url

    log_in(page, url)

    page.get_by_role("navigation").get_by_role("link", name="Intents").click()
    expect(page.get_by_role("heading", name="Intents", exact=True)).to_be_visible()
    expect(page.get_by_text("No intents yet.")).to_be_visible()
    expect(page.locator("[data-market-grants]")).to_contain_text("No active grant to the recipient market")
    page.get_by_label("Category").select_option("heating")
    page.get_by_label("What you want").fill("offers for an air-to-water heat pump")
    page.get_by_label("Stays up for").fill("2h")
    page.get_by_role("button", name="Publish intent").click()
    expect(page).to_have_url(re.compile(r"/intents/[0-9a-f]{32}\?created=1$"))
    intent_id = page.url.split("/intents/", 1)[1].split("?", 1)[0]
    expect(page.locator('[data-f="status"]')).to_have_text("published")
    expect(page.locator('[data-f="shows"]')).to_have_text("only the category and text")

    # The vendor reads the intent off the real market and sends its offer to the intent's reply topic;
    # the hub's intent service collects it into the inbox.
    sent = vendor.next("offer")
    assert sent["intent"] == intent_id
    wait_until(lambda: _offer_shown(page), "the offer to reach the inbox")
    offer = page.locator('[data-offer="1"]')

    # Inert: nothing ran, no element was made from the offer, and every piece shows as the vendor wrote it.
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert dialogs == []
    for made in ("bold", "logo", "inject", "pixel", "click"):
        assert page.locator(f"#{made}").count() == 0, made
    assert offer.locator("script, img, a, b, i, iframe").count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    assert offer.locator('[data-f="vendor"]').inner_text() == VENDOR
    assert offer.locator('[data-f="text"]').inner_text() == TEXT
    assert offer.locator('[data-f="price"]').inner_text() == PRICE
    assert offer.locator('[data-f="links"] code').all_inner_texts() == list(LINKS)
    expect(offer.locator('[data-f="links"]')).to_contain_text("link (not opened)")
    assert not [r for r in requests if not r.startswith(url)], requests
    shot(page, "30-intent-hostile-offer")

    offer.get_by_label("Your answer to offer 1").fill(ANSWER)
    offer.get_by_role("button", name="Send answer to offer 1").click()
    expect(page.get_by_role("status")).to_contain_text("Answered offer 1")
    got = vendor.next("answer")["answer"]
    assert got == {"v": 1, "intent": intent_id, "ref": sent["offer"]["ref"], "text": ANSWER}
    expect(page.locator('[data-offer="1"] [data-f="answer"]')).to_contain_text(ANSWER)

    page.get_by_role("button", name="Withdraw").click()
    expect(page).to_have_url(f"{url}intents?withdrawn={intent_id}")
    row = page.locator(f'tr[data-intent="{intent_id}"]')
    expect(row.locator('[data-f="status"]')).to_have_text("withdrawn")
    expect(row.locator('[data-f="offers"]')).to_have_text("1")
    assert vendor.next("cleared")["topic"].endswith(intent_id)
    shot(page, "31-intent-withdrawn")

    page.get_by_role("navigation").get_by_role("link", name="What left").click()
    audit = page.locator("[data-audit]")
    for kind in ("intent", "intent publish", "intent offer", "intent answer", "intent end", "intent clear"):
        expect(audit.locator(f'tr[data-kind="{kind}"]').first).to_contain_text(intent_id[:12])
    expect(audit.locator('tr[data-kind="intent answer"]')).to_contain_text(ANSWER)

    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert errors == [], errors
    context.close()
