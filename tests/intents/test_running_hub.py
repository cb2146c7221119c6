"""Intents on a running hub: owner actions go through its ledger writer; revoking the grant ends them."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from agent.config import config_from_mapping
from agent.control.actions import perform
from agent.control.client import LocalHub
from agent.control.owner import RunningHub
from agent.daemon import Agent
from agent.intents import ledger as intents_ledger
from agent.intents.market import IntentService
from agent.store.ledger import open_ledger
from tests.conftest import eventually
from tests.testbed.mosquitto import Mosquitto

from .conftest import Spy, retained
from .test_market import publish_all


async def test_revoking_a_market_grant_takes_the_intents_that_showed_it_off_the_market_at_once(
    tmp_path: Path, market: Mosquitto, spy: Spy
) -> None:
    config = config_from_mapping(
        {
            "hub": {"id": "h-running", "data_dir": str(tmp_path / "data")},
            "store": {"flush_interval": "20ms"},
            "sources": [{"kind": "simulated", "name": "plug", "file": "builtin:kettle_plug.csv", "rate": 50}],
            "market": {"host": "127.0.0.1", "port": market.port, "tls": False, "check_every": "1s"},
        }
    )
    agent = Agent(config)
    run = asyncio.create_task(agent.run())
    await agent.started.wait()
    hub = RunningHub(agent)
    try:
        made = await perform(
            hub,
            "consent.grant",
            {
                "recipient": "market",
                "purpose": "intents",
                "strands": ["plug.power"],
                "granularity": "summary:1s",
            },
        )
        given = made["grant"]["created_at"]
        await eventually(lambda: time.time() > given + 3, "three closed windows after the grant")
        view = await perform(
            hub,
            "intent.create",
            {"category": "appliances", "text": "a new kettle", "lifetime_s": 3600, "show": ["plug.power"]},
        )
        assert view["status"] == "published", view
        assert view["grants"] == [made["grant"]["id"]]
        sent = json.loads(spy.last_on(view["topic"]).payload)
        assert [d["stream"] for d in sent["data"]] == ["plug.power"]
        assert len(sent["data"][0]["summaries"]) >= 2

        revoked = await perform(hub, "consent.revoke", {"grant_id": made["grant"]["id"]})
        assert revoked["intents"] == [view["id"]]
        shown = await perform(hub, "intent.show", {"intent_id": view["id"], "fetch": False})
        assert shown["status"] == "grant ended"
        assert shown["cleared_at"] is not None
        spy.last_on(view["topic"], b"")
        assert retained(market.port, view["topic"]) is None
    finally:
        agent.stop()
        await run


async def test_the_intent_service_collects_offers_and_clears_what_expired(
    tmp_path: Path, market: Mosquitto, spy: Spy
) -> None:
    data = tmp_path / "data"
    config = config_from_mapping(
        {
            "hub": {"id": "h-service", "data_dir": str(data)},
            "market": {"host": "127.0.0.1", "port": market.port, "tls": False, "check_every": "1s"},
        }
    )
    with LocalHub(config) as hub:
        view = await perform(
            hub, "intent.create", {"category": "repairs", "text": "fix a door", "lifetime_s": 6}
        )
        service = IntentService(config, hub.ledger)
        runner = asyncio.create_task(service.run(), name="intents")
        try:
            offer = {"v": 1, "intent": view["id"], "vendor": "Doors Ltd", "text": "tomorrow, 40 EUR"}
            await asyncio.to_thread(
                publish_all, market.port, view["reply_topic"], [json.dumps(offer).encode()]
            )
            service.wake()
            await eventually(lambda: _offers(data, view["id"]) == 1, "the service to collect the offer")
            await eventually(
                lambda: _cleared(data, view["id"]), "the service to clear the expired intent", 15
            )
        finally:
            service.close()
            service.close()
            await runner
    spy.last_on(view["topic"], b"")
    assert retained(market.port, view["topic"]) is None


def _offers(data_dir: Path, intent_id: str) -> int:
    conn = open_ledger(data_dir, read_only=True)
    try:
        return intents_ledger.offer_count(conn, intent_id)
    finally:
        conn.close()


def _cleared(data_dir: Path, intent_id: str) -> bool:
    conn = open_ledger(data_dir, read_only=True)
    try:
        return intents_ledger.get_intent(conn, intent_id).cleared_at is not None
    finally:
        conn.close()
