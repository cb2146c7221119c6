"""What the Chromium tests of the dashboard share: logging in, collecting script errors, screenshots."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.web_support import ARTIFACTS, PASSWORD


def shot(page: Page, name: str) -> None:
    """A full-page screenshot into the test artifacts (for a person to look at; nothing compares them)."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def script_errors(page: Page) -> list[str]:
    """The list ``page``'s uncaught exceptions and console errors are collected into from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def log_in(page: Page, url: str) -> None:
    """Open the dashboard at ``url``, log in with the test password and land on its overview."""
    page.goto(url)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url)
