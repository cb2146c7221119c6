"""Every granularity x pattern shape the CLI accepts: what reaches a real Mosquitto is what the grant says.

A pattern that could never send anything (events on a sensor stream, a device name without a quantity) is
refused when the grant is given, not accepted and then silent.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.consent import outbox
from agent.consent.ledger import grants
from agent.errors import ConsentError
from agent.readings import Reading, StreamInfo
from tests.conftest import hearth

from .conftest import HUB, PREFIX, T0, Broker, Hub, Seen, run_publisher, stop_publisher

SENSORS = ("living_room.temperature", "living_room.humidity", "kitchen_plug.power")
CONTEXT = "context.activity"
LABELS = ["still"] * 20 + ["walking"] * 20 + ["still"] * 20
SECONDS = len(LABELS)  # one reading a second of every stream, from T0

EVERY = {*SENSORS, CONTEXT}
ROOM = {"living_room.temperature", "living_room.humidity"}

CELLS = [
    ("summary:10s", "living_room.temperature", {"living_room.temperature"}),
    ("summary:10s", "living_room.*", ROOM),
    ("summary:10s", "*", EVERY),
    ("summary:10s", CONTEXT, {CONTEXT}),
    ("events", "living_room.temperature", "names no context strand"),
    ("events", "living_room.*", "names no context strand"),
    ("events", "*", {CONTEXT}),
    ("events", CONTEXT, {CONTEXT}),
    ("raw", "living_room.temperature", {"living_room.temperature"}),
    ("raw", "living_room.*", ROOM),
    ("raw", "*", EVERY),
    ("raw", CONTEXT, {CONTEXT}),
]


def _record(hub: Hub) -> None:
    for stream in SENSORS:
        hub.record(stream, [(T0 + i, 20.0 + i / 10) for i in range(SECONDS)])
    hub.store.write_batch(
        [Reading(CONTEXT, T0 + i, 0.75, label) for i, label in enumerate(LABELS)],
        [("inference", StreamInfo.of("context", "activity", kind="context"))],
    )


@pytest.mark.parametrize(
    ("granularity", "pattern", "expected"),
    CELLS,
    ids=[f"{g.split(':')[0]}-{p}" for g, p, _ in CELLS],
)
async def test_each_granularity_and_pattern_sends_what_the_grant_says_or_is_refused(
    hub: Hub,
    broker: Broker,
    subscriber: Seen,
    *,
    granularity: str,
    pattern: str,
    expected: set[str] | str,
) -> None:
    _record(hub)
    if isinstance(expected, str):
        with pytest.raises(ConsentError, match=expected):
            hub.grant("coop", [pattern], granularity, allow_raw=True)
        assert grants(hub.ledger, now=T0) == []
        return
    grant = hub.grant("coop", [pattern], granularity, allow_raw=True)
    hub.summariser.step(T0 + 100)
    queued = outbox.depth(hub.ledger)
    publisher = hub.publisher(broker.port)
    task = await run_publisher(publisher)
    try:
        await subscriber.until(lambda: len(subscriber.data()) == queued and outbox.depth(hub.ledger) == 0)
    finally:
        await stop_publisher(publisher, task)
    data = subscriber.data()
    topics = {t for t, _, _ in subscriber.messages if not t.endswith("/status")}
    assert topics == {f"{PREFIX}/{HUB}/coop/{s}" for s in expected}
    assert {m["stream"] for m in data} == expected
    assert all(m["grant"] == grant.id and m["granularity"] == granularity for m in data)
    for stream in expected:
        mine = [m for m in data if m["stream"] == stream]
        if granularity.startswith("summary"):
            # Six whole 10 s windows of one reading a second; a context strand's values are its confidence.
            assert [(m["kind"], m["start"] - T0, m["count"]) for m in mine] == [
                ("summary", w * 10.0, 10) for w in range(6)
            ]
            if stream == CONTEXT:
                assert {(m["min"], m["max"]) for m in mine} == {(0.75, 0.75)}
        elif granularity == "events":
            assert [(m["kind"], m["previous"], m["label"]) for m in mine] == [
                ("events", None, "still"),
                ("events", "still", "walking"),
                ("events", "walking", "still"),
            ]
        else:
            readings = [r for m in mine for r in m["readings"]]
            assert {m["kind"] for m in mine} == {"raw"}
            assert [r[0] - T0 for r in readings] == [float(i) for i in range(SECONDS)]
            assert {r[2] for r in readings} == ({"still", "walking"} if stream == CONTEXT else {None})


def _hearth_run(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "-c", str(config)], stdout=log, stderr=log
        )


async def test_a_star_grant_from_the_cli_sends_every_stream_of_a_running_hub(
    tmp_path: Path, broker: Broker, subscriber: Seen
) -> None:
    """The owner's case: ``hearth consent grant --strand '*'``, then ``hearth run`` with a climate sensor."""
    config = tmp_path / "hearth.toml"
    config.write_text(
        f'[hub]\nid = "{HUB}"\ndata_dir = "{tmp_path / "data"}"\n[log]\nlevel = "warning"\n'
        '[[sources]]\nkind = "simulated"\nname = "living_room"\nfile = "builtin:climate.csv"\nrate = 20\n'
        f'[upstream]\nhost = "127.0.0.1"\nport = {broker.port}\ntls = false\n'
        'summarise_interval = "200ms"\nsummary_lag = "1s"\n'
    )
    given = hearth(
        "consent", "grant", "-c", str(config), "--recipient", "coop", "--purpose", "everything",
        "--strand", "*", "--granularity", "summary:1s",
    )  # fmt: skip
    assert given.returncode == 0, given.stderr
    agent = _hearth_run(config, tmp_path / "agent.log")
    try:
        await subscriber.until(lambda: {m["stream"] for m in subscriber.data()} >= ROOM, limit=30)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(20)
    assert {m["kind"] for m in subscriber.data()} == {"summary"}
    assert {t for t, _, _ in subscriber.messages if not t.endswith("/status")} <= {
        f"{PREFIX}/{HUB}/coop/{s}" for s in ROOM
    }
