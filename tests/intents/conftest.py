"""A market broker (real Mosquitto, connection log on), a spy on ``#``, and a hub folder that uses it."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from click.testing import CliRunner, Result
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.cli import cli
from agent.consent.grants import Grant, new_grant
from agent.consent.ledger import add_grant
from agent.consent.receipts import receipt_for
from agent.readings import Reading, StreamInfo
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from tests.conftest import wait_until
from tests.sync.conftest import Broker
from tests.testbed.mosquitto import Mosquitto

HUB_ID = "hub-7f3c-kitchen"
OWNER = "Alice Liddell"
STREAM = "living_room.temperature"


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto that logs every connection, its will and every packet."""
    folder = tmp_path / "market"
    folder.mkdir()
    with Broker(folder, "log_type all\n") as broker:
        yield broker


@dataclass
class Seen:
    """One message the spy received."""

    topic: str
    payload: bytes
    retain: bool
    properties: dict[str, Any]


@dataclass
class Spy:
    """A subscriber on ``#`` (MQTT 5) that keeps every message with its properties."""

    port: int
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="spy", protocol=paho.MQTTv5)
        subscribed = threading.Event()
        self.client.on_message = self._message
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        # Retain as published: the broker otherwise clears the flag on live delivery (MQTT 5).
        self.client.subscribe("#", options=SubscribeOptions(qos=1, retainAsPublished=True))
        assert subscribed.wait(10), "the spy could not subscribe"

    def _message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        props = msg.properties.json() if msg.properties is not None else {}
        with self.lock:
            self.seen.append(Seen(msg.topic, bytes(msg.payload), bool(msg.retain), props))

    def on(self, topic: str) -> list[Seen]:
        with self.lock:
            return [m for m in self.seen if m.topic == topic]

    def last_on(self, topic: str, payload: bytes | None = None) -> Seen:
        """The last message on ``topic`` (with ``payload``, if given), once it has come."""
        wait_until(lambda: any(payload in (None, m.payload) for m in self.on(topic)), f"a message on {topic}")
        return [m for m in self.on(topic) if payload in (None, m.payload)][-1]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def spy(market: Mosquitto) -> Iterator[Spy]:
    made = Spy(market.port)
    yield made
    made.close()


def retained(port: int, topic: str, *, within: float = 1.0) -> bytes | None:
    """What a fresh subscriber gets retained on ``topic`` (None: nothing is retained there)."""
    got: list[bytes] = []
    done = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)

    def message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        if msg.topic == topic:
            got.append(bytes(msg.payload))
        elif msg.topic == "probe/end":
            done.set()

    subscribed = threading.Event()
    client.on_message = message
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.subscribe([(topic, 1), ("probe/end", 1)])
        assert subscribed.wait(10), "the probe could not subscribe"
        # Retained messages come with the SUBACK, before anything published after it.
        client.publish("probe/end", b"x", qos=1)
        assert done.wait(within + 5), "the probe did not come back"
    finally:
        client.loop_stop()
        client.disconnect()
    return got[0] if got else None


@dataclass
class Home:
    """A hub's config and data folder that point at the market broker."""

    config: Path
    data_dir: Path
    port: int

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, [*args[:2], "-c", str(self.config), *args[2:]])

    def ledger(self) -> sqlite3.Connection:
        return open_ledger(self.data_dir)

    def record(self, points: list[tuple[float, float]]) -> None:
        store = open_readings(self.data_dir)
        try:
            store.write_batch(
                [Reading(STREAM, ts, value, None) for ts, value in points],
                [("simulated", StreamInfo.of("living_room", "temperature", "C"))],
            )
        finally:
            store.close()

    def grant(self, recipient: str, *, now: float, granularity: str = "summary:1h", **kw: Any) -> Grant:
        made = new_grant(
            recipient=recipient,
            purpose="shown with my intents",
            strands=[STREAM],
            granularity=granularity,
            precision=kw.pop("precision", 1),
            now=now,
            **kw,
        )
        ledger = self.ledger()
        try:
            add_grant(ledger, made, receipt_for(made, hub_id=HUB_ID))
        finally:
            ledger.close()
        return made


def home_config(tmp_path: Path, port: int | None, market_extra: str = "") -> Path:
    data = tmp_path / "data"
    text = f'[hub]\nid = "{HUB_ID}"\nname = "{OWNER}"\ndata_dir = "{data}"\n'
    if port is not None:
        text += (
            f'\n[market]\nhost = "127.0.0.1"\nport = {port}\ntls = false\ncheck_every = "1s"\n{market_extra}'
        )
    path = tmp_path / "hearth.toml"
    path.write_text(text)
    return path


@pytest.fixture
def home(tmp_path: Path, market: Mosquitto) -> Home:
    return Home(home_config(tmp_path, market.port), tmp_path / "data", market.port)


def intent_id_of(output: str) -> str:
    found = re.search(r"intent ([0-9a-f]{32})", output)
    assert found, output
    return found.group(1)
