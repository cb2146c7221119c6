"""Outbox drain to a real Mosquitto (QoS 1): the publisher's window against a sequential loop.

Both paths do the same bookkeeping per message (delete the row, append the audit entry) in the
ledger file; the sequential loop awaits each PUBACK before the next publish, as a straightforward
implementation would. Also reports bytes sent upstream per day against raw bytes recorded, for the
demo hub's example grant.

Run from the repo root: python benchmarks/outbox.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiomqtt

from agent.backoff import Backoff
from agent.consent import outbox
from agent.consent.gate import Admitted, admit
from agent.consent.grants import new_grant
from agent.consent.ledger import add_grant
from agent.consent.receipts import receipt_for
from agent.readings import Reading
from agent.sources.simulated import load_table
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from agent.store.sqlite import transaction
from agent.store.worker import LedgerWorker
from agent.sync.mqtt import MqttConnector, MqttSettings
from agent.sync.publisher import Publisher
from agent.sync.summariser import Summariser
from tests.testbed.mosquitto import Mosquitto

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import report

HUB = "bench-hub"
PREFIX = "hearth/v1"
WINDOW = 64


def fill(data_dir: Path, count: int, now: float) -> None:
    """Queue ``count`` gate-admitted summaries."""
    ledger = open_ledger(data_dir)
    grant = new_grant(
        recipient="coop",
        purpose="benchmark",
        strands=["living_room.temperature"],
        granularity="summary:10s",
        precision=1,
        now=now - 10 * count - 100,
    )
    add_grant(ledger, grant, receipt_for(grant, hub_id=HUB))
    messages: list[Admitted] = []
    for i in range(count):
        start = grant.created_at + 100 + 10 * i
        start -= start % 10
        body = {
            "start": start,
            "end": start + 10,
            "count": 10,
            "mean": 21.04,
            "min": 20.5,
            "max": 21.7,
            "unit": "°C",
        }
        verdict = admit(
            grant,
            revoked=False,
            now=now,
            stream="living_room.temperature",
            kind="summary",
            body=body,
            data_start=start,
            data_end=start + 10,
            hub_id=HUB,
            prefix=PREFIX,
        )
        assert isinstance(verdict, Admitted)
        messages.append(verdict)
    with transaction(ledger, immediate=True):
        outbox.enqueue(ledger, messages, hub_id=HUB, now=now, ttl_s=86400, cap=10 * count)
    ledger.close()


async def drain_windowed(data_dir: Path, port: int) -> float:
    """Seconds for the publisher (window of WINDOW) to empty the outbox."""
    settings = MqttSettings(
        host="127.0.0.1",
        port=port,
        client_id=HUB,
        status_topic=f"{PREFIX}/{HUB}/status",
        tls=False,
        max_inflight=WINDOW,
    )
    worker = LedgerWorker(open_ledger(data_dir))
    publisher = Publisher(worker, MqttConnector(settings), max_inflight=WINDOW, backoff=Backoff(0.05, 0.5))
    check = open_ledger(data_dir)
    began = time.perf_counter()
    task = asyncio.create_task(publisher.run())
    while outbox.depth(check) and not task.done():  # noqa: ASYNC110 (the ledger file offers no event)
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - began
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    worker.close()
    check.close()
    return elapsed


async def drain_sequential(data_dir: Path, port: int, *, bookkeeping: bool) -> float:
    """Seconds for a loop that publishes one row, awaits its PUBACK, deletes it, and goes on."""
    ledger = open_ledger(data_dir)
    rows = outbox.next_batch(ledger, after=0, limit=10**9, now=time.time())
    began = time.perf_counter()
    async with aiomqtt.Client(
        "127.0.0.1", port, identifier=HUB + "-seq", protocol=aiomqtt.ProtocolVersion.V5
    ) as c:
        for row in rows:
            await c.publish(row.topic, row.payload, qos=1)
            if bookkeeping:
                outbox.acknowledged(ledger, [row], now=time.time())
    elapsed = time.perf_counter() - began
    ledger.close()
    return elapsed


def upstream_ratio(folder: Path, hours: float) -> tuple[float, float, float]:
    """(bytes upstream per day, raw bytes recorded per day, ratio) for the demo hub's example grant."""
    data_dir = folder / "ratio"
    store = open_readings(data_dir)
    ledger = open_ledger(data_dir)
    start = 1_700_000_000.0
    grant = new_grant(
        recipient="energy-coop",
        purpose="heating advice",
        strands=["living_room.temperature"],
        granularity="summary:10s",
        precision=1,
        now=start,
    )
    add_grant(ledger, grant, receipt_for(grant, hub_id=HUB))
    span = hours * 3600
    before = store.file_bytes()
    for device, file, rate in (
        ("living_room", "builtin:climate.csv", 2.0),
        ("kitchen_plug", "builtin:kettle_plug.csv", 5.0),
    ):
        table = load_table(device, file)
        declared = [("simulated", info) for info in table.streams]
        n = int(span * rate)
        batch: list[Reading] = []
        for i in range(n):
            row = table.rows[i % len(table.rows)]
            ts = start + i / rate
            batch.extend(
                Reading(info.name, ts, value) for info, value in zip(table.streams, row, strict=True)
            )
            if len(batch) >= 20_000:
                store.write_batch(batch, declared)
                batch = []
        store.write_batch(batch, declared)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = store.file_bytes() - before
    summariser = Summariser(
        ledger, store.conn, hub_id=HUB, prefix=PREFIX, ttl_s=86400, cap=10**7, lag_s=0, max_windows=10**6
    )
    summariser.step(start + span)
    (sent,) = ledger.execute("SELECT sum(length(payload) + length(topic)) FROM outbox").fetchone()
    store.close()
    ledger.close()
    scale = 86400 / span
    return (sent or 0) * scale, raw * scale, (sent or 0) / raw


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a CI-sized run")
    args = parser.parse_args()
    count = 3000 if args.quick else 20_000
    folder = Path(tempfile.mkdtemp(prefix="hearth-bench-outbox-"))
    broker = Mosquitto(folder, extra_conf="max_inflight_messages 1000\nmax_queued_messages 0\n")
    broker.start()
    port = broker.port
    try:
        fill(folder / "a", count, time.time())
        windowed = count / await drain_windowed(folder / "a", port)
        print(f"publisher, window {WINDOW}: {windowed:,.0f} msgs/s ({count} msgs; PUBACK, delete, audit)")
        fill(folder / "b", count, time.time())
        sequential = count / await drain_sequential(folder / "b", port, bookkeeping=True)
        print(f"sequential await-each-publish loop, same bookkeeping: {sequential:,.0f} msgs/s")
        fill(folder / "c", count, time.time())
        bare = count / await drain_sequential(folder / "c", port, bookkeeping=False)
        print(f"(for reference) sequential publishes with no ledger work at all: {bare:,.0f} msgs/s")
        up, raw, ratio = upstream_ratio(folder, 1.0 if args.quick else 6.0)
        print(
            f"demo grant summary:10s of living_room.temperature: {up / 1e3:,.1f} kB/day upstream against"
            f" {raw / 1e6:,.1f} MB/day recorded (ratio {ratio:.4f})"
        )
    finally:
        broker.stop()
        shutil.rmtree(folder)
    report(
        "outbox",
        round(windowed),
        "msgs/s",
        baseline=round(sequential),
        ratio=round(windowed / sequential, 2),
        target=">= 5",
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
