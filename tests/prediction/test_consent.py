"""Prediction strands under consent: a real Mosquitto upstream sees them only once they are granted."""

from __future__ import annotations

from pathlib import Path

from agent.consent import outbox
from agent.prediction import strands
from agent.web.consent_preview import preview
from tests.sync.conftest import (  # the real broker and the hub folder of the sync tests
    HUB,
    PREFIX,
    T0,
    Broker,
    Hub,
    Seen,
    broker,  # noqa: F401
    hub,  # noqa: F401
    run_publisher,
    stop_publisher,
    subscriber,  # noqa: F401
)

FORECAST = strands.forecast_strand("bedroom.temperature", 7200)
ANOMALY = strands.anomaly_strand("bedroom.temperature")


def record_a_day_of_prediction(hub: Hub) -> None:  # noqa: F811 - the fixture's type
    """The bedroom's readings with its forecasts and an anomaly, in the format the feature sends them."""
    hub.record("bedroom.temperature", [(T0 + i * 60, 20.0 + i / 100) for i in range(120)])
    hub.record(FORECAST, [(T0 + i * 60, 19.0 + i / 100) for i in range(120)], "80% 18..20")
    hub.record(ANOMALY, [(T0 + 3000, 2.5), (T0 + 4200, 0.0)], "expected 18..20, saw 26")


async def test_forecasts_leave_only_under_their_own_grant(
    hub: Hub,  # noqa: F811
    broker: Broker,  # noqa: F811
    subscriber: Seen,  # noqa: F811
) -> None:
    record_a_day_of_prediction(hub)
    hub.grant("coop", ["bedroom.*"], "summary:10m")  # the raw stream's grant does not carry its forecasts
    hub.summariser.step(T0 + 7300)
    raw_only = outbox.depth(hub.ledger)
    assert raw_only > 0
    hub.grant("planner", ["forecast.bedroom.temperature.*"], "summary:10m")
    hub.summariser.step(T0 + 7300)
    assert outbox.depth(hub.ledger) > raw_only
    publisher = hub.publisher(broker.port, clock=lambda: T0 + 7400)
    task = await run_publisher(publisher)
    try:
        await subscriber.until(lambda: outbox.depth(hub.ledger) == 0)
        await subscriber.until(lambda: len(subscriber.data()) == 2 * raw_only)
    finally:
        await stop_publisher(publisher, task)
    topics = {t for t, _, _ in subscriber.messages if not t.endswith("/status")}
    assert topics == {f"{PREFIX}/{HUB}/coop/bedroom.temperature", f"{PREFIX}/{HUB}/planner/{FORECAST}"}
    forecasts = [m for m in subscriber.data() if m["grant"] != subscriber.data()[0]["grant"]]
    assert all(18.9 <= m["mean"] <= 20.3 for m in forecasts)


def test_the_consent_preview_shows_the_forecasts_and_anomalies_a_grant_would_send(
    hub: Hub,  # noqa: F811
) -> None:
    record_a_day_of_prediction(hub)
    from agent.consent.grants import new_grant

    grant = new_grant(
        recipient="planner",
        purpose="test",
        strands=["forecast.bedroom.temperature.*", "anomaly.bedroom.*"],
        granularity="summary:10m",
        precision=None,
        now=T0,
    )
    shown = preview(hub.store.conn, grant, hub_id=HUB, prefix=PREFIX, now=T0 + 7300, lag_s=0)
    assert shown.streams == [ANOMALY, FORECAST]
    assert f"{PREFIX}/{HUB}/planner/{FORECAST}" in shown.topics
    assert shown.messages


def test_nothing_of_it_is_queued_without_a_grant(tmp_path: Path) -> None:
    made = Hub(tmp_path / "data")
    try:
        record_a_day_of_prediction(made)
        made.summariser.step(T0 + 7300)
        assert outbox.depth(made.ledger) == 0
    finally:
        made.close()
