"""A hub lives through days of its own time in seconds: memory, files, descriptors and threads stay flat.

What runs on a fast clock and what runs for real:

- The hub is the daemon's own ``Agent`` in this process (the object ``hearth run`` drives), with its recorder,
  writer thread, retention loop, control socket, summariser and publisher, and a real Mosquitto upstream under
  a ``summary:1h`` grant for every stream. Its wall clock (``Agent.clock``, ``SyncService.clock``) runs
  ``speed`` times faster than real time: readings are stamped from it, retention cuts and summary windows
  are reckoned on it, so an hour of the hub's life passes in a second (short form) or two (long form).
- Real time still drives everything the monotonic clock times: commit batching (``flush_interval``), the
  store's WAL syncs, loop sleeps (``check_every``, ``summarise_interval``), MQTT keepalive and backoff. Those
  run at their real rates; set short so that each runs many times per simulated hour.
- ``tests/daemon/test_soak.py`` runs a real ``hearth run`` subprocess at a high reading rate on the real clock
  for what only a separate process shows: its own RSS, descriptors, threads and WAL at 1,000 readings/s.
- Each sample asks the running hub for ``sync.status`` and ``store.status`` over its control socket, as the
  owner's commands and the dashboard do.

The hub keeps two hours of raw readings, six of minute rollups and twelve of hour rollups, so by twelve
simulated hours every table is at its steady size; from then on the test asserts, over every sample:
RSS within a few MB of its level then, with a least-squares slope under ``RSS_SLOPE_MB_PER_DAY``; the
readings file no larger than then (SQLite reuses freed pages) and its WAL bounded; raw rows within the
retention window; the outbox drained; the ledger growing only by its audit entries (each publish is audited,
by design, and the audit log is never trimmed); open descriptors and threads as many as then (one or
two more at a sample, an answer on the control socket or a worker thread, but none that stay).

Short form (24 simulated hours) in the default suite; a simulated week in about six minutes:
``scripts/test -m slow tests/daemon/test_compressed_soak.py -s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from agent.config.loader import config_from_mapping
from agent.consent.grants import new_grant
from agent.consent.ledger import add_grant, audit_count
from agent.consent.receipts import receipt_for
from agent.control import wire
from agent.daemon.agent import Agent
from agent.pipeline.sink import OverflowPolicy, Sink
from agent.readings import Reading, StreamInfo
from agent.store.ledger import open_ledger
from agent.sync.service import SyncService
from tests.sync.conftest import Broker
from tests.testbed.hub import open_fds, rss_mb, threads
from tests.testbed.mosquitto import Mosquitto
from tests.testbed.wait import eventually

HUB = "soak"
SENSORS = 20
PERIOD_S = 10.0  # each sensor reads every 10 simulated seconds: 172,800 readings a simulated day
HOUR = 3600.0
RAW_H, MINUTE_H, HOUR_H = 2, 6, 12
LAG_MIN = 80  # the summary lag: an hour's window is summarised this long after it closes
WARM_UP_H = HOUR_H + 1  # every retention window full, the oldest hour rollups deleted once
CHECK_EVERY_S = 0.25  # retention runs every 0.25 real seconds
RSS_SLOPE_MB_PER_DAY = 2.0
RSS_RISE_MB = 4.0
AUDIT_ENTRY_BYTES = 1024  # what one audited publish may add to the ledger, WAL included


class FastClock:
    """Wall-clock seconds that run ``speed`` times faster than real time, from ``start``."""

    def __init__(self, start: float, speed: float) -> None:
        self.start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def __call__(self) -> float:
        return self.start + (time.monotonic() - self._t0) * self.speed

    def hours(self) -> float:
        """Simulated hours since ``start``."""
        return (self() - self.start) / HOUR


class Sensors:
    """``count`` temperature sensors reading every ``period`` seconds of ``clock``, stamped with its time."""

    kind = "simulated"
    overflow: OverflowPolicy = "block"

    def __init__(self, name: str, clock: FastClock, *, count: int, period: float, seed: int) -> None:
        self.name = name
        self.clock = clock
        self.count = count
        self.period = period
        self.rng = random.Random(seed)
        self.first = math.inf  # the time of the first reading, once there is one

    async def run(self, sink: Sink) -> None:
        """Put every reading due by the clock's time, then wait a real 10 ms, until cancelled."""
        infos = [StreamInfo.of(self.name, f"t{i}", "C") for i in range(self.count)]
        for info in infos:
            sink.declare(info)
        due = self.first = math.ceil(self.clock() / self.period) * self.period
        while True:
            now = self.clock()
            while due <= now:
                for info in infos:
                    await sink.put(Reading(info.name, due, 21.0 + self.rng.gauss(0.0, 1.5)))
                due += self.period
            await asyncio.sleep(0.01)


@dataclass(frozen=True)
class Sample:
    """What the hub looked like at simulated hour ``hour``."""

    hour: float
    rss_mb: float
    fds: int
    threads: int
    readings_bytes: int
    readings_wal: int
    ledger_bytes: int
    raw_rows: int
    rollups: int
    outbox: int
    audit: int


@dataclass
class Upstream:
    """What the upstream broker delivered on the hub's topics: how many data messages, and the summaries
    that did not count a whole hour of readings (the first few; the test process keeps no more, its
    memory is the hub's)."""

    sensors: Sensors
    received: int = 0
    wrong: list[dict[str, Any]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, body: dict[str, Any]) -> None:
        self.received += 1
        # The hub starts its sensors a while (of simulated time) after the grant: its first window is short.
        whole = body["start"] >= self.sensors.first
        if whole and body["count"] != HOUR / PERIOD_S and len(self.wrong) < 10:
            self.wrong.append(body)


async def _subscribe(port: int, seen: Upstream) -> None:
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe(f"hearth/v1/{HUB}/#", qos=1)
        seen.ready.set()
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, bytes) and not str(message.topic).endswith("/status"):
                seen.add(json.loads(payload))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real Mosquitto on loopback for the hub's upstream."""
    folder = tmp_path / "broker"
    folder.mkdir()
    with Broker(folder) as made:
        yield made


@contextlib.asynccontextmanager
async def _upstream(port: int, sensors: Sensors) -> AsyncIterator[Upstream]:
    """A subscriber on the hub's topics, ready when entered."""
    seen = Upstream(sensors)
    task = asyncio.create_task(_subscribe(port, seen))
    try:
        await eventually(seen.ready.is_set, "the upstream subscriber", within=10)
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task


def _files(data: Path, name: str) -> tuple[int, int]:
    """Bytes of the SQLite file ``name`` and of its WAL (0 while it has none)."""
    wal = data / f"{name}-wal"
    return (data / name).stat().st_size, wal.stat().st_size if wal.exists() else 0


async def _ask(data_dir: Path, action: str) -> Any:
    """What the running hub answers on its control socket, as ``hearth`` commands ask it."""
    with wire.reachable(wire.socket_path(data_dir)) as address:
        reader, writer = await asyncio.open_unix_connection(address, limit=wire.MAX_LINE)
        try:
            writer.write(wire.encode(wire.Request(action, {})))
            line = await reader.readline()
        finally:
            writer.close()
            await writer.wait_closed()
    return wire.result_of(line)


async def _sample(agent: Agent, clock: FastClock) -> Sample:
    def store_counts(store: Any) -> tuple[int, int]:
        raw = store.conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        rollups = store.conn.execute("SELECT count(*) FROM rollups").fetchone()[0]
        return raw, rollups

    pid = os.getpid()
    # Before the control socket's connections below, whose server ends close a moment after the replies.
    fds, tasks = open_fds(pid), threads(pid)
    raw, rollups = await agent.readings(store_counts)
    # As the owner's status commands (and a dashboard) ask it, over the control socket.
    depth = (await _ask(agent.data_dir, "sync.status"))["depth"]
    assert (await _ask(agent.data_dir, "store.status"))["error"] is None
    audit = await agent.ledger.run(audit_count)
    db, wal = _files(agent.data_dir, "readings.db")
    ledger, ledger_wal = _files(agent.data_dir, "ledger.db")
    return Sample(
        hour=clock.hours(),
        rss_mb=rss_mb(pid),
        fds=fds,
        threads=tasks,
        readings_bytes=db,
        readings_wal=wal,
        ledger_bytes=ledger + ledger_wal,
        raw_rows=raw,
        rollups=rollups,
        outbox=depth,
        audit=audit,
    )


def _config(data: Path, port: int, raw: str) -> Any:
    return config_from_mapping(
        {
            "hub": {"id": HUB, "data_dir": str(data)},
            "store": {
                "flush_interval": "20ms",
                "retention": {
                    "raw": raw,
                    "minute_rollups": f"{MINUTE_H}h",
                    "hour_rollups": f"{HOUR_H}h",
                    "check_every": f"{CHECK_EVERY_S}s",
                },
            },
            "upstream": {
                "host": "127.0.0.1",
                "port": port,
                "tls": False,
                "summarise_interval": "100ms",
                # Simulated time (1.3 s real in the short form): long enough for the recorder to have
                # committed a window's readings, short enough that retention keeps them until then
                # (it cuts at the hour before now - raw).
                "summary_lag": f"{LAG_MIN}m",
                "message_ttl": "7d",
            },
            "log": {"level": "warning"},
        },
        source="soak",
    )


def _grant(data: Path, now: float) -> None:
    """The owner grants hourly summaries of every sensor before the hub starts."""
    made = new_grant(
        recipient="heating-advisor",
        purpose="heating advice",
        strands=["room.*"],
        granularity="summary:1h",
        precision=None,
        now=now,
    )
    ledger = open_ledger(data)
    try:
        add_grant(ledger, made, receipt_for(made, hub_id=HUB))
    finally:
        ledger.close()


@dataclass
class Soak:
    samples: list[Sample]
    upstream: Upstream
    hours: float
    speed: float


async def _soak(tmp_path: Path, port: int, *, hours: float, speed: float, raw: str = f"{RAW_H}h") -> Soak:
    data = tmp_path / "data"
    data.mkdir()
    clock = FastClock(time.time(), speed)
    _grant(data, clock.start)
    sensors = Sensors("room", clock, count=SENSORS, period=PERIOD_S, seed=16)
    async with _upstream(port, sensors) as seen:
        agent = Agent(_config(data, port, raw), sources=[sensors], clock=clock)
        sync = agent.features["sync"]
        assert isinstance(sync, SyncService)
        sync.clock = sync.publisher.clock = clock
        run = asyncio.create_task(agent.run())
        samples: list[Sample] = []
        try:
            await asyncio.wait_for(agent.started.wait(), 30)
            while clock.hours() < hours:
                await asyncio.sleep(0.25)
                samples.append(await _sample(agent, clock))
        finally:
            agent.stop()
            await asyncio.wait_for(run, 60)
        # What was queued before the stop went out: the hub's later summaries would fall after it.
        return Soak(samples, seen, hours, speed)


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``points``."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def _spread(values: list[int]) -> tuple[int, int, int, int]:
    return values[0], min(values), max(values), min(values[-(len(values) // 4) :])


def _report(soak: Soak) -> dict[str, Any]:
    """The figures of a soak, asserting nothing (printed by the tests, read in the failure)."""
    steady = [s for s in soak.samples if s.hour >= WARM_UP_H]
    base = steady[0]
    last = soak.samples[-1]
    return {
        "simulated_hours": round(last.hour, 1),
        "speed": soak.speed,
        "samples": len(soak.samples),
        "rss_mb": (round(base.rss_mb, 1), round(max(s.rss_mb for s in steady), 1), round(last.rss_mb, 1)),
        "rss_slope_mb_per_day": round(_slope([(s.hour / 24, s.rss_mb) for s in steady]), 2),
        # After the warm-up, fewest and most since, and the fewest in the last quarter.
        "fds": _spread([s.fds for s in steady]),
        "threads": _spread([s.threads for s in steady]),
        "readings_db": (base.readings_bytes, max(s.readings_bytes for s in steady)),
        "readings_wal_max": max(s.readings_wal for s in soak.samples),
        "raw_rows_max": max(s.raw_rows for s in steady),
        "rollups": (base.rollups, max(s.rollups for s in steady)),
        "outbox_max": max(s.outbox for s in steady),
        "ledger_bytes": (base.ledger_bytes, last.ledger_bytes),
        "audit": (base.audit, last.audit),
        "published": soak.upstream.received,
        "wrong_summaries": len(soak.upstream.wrong),
    }


def _check(soak: Soak) -> dict[str, Any]:
    figures = _report(soak)
    print(f"compressed soak: {figures}")
    steady = [s for s in soak.samples if s.hour >= WARM_UP_H]
    assert len(steady) >= 10, figures
    base = steady[0]
    per_hour = SENSORS * HOUR / PERIOD_S
    # Raw rows: the retention window, the hour the cut rounds down to, a retention pass's real interval
    # (in simulated time) and the summary lag's worth of slack.
    raw_bound = per_hour * (RAW_H + 1 + CHECK_EVERY_S * soak.speed / HOUR + 1)
    # Minute rollups of the minute window, hour rollups of the hour window, each an hour over.
    rollup_bound = SENSORS * ((MINUTE_H + 1) * 60 + HOUR_H + 1)
    for s in steady:
        assert s.raw_rows <= raw_bound, (s, figures)
        assert s.rollups <= rollup_bound, (s, figures)
        # Freed pages are reused: the file stops growing once retention deletes as much as comes in.
        assert s.readings_bytes <= base.readings_bytes * 1.05 + 65536, (s, figures)
        assert s.readings_wal <= 16 * 2**20, (s, figures)
        assert s.rss_mb - base.rss_mb <= RSS_RISE_MB, (s, figures)
        # A connection or a worker thread may be open at a sample; a leak stays (below).
        assert s.fds <= base.fds + 2, (s, figures)
        assert s.threads <= base.threads + 2, (s, figures)
        # Drained as it is filled: at most a few summary windows of every stream wait.
        assert s.outbox <= 3 * SENSORS, (s, figures)
        assert s.ledger_bytes - base.ledger_bytes <= (s.audit - base.audit) * AUDIT_ENTRY_BYTES + 65536, (
            s,
            figures,
        )
    assert _slope([(s.hour / 24, s.rss_mb) for s in steady]) <= RSS_SLOPE_MB_PER_DAY, figures
    quarter = len(steady) // 4
    first, last = steady[:quarter], steady[-quarter:]
    assert min(s.fds for s in last) <= min(s.fds for s in first), figures
    assert min(s.threads for s in last) <= min(s.threads for s in first), figures
    # The upstream got every hour of every sensor that closed a summary lag before the end (the first one
    # partial), each of a whole hour's readings.
    assert soak.upstream.received >= SENSORS * (int(soak.hours - LAG_MIN / 60) - 1), figures
    assert not soak.upstream.wrong, figures
    return figures


async def test_a_simulated_day_leaves_memory_files_and_descriptors_flat(
    tmp_path: Path, broker: Mosquitto
) -> None:
    _check(await _soak(tmp_path, broker.port, hours=24, speed=3600))


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_a_simulated_week_leaves_memory_files_and_descriptors_flat(
    tmp_path: Path, broker: Mosquitto
) -> None:
    _check(await _soak(tmp_path, broker.port, hours=7 * 24, speed=1800))
