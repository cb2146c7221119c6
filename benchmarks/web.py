"""What the dashboard costs: page weight in a real browser, and the server's CPU and memory.

Runs `hearth run` with 20 sensors at 1 Hz three times: without the dashboard (the baseline), with it
and no browser, and with one browser (Debian's Chromium, headless) on the streams page receiving
every stream live over server-sent events. Also loads each page with a cold and a warm cache and
counts requests and bytes (headers + bodies as sent; the endless event stream counts as a request),
on a hub that also has simulated BLE devices (and neighbours) and the activity model on a replayed
wrist IMU, so the BLE and context pages show what they would at home, and with three grants (one
revoked) for the consent and audit pages.

    python benchmarks/web.py [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import report
from idle import hearth_run, hub_config, measure

from tests.testbed.dashboard import CHROMIUM, CHROMIUM_ARGS, WRIST_ACTIVITY
from tests.testbed.mosquitto import free_port
from tests.testbed.wait import wait_until

PASSWORD = "benchmark password"
PAGES_EXTRA = (
    """
[[sources]]
kind = "ble"
name = "ble"
simulate = true
"""
    + WRIST_ACTIVITY
)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "login", timeout=1):
            return True
    except (urllib.error.URLError, ConnectionError):
        return False


def wait_for(url: str) -> None:
    wait_until(lambda: answers(url), "the dashboard to answer", 30, every=0.2)


def log_in(context: Any, url: str) -> Any:
    """A new page of ``context``, logged in to the dashboard at ``url``."""
    page = context.new_page()
    page.goto(url + "login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url)
    return page


def page_weights(browser: Any, url: str) -> list[tuple[str, int, int, int, int]]:
    """(page, cold requests, cold bytes, warm requests, warm bytes) for each page, over the network."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = log_in(context, url)
    # Open the BLE page once so the hub has heard its (simulated) neighbours when it is weighed.
    page.goto(url + "ble")
    page.wait_for_timeout(3000)
    cookies = context.cookies()
    context.close()
    rows = []
    for path in ("login", "", "streams", "streams/room0.temperature", "context", "ble", "consent", "audit"):
        context = browser.new_context(viewport={"width": 390, "height": 844})
        if path != "login":
            context.add_cookies(cookies)
        page = context.new_page()
        figures: list[int] = []
        for _ in range(2):  # cold, then warm cache
            finished: list[Any] = []
            streams: list[Any] = []

            def on_finished(request: Any, into: list[Any] = finished) -> None:
                into.append(request)

            def on_request(request: Any, into: list[Any] = streams) -> None:
                if "/events" in request.url:
                    into.append(request)

            page.on("requestfinished", on_finished)
            page.on("request", on_request)
            page.goto(url + path, wait_until="load")
            page.wait_for_timeout(1500)
            page.remove_listener("requestfinished", on_finished)
            page.remove_listener("request", on_request)
            sent = 0
            total = 0
            for request in finished:
                sizes = request.sizes()
                size = sizes["responseHeadersSize"] + sizes["responseBodySize"]
                if sizes["responseHeadersSize"] > 0:  # cache hits transfer nothing
                    sent += 1
                    total += size + sizes["requestHeadersSize"]
            figures += [sent + len(streams), total]
        rows.append(("/" + path, figures[0], figures[1], figures[2], figures[3]))
        context.close()
    return rows


def add_grants(config: Path) -> None:
    """Three grants (one of them revoked), so the consent and audit pages show what they would at home."""
    hearth = [sys.executable, "-m", "agent", "consent"]
    for i, granularity in enumerate(("summary:1h", "summary:15m", "summary:1d")):
        subprocess.run(
            [
                *hearth,
                "grant",
                "-c",
                str(config),
                "--recipient",
                f"recipient-{i}",
                "--purpose",
                "benchmark page weight",
                "--strand",
                f"room{i}.*",
                "--granularity",
                granularity,
                "--expires",
                "90d",
            ],
            check=True,
            capture_output=True,
        )
    # Revoke the newest, as `hearth consent revoke` does.
    from agent.config import load_config
    from agent.consent.ledger import grants, revoke
    from agent.store.ledger import open_ledger

    ledger = open_ledger(Path(load_config(config).hub.data_dir))
    try:
        revoke(ledger, grants(ledger, now=time.time())[0].grant.id, now=time.time())
    finally:
        ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a CI-sized run")
    args = parser.parse_args()
    seconds = 10.0 if args.quick else 60.0
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain = hub_config(folder)
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        with_web = folder / "web.toml"
        with_web.write_text(plain.read_text() + f"[web]\nport = {port}\n")
        with_pages = folder / "pages.toml"
        with_pages.write_text(with_web.read_text() + PAGES_EXTRA)
        secret = folder / "secret"
        secret.write_text(PASSWORD)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "agent",
                "web",
                "set-password",
                "-c",
                str(with_web),
                "--password-file",
                str(secret),
            ],
            check=True,
            capture_output=True,
        )
        add_grants(with_web)
        base, base_rss = measure(hearth_run(plain), 3.0, seconds)
        idle, idle_rss = measure(hearth_run(with_web), 3.0, seconds)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

            def one_browser() -> Any:
                wait_for(url)
                context = browser.new_context()
                page = log_in(context, url)
                page.goto(url + "streams")
                page.locator("#live:not([hidden])").wait_for()
                return context

            live, live_rss = measure(hearth_run(with_web), 3.0, seconds, during=one_browser)

            def weights() -> Any:
                wait_for(url)
                for name, cold_n, cold_b, warm_n, warm_b in page_weights(browser, url):
                    print(
                        f"page {name:28s} cold: {cold_n} requests, {cold_b / 1024:5.1f} KiB;"
                        f" warm: {warm_n} requests, {warm_b / 1024:5.1f} KiB"
                    )
                return None

            measure(hearth_run(with_pages), 0.0, 0.0, during=weights)
            browser.close()
    print(f"hub without dashboard        : {base * 100:6.2f} % of a core, {base_rss:5.1f} MB RSS")
    print(f"dashboard on, no browser     : {idle * 100:6.2f} % of a core, {idle_rss:5.1f} MB RSS")
    print(f"dashboard, one live browser  : {live * 100:6.2f} % of a core, {live_rss:5.1f} MB RSS")
    report("web", live * 100, "% of a core", baseline=base * 100, ratio=None, target="<= 1")


if __name__ == "__main__":
    main()
