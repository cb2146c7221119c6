"""In Debian's Chromium: a forecast stream's page draws its history, forecast, interval band and anomalies."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from agent.readings import Reading, StreamInfo
from agent.store.readings import open_readings
from tests.web.conftest import _run_hub
from tests.web.web_support import ARTIFACTS, PASSWORD, RunningHub

HOUR = 3600.0


@pytest.fixture
def forecasting_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """The dashboard's test hub with a cellar thermometer's two days on file, forecast by [prediction],
    and the anomaly the hub reported when a door was left open four hours ago."""
    data = tmp_path / "data"
    data.mkdir()
    store = open_readings(data)
    now = math.floor(time.time() / HOUR) * HOUR
    readings = []
    for i in range(2 * 24 * 6):
        ts = now - 2 * 86400 + i * 600
        readings.append(Reading("cellar.temperature", ts, 12 + math.cos(2 * math.pi * ts / 86400)))
    anomaly = "anomaly.cellar.temperature"
    readings += [
        Reading(anomaly, now - 4 * HOUR, 3.2, "expected 11.1..12.9, saw 18"),
        Reading(anomaly, now - 2 * HOUR, 0.0, "expected 11..12.8, saw 12"),
    ]
    store.write_batch(
        readings,
        [
            ("simulated", StreamInfo.of("cellar", "temperature", "°C")),
            ("prediction", StreamInfo(anomaly, "anomaly", "cellar.temperature")),
        ],
    )
    store.close()
    prediction = '[prediction]\nstreams = ["cellar.temperature"]\nhorizons = ["1h", "3h", "6h"]\n'
    yield from _run_hub(tmp_path, prediction)


def test_a_forecast_streams_page_draws_history_forecast_band_and_anomalies(
    forecasting_hub: RunningHub, chromium: Any
) -> None:
    browser: Browser = chromium
    page = browser.new_context().new_page()
    page.goto(forecasting_hub.url + "login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(forecasting_hub.url)
    page.goto(forecasting_hub.url + "streams/cellar.temperature")
    figure = page.locator('[data-forecast="cellar.temperature"]')
    expect(figure).to_be_visible()
    expect(figure.locator("figcaption")).to_contain_text("80 % interval and anomalies")
    for shape in ("polyline.history", "polyline.forecast", "polygon.band"):
        expect(figure.locator(shape)).to_have_attribute("points", re.compile(r"\d"))
    expect(figure.locator("g.anomaly")).to_have_count(1)
    expect(figure.locator("g.anomaly title")).to_contain_text("anomaly, score")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "forecast.png"), full_page=True)
