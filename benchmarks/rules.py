"""Reading → local action latency: a reading put on a source's sink until its rule's action is done.

The whole live path runs: sink → recorder (which also commits batches to a real readings file on
its writer thread) → rule engine → dispatcher → a QoS 0 publish to a real Mosquitto on loopback,
finished when the client has handed it to the socket. Each event is a rising edge of a threshold
rule (a low reading, then a high one); the next event starts when the previous action is done.
Also reported: the same path ending at the dispatcher's hand-off to a recording sink (no broker).

    python benchmarks/rules.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec
from common import report

from agent.config.schema import LocalMqttConfig, RuleConfig
from agent.local.broker import LocalBroker
from agent.pipeline.recorder import Recorder
from agent.readings import Reading, StreamInfo
from agent.rules.dispatch import RuleDispatcher
from agent.rules.engine import Intent, RuleEngine
from agent.store.readings import ReadingsStore
from tests.testbed.mosquitto import Mosquitto

RULE = msgspec.convert(
    {
        "name": "bench",
        "when": {"stream": "plug.power", "above": 1500},
        "actions": [{"kind": "publish", "topic": "bench/rules", "payload": "{value}"}],
    },
    RuleConfig,
)


class NoBroker:
    """A publisher that only records the hand-off."""

    async def publish(self, topic: str, payload: str, *, qos: int = 0, retain: bool = False) -> bool:
        del topic, payload, qos, retain
        return True


async def measure(workdir: Path, events: int, port: int | None) -> list[float]:
    """Latencies in ms of ``events`` reading → action round trips."""
    store = ReadingsStore(workdir / f"readings-{port}.db")
    recorder = Recorder(store, flush_interval=0.1, batch_size=5000)
    sink = recorder.sink("plug", "simulated", "block")
    sink.declare(StreamInfo.of("plug", "power", "W"))
    broker = None
    publisher: NoBroker | LocalBroker = NoBroker()
    tasks: list[asyncio.Task[None]] = []
    if port is not None:
        broker = LocalBroker(LocalMqttConfig(host="127.0.0.1", port=port), "bench")
        publisher = broker
        tasks.append(asyncio.create_task(broker.run()))
        async with asyncio.timeout(10):
            await broker.connected.wait()
    dispatcher = RuleDispatcher(RuleEngine([RULE]), publisher=publisher)
    recorder.listeners.append(dispatcher.on_readings)
    done = asyncio.Event()
    finished_at: list[float] = []

    def on_dispatch(intent: Intent) -> None:
        del intent
        finished_at.append(time.perf_counter())
        done.set()

    dispatcher.on_dispatch.append(on_dispatch)
    tasks += [asyncio.create_task(recorder.run()), asyncio.create_task(dispatcher.run())]
    latencies: list[float] = []
    ts = time.time()
    for i in range(events):
        done.clear()
        ts += 0.001
        await sink.put(Reading("plug.power", ts, 10.0))
        started = time.perf_counter()
        await sink.put(Reading("plug.power", ts + 0.0005, 2000.0 + i))
        async with asyncio.timeout(10):
            await done.wait()
        latencies.append((finished_at[-1] - started) * 1000)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await recorder.close()
    store.close()
    if broker is not None:
        assert broker.dropped == 0, f"{broker.dropped} publishes dropped"
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a CI-sized run (2,000 events)")
    args = parser.parse_args()
    events = 2_000 if args.quick else 10_000
    with tempfile.TemporaryDirectory(prefix="hearth-bench-rules-") as tmp:
        workdir = Path(tmp)
        handoff = asyncio.run(measure(workdir, events, None))
        print(
            f"reading → dispatcher hand-off ({events} events): p50 {statistics.median(handoff):.3f} ms, "
            f"p99 {percentile(handoff, 99):.3f} ms, max {max(handoff):.3f} ms"
        )
        with Mosquitto(workdir) as broker:
            live = asyncio.run(measure(workdir, events, broker.port))
        print(
            f"reading → publish to Mosquitto ({events} events): p50 {statistics.median(live):.3f} ms, "
            f"p99 {percentile(live, 99):.3f} ms, max {max(live):.3f} ms"
        )
    report("rules", percentile(live, 99), "ms (p99)", baseline=None, ratio=None, target="<= 10")


if __name__ == "__main__":
    main()
