"""The owner's labels are the strand ``labels.<model>``: against a real Mosquitto, nothing of them leaves
without a grant, and a grant on ``labels.*`` sends each label made after it; the consent preview lists it."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from agent.consent.grants import new_grant
from agent.control.actions import perform
from agent.control.owner import RunningHub
from agent.daemon import Agent
from agent.learning import strand
from agent.store.readings import open_readings
from agent.web.consent_preview import preview
from tests.learning.test_running_hub import hub_config, running_mapping

from .conftest import Broker, Seen

RECIPIENT = "coop"


@asynccontextmanager
async def running(data_dir: Path, port: int) -> AsyncIterator[Agent]:
    """A hub with the activity model on a replayed wrist, publishing to the broker on ``port``."""
    config = hub_config(data_dir) | {
        "upstream": {
            "host": "127.0.0.1",
            "port": port,
            "tls": False,
            "summarise_interval": "200ms",
            "summary_lag": "1s",
        }
    }
    async with running_mapping(config) as agent:
        yield agent


def streams_seen(seen: Seen) -> list[str]:
    """The stream of every data message the broker carried (the topic's last part)."""
    return [topic.rsplit("/", 1)[1] for topic, _, _ in seen.messages if not topic.endswith("/status")]


def bodies(seen: Seen, stream: str) -> list[dict[str, Any]]:
    return [
        json.loads(payload) for topic, payload, _ in seen.messages if topic.endswith(f"/{RECIPIENT}/{stream}")
    ]


async def grant(agent: Agent, strands: list[str], granularity: str) -> str:
    given = await perform(
        RunningHub(agent),
        "consent.grant",
        {"recipient": RECIPIENT, "purpose": "test", "strands": strands, "granularity": granularity},
    )
    return str(given["grant"]["id"])


async def label(agent: Agent, cls: str, start: float) -> dict[str, Any]:
    added = await perform(
        RunningHub(agent),
        "label.add",
        {"model": "activity", "start_ts": start, "end_ts": start + 60, "cls": cls},
    )
    return dict(added["label"])


async def test_labels_reach_the_broker_only_under_a_grant_on_their_strand(
    tmp_path: Path, broker: Broker, subscriber: Seen
) -> None:
    data_dir = tmp_path / "data"
    start = round(time.time()) - 600.0
    async with running(data_dir, broker.port) as agent:
        # A grant on the wrist's sensors shows the hub publishing; it does not cover the labels.
        await grant(agent, ["wrist.acc_x"], "summary:1s")
        await subscriber.until(lambda: bool(bodies(subscriber, "wrist.acc_x")))
        first = await label(agent, "cycling", start)
        # Wait for a summary of a window that closed after the label was stored: the summariser has
        # passed it, so had anything of the label been admitted it would have gone out before.
        await subscriber.until(
            lambda: any(b["start"] > first["created_at"] for b in bodies(subscriber, "wrist.acc_x"))
        )
        assert "labels.activity" not in streams_seen(subscriber)
        assert not any(b"cycling" in payload for _, payload, _ in subscriber.messages)

        # With a grant on labels.*, a label made after it leaves as one event (the earlier one does not:
        # nothing from before a grant is sent).
        await grant(agent, ["labels.*"], "events")
        second = await label(agent, "rowing", start + 120)
        await subscriber.until(lambda: bool(bodies(subscriber, "labels.activity")))
        (sent,) = bodies(subscriber, "labels.activity")
        assert sent["kind"] == "events"
        assert sent["label"] == strand.reading_label(second["class"], start + 120, start + 180)
        parsed = strand.parse(sent["label"])
        assert parsed == strand.Span("rowing", start + 120, start + 180)
        assert sent["value"] == 60.0
        assert not any(b"cycling" in payload for _, payload, _ in subscriber.messages)


def test_the_consent_preview_lists_the_labels_strand(tmp_path: Path) -> None:
    from agent.learning.labels import Label

    data_dir = tmp_path / "data"
    now = time.time()
    store = open_readings(data_dir)
    strand.record(store, Label(1, "activity", now - 3600, now - 3000, "cycling", now - 30))
    store.close()
    proposed = new_grant(
        recipient=RECIPIENT,
        purpose="test",
        strands=["labels.*"],
        granularity="events",
        now=now,
        precision=None,
    )
    reader = open_readings(data_dir, read_only=True)
    with contextlib.closing(reader.conn):
        shown = preview(reader.conn, proposed, hub_id="h", prefix="hearth/v1", now=now, lag_s=2.0)
    assert shown.streams == ["labels.activity"]
    assert [m["label"] for m in shown.messages] == [strand.reading_label("cycling", now - 3600, now - 3000)]
