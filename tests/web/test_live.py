"""Live values: coalesced per stream, bounded per browser, ended with the session."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from agent.readings import Reading
from agent.web.app import duration
from agent.web.live import LiveFeed
from tests.testbed.wait import eventually
from tests.web.web_support import client, csrf_of, login, serve


def _events(chunks: list[str]) -> list[tuple[str, dict[str, object]]]:
    parsed = []
    for chunk in chunks:
        kind, data = chunk.strip().split("\n")
        parsed.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return parsed


async def test_a_fast_stream_reaches_a_browser_once_per_interval_with_its_newest_value() -> None:
    feed = LiveFeed(interval=1.0)
    browser = feed.subscribe(["plug.power"])
    feed.on_readings([Reading("plug.power", 100.0 + i / 1000, float(i)) for i in range(1000)])
    feed.on_readings([Reading("room.temp", 100.0, 21.5)])
    feed.tick()
    assert _events(browser.take()) == [("reading", {"s": "plug.power", "t": 100.999, "v": 999.0, "l": None})]
    feed.tick()
    assert browser.take() == [], "nothing new, nothing sent"


async def test_a_slow_browser_keeps_only_the_newest_events_and_counts_the_rest() -> None:
    feed = LiveFeed(interval=1.0, queue_size=8)
    slow = feed.subscribe()
    for i in range(100):
        feed.on_readings([Reading("plug.power", 100.0 + i, float(i), None)])
        feed.tick()
    assert len(slow) == 8
    assert slow.dropped == 92
    values = [data["v"] for _, data in _events(slow.take())]
    assert values == [float(i) for i in range(92, 100)]


async def test_context_labels_travel_with_their_confidence() -> None:
    feed = LiveFeed(interval=1.0)
    browser = feed.subscribe(["context.activity"])
    feed.on_readings([Reading("context.activity", 5.0, 0.93, "walking")])
    feed.tick()
    assert _events(browser.take()) == [
        ("reading", {"s": "context.activity", "t": 5.0, "v": 0.93, "l": "walking"})
    ]


async def test_events_stream_live_readings_until_logout(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        async with http.get(f"{served.url}/events?streams=tank.level") as events:
            assert events.headers["Content-Type"].startswith("text/event-stream")
            seen: list[float] = []
            while len(seen) < 3:
                line = (await events.content.readline()).decode()
                if line.startswith("data: "):
                    reading = json.loads(line.removeprefix("data: "))
                    assert reading["s"] == "tank.level"
                    seen.append(reading["v"])
            assert len(set(seen)) > 1, "the value moves"
            async with http.post(f"{served.url}/logout", data={"csrf": token}, allow_redirects=False) as out:
                assert out.status == 303

            async def drained() -> None:
                while await events.content.readline():
                    pass

            async with asyncio.timeout(10):
                await drained()
        await eventually(lambda: not served.server.feed.clients, "the feed to forget the browser")


async def test_stopping_the_hub_ends_open_event_streams(tmp_path: Path) -> None:
    async with client() as http, serve(tmp_path) as served:
        assert await login(http, served.url) == 303
        events = await http.get(f"{served.url}/events?streams=&topics=stats")
        assert (await events.content.readline()).startswith(b"retry:")
        served.agent.stop()
        async with asyncio.timeout(10):
            while await events.content.readline():
                pass
        events.release()


async def test_published_topics_are_coalesced_per_key_and_reach_only_their_subscribers() -> None:
    feed = LiveFeed(interval=1.0)
    watching = feed.subscribe([], topics=["discovery"])
    other = feed.subscribe([])
    for rssi in (-80, -70, -60):
        feed.publish("discovery", {"address": "AA", "rssi": rssi}, key="AA")
    feed.publish("discovery", {"address": "BB", "rssi": -90}, key="BB")
    feed.tick()
    assert _events(watching.take()) == [
        ("discovery", {"address": "AA", "rssi": -60}),
        ("discovery", {"address": "BB", "rssi": -90}),
    ]
    assert other.take() == []


async def test_the_overview_shows_its_uptime_as_a_duration_before_its_script_runs(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        async with http.get(f"{served.url}/") as response:
            page = await response.text()
    match = re.search(r'data-stat="uptime" data-format="duration">([^<]*)<', page)
    assert match is not None
    assert re.fullmatch(r"\d+m \d+s", match.group(1)), match.group(1)


def test_a_duration_reads_as_the_pages_script_writes_it() -> None:
    assert duration(59) == "0m 59s"
    assert duration(3 * 3600 + 61) == "3h 1m 1s"
    assert duration(2 * 86400 + 5) == "2d 0h 0m 5s"
