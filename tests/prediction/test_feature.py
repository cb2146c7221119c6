"""The prediction feature on a fake hub: real readings file, real recorder, history in the file, live feed.

What a user notices: forecasts of a stream appear as ``forecast.<stream>.<horizon>`` strands with their
interval, an injected fault becomes an ``anomaly.<stream>`` event, a draining battery gets a days-left
estimate and a low-battery event, and a restart picks up the learned state instead of starting over.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.config.loader import config_from_mapping
from agent.config.schema import PredictionConfig
from agent.prediction.service import BACKLOG, Prediction, Settings
from agent.prediction.strands import STEPS, anomaly_kind, parse_expected, parse_interval
from agent.readings import Reading, StreamInfo
from agent.store import forecasts
from agent.store.readings import open_readings
from tests.conftest import eventually
from tests.hub.fake_hub import FakeHub
from tests.hub.test_fake_hub import make_hub, running, set_up

HOUR = 3600.0
# The start of the hub's (UTC) part of the day in progress. On other hours a part of the day can end at the
# very hour the stuck heater's run of steps becomes an anomaly; both events then share one time, and the
# file keeps one reading per stream and time: the part's.
NOW = math.floor(time.time() / (6 * HOUR)) * 6 * HOUR


def temperature(ts: float) -> float:
    """A bedroom: 20 °C on average, 3 °C warmer in the afternoon than before dawn."""
    return 20.0 + 3.0 * math.sin(2 * math.pi * ((ts / 86400) % 1 - 0.375))


def fill_history(data: Path, days: int = 10) -> None:
    """``days`` of hourly bedroom temperatures (six readings an hour) and a porch battery losing 2 %/day."""
    store = open_readings(data)
    readings = []
    start = NOW - days * 86400
    for i in range(days * 24 * 6):
        ts = start + i * 600
        readings.append(Reading("bedroom.temperature", ts, temperature(ts) + 0.1 * math.sin(i * 7.3)))
        readings.append(Reading("porch.battery", ts, round(60 - 2 * (ts - start) / 86400)))
    store.write_batch(
        readings,
        [
            ("simulated", StreamInfo.of("bedroom", "temperature", "°C")),
            ("ble", StreamInfo.of("porch", "battery", "%")),
        ],
    )
    store.close()


def config(**overrides: Any) -> dict[str, Any]:
    return {
        "streams": ["bedroom.temperature"],
        "horizons": ["1h", "2h", "6h"],
        "anomaly_min_duration": "2h",
        "battery_warning_days": 40,
        **overrides,
    }


def latest(data: Path, stream: str) -> list[tuple[float, float, str | None]]:
    store = open_readings(data, read_only=True)
    try:
        return store.conn.execute(
            "SELECT r.ts, r.value, r.label FROM readings r JOIN streams s ON s.id = r.stream_id"
            " WHERE s.name = ? ORDER BY r.key",
            (stream,),
        ).fetchall()
    finally:
        store.close()


async def test_forecasts_anomalies_and_battery_from_history_and_the_live_feed(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, prediction=config())
    fill_history(hub.data_dir)
    prediction = set_up(hub, "prediction")
    assert isinstance(prediction, Prediction)
    assert set(hub.services) == {"prediction"}
    sink = hub.recorder.sink("bedroom", "simulated", "block")
    sink.declare(StreamInfo.of("bedroom", "temperature", "°C"))
    async with running(hub):
        await eventually(prediction.ready.is_set, "the history to be learned")
        assert prediction.fresh == ["bedroom.temperature"]
        steps = prediction.stats["steps"]
        # Live: the hour in progress, then five hours of a heater stuck on (+8 °C), then normal again
        # (long enough for a part of the day after the fault to be judged usual too).
        for hour in range(20):
            ts = NOW + hour * HOUR
            fault = 8.0 if 1 <= hour <= 5 else 0.0
            for minute in (0, 20, 40):
                sink.put_nowait(Reading("bedroom.temperature", ts + minute * 60, temperature(ts) + fault))
        await eventually(lambda: prediction.stats["anomalies"] >= 1, "an anomaly")
        await eventually(
            lambda: not prediction.streams["bedroom.temperature"].anomalous, "the anomaly to end"
        )
        await eventually(lambda: prediction.stats["steps"] >= steps + 19, "the hours fed to be learned")
        live = prediction.live()
    two_hours = latest(hub.data_dir, "forecast.bedroom.temperature.2h")
    assert len(two_hours) >= 2
    made_at, value, label = two_hours[0]
    assert made_at == NOW  # the forecast from history: made when the last whole hour ended
    interval = parse_interval(label)
    assert interval is not None
    assert interval.level == 0.8
    assert interval.low < value < interval.high
    # The forecaster learned the daily cycle: its 2-hour forecast is within the interval of the truth.
    assert abs(value - temperature(NOW + HOUR)) < 1.0
    events = latest(hub.data_dir, "anomaly.bedroom.temperature")
    # Hours outside the forecast interval: one event when the run is long enough.
    steps_out = [(ts, label) for ts, v, label in events if v > 0 and anomaly_kind(label) == STEPS]
    assert len(steps_out) == 1
    at, label = steps_out[0]
    expected = parse_expected(label)
    assert expected is not None
    assert expected[1] < temperature(NOW + 2 * HOUR) + 8
    assert at == NOW + 3 * HOUR  # two faulty hours (the minimum duration) after it began
    # The parts of the day with the fault in them, against the same parts of the ten days before.
    parts_out = [anomaly_kind(label) for _, v, label in events if v > 0 and anomaly_kind(label) != STEPS]
    assert 1 <= len(parts_out) <= 2
    assert events[-1][1] == 0  # back to normal: neither kind is out any more
    days_left = latest(hub.data_dir, "battery.porch.days_left")
    assert days_left
    assert 18 < days_left[-1][1] < 22  # 40 % left at 2 %/day
    assert [v for _, v, _ in latest(hub.data_dir, "battery.porch.low")] == [1.0]
    assert live["streams"]["bedroom.temperature"]["recent_mae"]["1h"] is not None


async def test_a_restart_takes_the_saved_state_instead_of_learning_afresh(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, prediction=config())
    fill_history(hub.data_dir)
    prediction = set_up(hub, "prediction")
    assert isinstance(prediction, Prediction)
    async with running(hub):
        await eventually(prediction.ready.is_set, "the history to be learned")
        before = prediction.live()["streams"]["bedroom.temperature"]["forecast"]
    store = open_readings(hub.data_dir, read_only=True)
    assert [row[0] for row in forecasts.saved_streams(store.conn)] == ["bedroom.temperature"]
    store.close()

    again = FakeHub(hub.config)  # the same data folder
    restarted = set_up(again, "prediction")
    assert isinstance(restarted, Prediction)
    async with running(again):
        await eventually(restarted.ready.is_set, "the saved state to be read")
        after = restarted.live()["streams"]["bedroom.temperature"]["forecast"]
    assert restarted.fresh == []
    # The same forecasts and intervals (errors are kept as float32).
    assert after.keys() == before.keys()
    for horizon, made in before.items():
        assert after[horizon] == pytest.approx(made, rel=1e-6)


async def test_settings_that_changed_rebuild_from_history(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, prediction=config())
    fill_history(hub.data_dir)
    prediction = set_up(hub, "prediction")
    assert isinstance(prediction, Prediction)
    async with running(hub):
        await eventually(prediction.ready.is_set, "the history to be learned")
    longer = FakeHub(
        msgspec.structs.replace(hub.config, prediction=PredictionConfig(**config(horizons=["1h", "12h"])))
    )
    rebuilt = set_up(longer, "prediction")
    assert isinstance(rebuilt, Prediction)
    async with running(longer):
        await eventually(rebuilt.ready.is_set, "the history to be learned")
    assert rebuilt.fresh == ["bedroom.temperature"]


def test_readings_of_other_streams_do_not_crowd_out_the_forecast_streams_while_the_history_loads(
    tmp_path: Path,
) -> None:
    mapping = {"hub": {"id": "backlog", "data_dir": str(tmp_path)}, "prediction": config()}
    prediction = Prediction(Settings.of(config_from_mapping(mapping, source="test")), None)
    prediction.on_readings([Reading("bedroom.temperature", NOW + 1, 20.5)])
    # A busy plug sends more readings than the backlog holds before the history is learned.
    prediction.on_readings([Reading("plug.power", NOW + i / 300, 5.0) for i in range(BACKLOG + 1)])
    prediction.start_live()
    assert list(prediction.streams) == ["bedroom.temperature"]
