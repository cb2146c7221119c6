"""Intents on a running hub: owner actions go through its ledger writer; revoking the grant ends them."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from agent.config import config_from_mapping
from agent.control.actions import perform
from agent.daemon import Agent
from agent.daemon.owner import RunningHub
from agent.intents.market import IntentService
from tests.conftest import eventually
from tests.testbed.mosquitto import Mosquitto

from .conftest import Spy, retained


async def test_a_revoked_market_grant_takes_the_intents_that_showed_it_off_the_market(
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

        await perform(hub, "consent.revoke", {"grant_id": made["grant"]["id"]})
        service = IntentService(config, hub.ledger)
        runner = asyncio.create_task(service.run())
        try:
            await eventually(lambda: service.rounds >= 1, "one round of the intent service")
        finally:
            service.close()
            service.close()
            await runner
        shown = await perform(hub, "intent.show", {"intent_id": view["id"], "fetch": False})
        assert shown["status"] == "grant ended"
        assert shown["cleared_at"] is not None
        spy.last_on(view["topic"], b"")
        assert retained(market.port, view["topic"]) is None
    finally:
        agent.stop()
        await run
