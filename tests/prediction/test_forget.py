"""Forgetting a stream on a running hub forgets what the hub made from it: its forecasts, anomalies and
battery estimates are erased with it, the forecaster's saved state goes, recipients that received them
are asked to erase them, and the running forecaster stops learning it until it is recorded again."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from click.testing import CliRunner

from agent.cli import cli
from agent.consent import outbox
from agent.consent.ledger import append_audit
from agent.control.actions import perform
from agent.control.owner import RunningHub
from agent.daemon import Agent
from agent.prediction.service import Prediction
from agent.prediction.strands import source_of
from agent.readings import Reading, StreamInfo
from agent.sources.ble.adoption import AdoptionStore
from agent.store import forecasts
from agent.store.readings import open_readings
from agent.store.sqlite import transaction
from tests.conftest import eventually
from tests.prediction.test_feature import HOUR, NOW, config, fill_history, temperature
from tests.rules.conftest import HandSource, hub_config, running

BEDROOM = StreamInfo.of("bedroom", "temperature", "°C")
PORCH = StreamInfo.of("porch", "battery", "%")


def recorded(data: Path) -> dict[str, int]:
    """Readings on file by stream name (streams without readings too)."""
    store = open_readings(data, read_only=True)
    try:
        return dict(
            store.conn.execute(
                "SELECT s.name, count(r.key) FROM streams s LEFT JOIN readings r ON r.stream_id = s.id"
                " GROUP BY s.name"
            )
        )
    finally:
        store.close()


def saved_states(data: Path) -> list[str]:
    store = open_readings(data, read_only=True)
    try:
        return [name for (name,) in store.conn.execute("SELECT stream FROM forecast_state")]
    finally:
        store.close()


def made_from(data: Path, prefix: str) -> list[str]:
    return sorted(n for n in recorded(data) if (source_of(n) or "").startswith(prefix))


def test_prediction_strands_name_the_stream_they_are_made_from() -> None:
    assert source_of("forecast.bedroom.temperature.2h") == "bedroom.temperature"
    assert source_of("anomaly.freezer.power") == "freezer.power"
    assert source_of("battery.porch.days_left") == "porch.battery"
    assert source_of("battery.porch.low") == "porch.battery"
    for strand in (
        "bedroom.temperature",
        "forecast.bedroom",
        "anomaly.x",
        "battery.porch.level",
        "context.m",
    ):
        assert source_of(strand) is None, strand


class HourlyFeed:
    """Feeds ``home`` hour after hour from NOW: the bedroom's daily cycle and a porch battery running down."""

    def __init__(self, home: HandSource) -> None:
        self.home = home
        self.hour = 0

    def __call__(self, hours: int) -> None:
        for _ in range(hours):
            ts = NOW + self.hour * HOUR
            for minute in (0, 20, 40):
                self.home.feed("bedroom.temperature", temperature(ts), ts=ts + minute * 60)
                self.home.feed("porch.battery", 20.0 - self.hour / 24, ts=ts + minute * 60)
            self.hour += 1


async def learned_and_saved(data: Path) -> None:
    """Until the forecaster's state is saved and its strands and the battery's are on file."""
    await eventually(lambda: "bedroom.temperature" in saved_states(data), "the forecaster's state saved")
    await eventually(lambda: len(made_from(data, "bedroom.")) == 4, "three forecasts and the anomaly")
    await eventually(lambda: len(made_from(data, "porch.")) == 2, "the battery's days left and low")


@asynccontextmanager
async def learned_hub(data: Path) -> AsyncIterator[tuple[Agent, HourlyFeed]]:
    """A hub on ``data`` that learned the history and live hours until the forecaster's state is saved."""
    fill_history(data)
    home = HandSource("home", [BEDROOM, PORCH])
    async with running(hub_config(data, prediction=config()), home) as agent:
        prediction = agent.features["prediction"]
        assert isinstance(prediction, Prediction)
        await home.ready.wait()
        await eventually(prediction.ready.is_set, "the history to be learned")
        feed = HourlyFeed(home)
        feed(8)
        await learned_and_saved(data)
        yield agent, feed


async def test_forget_erases_forecasts_anomalies_batteries_and_state_on_a_running_hub(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = open_readings(data)
    AdoptionStore(store.conn).adopt("A4:C1:38:00:00:01", "porch")  # the porch sensor is a BLE device
    store.close()
    async with learned_hub(data) as (agent, feed):
        prediction = agent.features["prediction"]
        assert isinstance(prediction, Prediction)
        hub = RunningHub(agent)

        # A recipient received one forecast and the battery estimate under a grant.
        def published(conn: sqlite3.Connection) -> None:
            with transaction(conn, immediate=True):
                append_audit(
                    conn,
                    [
                        (NOW, "publish", {"recipient": "acme", "stream": "forecast.bedroom.temperature.2h"}),
                        (NOW, "publish", {"recipient": "acme", "stream": "battery.porch.days_left"}),
                    ],
                )

        await agent.ledger.run(published)

        named = await perform(hub, "forget.preview", {"pattern": "bedroom.temperature"})
        assert named == [
            "anomaly.bedroom.temperature",
            "bedroom.temperature",
            "forecast.bedroom.temperature.1h",
            "forecast.bedroom.temperature.2h",
            "forecast.bedroom.temperature.6h",
        ]
        forgot = await perform(hub, "forget", {"pattern": "bedroom.temperature"})
        assert forgot["streams"] == named
        assert forgot["requests"] == [("acme", "forecast.bedroom.temperature.2h")]
        assert "bedroom.temperature" not in prediction.streams

        # Forgetting the porch device takes its battery estimate with it.
        gone = await perform(hub, "ble.forget", {"name": "porch"})
        assert gone["requests"] == [("acme", "battery.porch.days_left")]
        assert "porch" not in prediction.batteries

        # The sources go on sending both streams for hours: nothing of them, nor made from them, is kept.
        committed = agent.recorder.committed
        feed(8)
        await eventually(lambda: agent.store.undeclared.get("porch.battery", 0) >= 24, "the last hours sent")
        assert agent.recorder.committed > committed
        on_file = recorded(data)
        assert not [n for n in on_file if n.startswith(("bedroom.", "porch."))]
        assert made_from(data, "bedroom.") == []
        assert made_from(data, "porch.") == []
        assert saved_states(data) == []
        assert "bedroom.temperature" not in prediction.streams
        assert prediction.batteries == {}

        queued = await agent.ledger.run(outbox.queued_messages)
        assert [topic.rsplit("/", 1)[1] for topic, _ in queued] == ["_erasure", "_erasure"]
        assert [b"forecast.bedroom.temperature.2h" in p for _, p in queued] == [True, False]
        assert [b"battery.porch.days_left" in p for _, p in queued] == [False, True]

        # Recorded again (the source declares it anew): learned afresh, and forecast again.
        assert feed.home.sink is not None
        feed.home.sink.declare(BEDROOM)
        feed(1)
        await eventually(lambda: recorded(data).get("bedroom.temperature", 0) > 0, "it recorded again")
        feed(3)
        await eventually(
            lambda: recorded(data).get("forecast.bedroom.temperature.1h", 0) > 0, "forecasts of it again"
        )
        assert "bedroom.temperature" in prediction.streams
        assert math.isfinite(prediction.live()["streams"]["bedroom.temperature"]["forecast"]["1h"][0])
    # Stopping saves the new forecaster's state; nothing of the porch's battery comes back.
    assert saved_states(data) == ["bedroom.temperature"]
    assert made_from(data, "porch.") == []


def test_hearth_forget_shows_what_was_made_from_the_stream_and_erases_it(tmp_path: Path) -> None:
    """No hub running: the command works on the files, and says what goes before it goes."""
    data = tmp_path / "data"
    config = tmp_path / "hearth.toml"
    config.write_text(f'[hub]\nid = "cli-hub"\ndata_dir = "{data}"\n')
    store = open_readings(data)
    made = [StreamInfo("forecast.bedroom.temperature.2h", "forecast", "bedroom.temperature.2h", "°C")]
    made.append(StreamInfo("anomaly.bedroom.temperature", "anomaly", "bedroom.temperature"))
    store.write_batch(
        [Reading(info.name, NOW, 1.0) for info in [BEDROOM, *made]],
        [("simulated", BEDROOM), *[("prediction", info) for info in made]],
    )
    forecasts.save_states(store.conn, "hw2", {"bedroom.temperature": b"state"})
    store.close()
    runner = CliRunner()
    refused = runner.invoke(cli, ["forget", "-c", str(config), "bedroom.temperature"])
    assert refused.exit_code == 1
    assert (
        "names 3 strands: anomaly.bedroom.temperature, bedroom.temperature, forecast.bedroom.temperature.2h"
        in refused.output
    )
    done = runner.invoke(cli, ["forget", "-c", str(config), "bedroom.temperature", "--yes"])
    assert done.exit_code == 0, done.output
    assert "3 readings" in done.output
    assert recorded(data) == {}
    assert saved_states(data) == []


async def test_forgetting_only_a_derived_strand_drops_what_was_learned_of_its_stream_at_once(
    tmp_path: Path,
) -> None:
    """A forecast, anomaly or battery strand forgotten beside a running hub: the stream's forecaster, anomaly
    and day-pattern state (or battery estimate) go at once with the saved state, and are learned afresh
    from the stream's history, which is kept; the forgotten strand is not recorded again, the others are."""
    data = tmp_path / "data"
    data.mkdir()
    async with learned_hub(data) as (agent, feed):
        prediction = agent.features["prediction"]
        assert isinstance(prediction, Prediction)
        hub = RunningHub(agent)
        learned = prediction.streams["bedroom.temperature"]
        battery = prediction.batteries["porch"]
        bedroom_readings = recorded(data)["bedroom.temperature"]

        forgot = await perform(hub, "forget", {"pattern": "forecast.bedroom.temperature.2h"})
        assert forgot["streams"] == ["forecast.bedroom.temperature.2h"]
        # At once: the forecaster, its anomaly detector and day pattern are gone, and so is their saved state.
        assert prediction.streams.get("bedroom.temperature") is not learned
        assert saved_states(data) == []
        # Learned afresh from the stream's history, which is kept (so it forecasts with an interval at once).
        await eventually(lambda: "bedroom.temperature" in prediction.streams, "the stream learned afresh")
        relearned = prediction.streams["bedroom.temperature"]
        await eventually(lambda: relearned.last_forecast is not None, "the history learned, forecasts made")
        assert relearned is not learned
        assert relearned.model.recent_error(1) is not None
        assert recorded(data)["bedroom.temperature"] >= bedroom_readings

        forgot = await perform(hub, "forget", {"pattern": "anomaly.bedroom.temperature"})
        assert forgot["streams"] == ["anomaly.bedroom.temperature"]
        assert prediction.streams.get("bedroom.temperature") is not relearned

        forgot = await perform(hub, "forget", {"pattern": "battery.porch.days_left"})
        assert forgot["streams"] == ["battery.porch.days_left"]
        assert prediction.batteries.get("porch") is not battery
        await eventually(lambda: "porch" in prediction.batteries, "the battery learned afresh")
        await eventually(lambda: prediction.batteries["porch"].days_left is not None, "its estimate again")

        # The stream goes on: its other forecasts are made and recorded; the forgotten strands are not.
        one_hour = recorded(data)["forecast.bedroom.temperature.1h"]
        feed(4)
        await eventually(
            lambda: recorded(data).get("forecast.bedroom.temperature.1h", 0) > one_hour, "forecasts again"
        )
        await eventually(lambda: prediction.streams["bedroom.temperature"].unsaved >= 3, "live hours learned")
        on_file = recorded(data)
        assert "forecast.bedroom.temperature.2h" not in on_file
        assert "anomaly.bedroom.temperature" not in on_file
        assert "battery.porch.days_left" not in on_file
        assert on_file["bedroom.temperature"] > bedroom_readings
    # Stopping saves the state learned afresh.
    assert saved_states(data) == ["bedroom.temperature"]
