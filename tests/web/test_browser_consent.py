"""End to end in Debian's Chromium: preview and give a grant, keep its receipt, revoke it, read what left,
and download the data passport."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.web.web_support import ARTIFACTS, PASSWORD, RunningHub

PHONE = {"width": 390, "height": 844}


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_owner_grants_revokes_audits_and_exports(
    running_hub: RunningHub, chromium: Any, tmp_path: Path
) -> None:
    browser: Browser = chromium
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, accept_downloads=True
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto(running_hub.url)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(running_hub.url)
    expect(page.locator('[data-upstream] [data-f="outbox"]')).to_have_text("0")
    expect(page.locator('[data-upstream] [data-f="broker"]')).to_have_text("not configured")
    # A few seconds of tank readings, so the preview has a whole window of real data to show.
    page.wait_for_function(
        "() => Number(document.querySelector('[data-stat=\"committed\"]').textContent) >= 30", timeout=20_000
    )

    page.get_by_role("navigation").get_by_role("link", name="Consent").click()
    expect(page.get_by_role("heading", name="Consent")).to_be_visible()
    expect(page.get_by_text("No grants: nothing leaves this hub.")).to_be_visible()
    page.get_by_label("Recipient").fill("energy-coop")
    page.get_by_label("Purpose").fill("heating advice")
    page.get_by_label("Strands").fill("tank.level")
    page.get_by_label("Granularity").fill("summary:2s")
    page.get_by_label("Round to decimal places").fill("1")
    page.get_by_label("Ends after").fill("30d")
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("heading", name="Check before granting")).to_be_visible()
    summary = page.locator("[data-summary]")
    expect(summary).to_contain_text("energy-coop would receive tank.level for “heating advice”")
    expect(summary).to_contain_text("one message per strand every 2s")
    expect(page.locator('[data-f="topics"]')).to_have_text("hearth/v1/e2e-hub/energy-coop/tank.level")
    expect(
        page.get_by_role("heading", name=re.compile(r"what would have left for .* UTC to .* UTC"))
    ).to_be_visible()
    example = json.loads(page.locator("pre[data-example]").first.inner_text())
    assert example["stream"] == "tank.level"
    assert example["end"] - example["start"] == 2
    assert example["count"] > 0
    assert example["min"] <= example["mean"] <= example["max"]
    assert example["mean"] == round(example["mean"], 1)
    _shot(page, "20-consent-preview")

    page.get_by_role("button", name="Give this grant").click()
    expect(page).to_have_url(re.compile(r"/consent\?granted=g-[0-9a-f]+$"))
    grant_id = page.url.rsplit("=", 1)[1]
    row = page.locator(f'tr[data-grant="{grant_id}"]')
    expect(row.locator('[data-f="status"]')).to_have_text("active")
    expect(row).to_contain_text("energy-coop")
    expect(row).to_contain_text("summary:2s, rounded to 1 decimal place")
    _shot(page, "21-consent-granted")

    row.get_by_role("link", name="Receipt").click()
    expect(page.get_by_role("heading", name=f"Receipt for {grant_id}")).to_be_visible()
    expect(page.locator("pre[data-receipt]")).to_contain_text('"thirdPartyName": "energy-coop"')
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the receipt (JSON)").click()
    receipt_path = tmp_path / "receipt.json"
    download_info.value.save_as(receipt_path)
    receipt = json.loads(receipt_path.read_text())
    assert receipt["grantId"] == grant_id
    assert receipt["processing"]["strands"] == ["tank.level"]
    _shot(page, "22-consent-receipt")

    page.get_by_role("link", name="Back to consent").click()
    page.get_by_role("button", name=f"Revoke {grant_id}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Revoked {grant_id}")
    expect(page.locator(f'tr[data-grant="{grant_id}"] [data-f="status"]')).to_have_text("revoked")
    _shot(page, "23-consent-revoked")

    page.get_by_role("navigation").get_by_role("link", name="What left").click()
    expect(page.get_by_role("heading", name="What left my home")).to_be_visible()
    expect(page.locator('[data-f="verification"]')).to_have_text(
        "Verified: all 2 entries of the audit log are intact."
    )
    expect(page.locator('[data-upstream] [data-f="outbox"]')).to_have_text("0")
    expect(page.locator('[data-upstream] [data-f="broker"]')).to_have_text("not configured")
    expect(page.locator('[data-audit] tr[data-kind="grant"]')).to_contain_text(grant_id)
    expect(page.locator('[data-audit] tr[data-kind="revoke"]')).to_contain_text(grant_id)
    page.get_by_label("Kind").select_option("revoke")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("[data-audit] tbody tr")).to_have_count(1)
    _shot(page, "24-what-left")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export my passport").click()
    download = download_info.value
    assert re.fullmatch(r"hearth-passport-e2e-hub-\d{8}-\d{6}\.zip", download.suggested_filename)
    archive_path = tmp_path / download.suggested_filename
    download.save_as(archive_path)
    with zipfile.ZipFile(archive_path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        grants = [json.loads(line) for line in archive.read("ledger/grants.jsonl").splitlines()]
    assert manifest["format"] == "hearth-passport/1"
    assert manifest["hub_id"] == "e2e-hub"
    assert manifest["audit_head"]["seq"] == 2
    assert manifest["files"]["readings/readings.csv"]["rows"] > 0
    assert [g["id"] for g in grants] == [grant_id]
    # The temporary archive is gone from the hub once sent.
    data_dir = running_hub.config.parent / "data"
    assert not list(data_dir.glob(".passport-*"))

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert errors == [], errors
    context.close()


def test_a_grant_form_mistake_names_the_forms_field_and_marks_it(
    running_hub: RunningHub, chromium: Any
) -> None:
    """The consent layer words a mistake once; in the browser it names the form's fields, never an option."""
    browser: Browser = chromium
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(running_hub.url)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation").get_by_role("link", name="Consent").click()

    page.get_by_label("Recipient").fill("energy-coop")
    page.get_by_label("Purpose").fill("heating advice")
    page.get_by_label("Strands").fill("tank.levle")
    page.get_by_label("Granularity").fill("summary:1h")
    page.get_by_role("button", name="Preview").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("no strand 'tank.levle' on this hub")
    expect(alert).to_contain_text("strands on this hub: tank.level")
    expect(page.get_by_label("Strands")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Strands")).to_have_value("tank.levle")
    _shot(page, "25-consent-unknown-strand")

    page.get_by_label("Strands").fill("tank.level")
    page.get_by_label("Mechanism").select_option("laplace")
    page.get_by_label("Privacy loss per message").fill("0.5")
    page.get_by_label("Privacy budget").fill("8/day")
    page.get_by_role("button", name="Preview").click()
    expect(alert).to_have_text(
        "noise needs bounds LO..HI: values are clamped to them (“Bounds”: for example 10..35)"
    )
    expect(page.get_by_label("Bounds")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Strands")).not_to_have_attribute("aria-invalid", "true")
    _shot(page, "26-consent-field-named")

    # A glob for a device adopted later is previewed, with a warning that it names nothing yet.
    page.get_by_label("Mechanism").select_option("")
    page.get_by_label("Strands").fill("climate.*")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Check before granting")).to_be_visible()
    expect(page.locator("[data-warning]")).to_contain_text("climate.* names no strand on this hub yet")
    assert errors == [], errors
    context.close()
