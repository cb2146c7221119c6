"""Intents on a running hub: owner actions go through its ledger writer; revoking the grant ends them."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from agent.config import Config, config_from_mapping
from agent.control import wire
from agent.control.actions import perform
from agent.control.client import LocalHub, ask_running_hub
from agent.control.owner import RunningHub
from agent.daemon import Agent
from agent.intents import ledger as intents_ledger
from agent.intents.market import IntentService
from agent.store.ledger import open_ledger
from tests.conftest import eventually
from tests.testbed.mosquitto import Mosquitto
from tests.testbed.vendor import Vendor

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


def market_hub(hub_id: str, data: Path, port: int, check_every: str = "1s") -> Config:
    """A hub with no sources whose intents go to the market broker on ``port``."""
    return config_from_mapping(
        {
            "hub": {"id": hub_id, "data_dir": str(data)},
            "market": {"host": "127.0.0.1", "port": port, "tls": False, "check_every": check_every},
        }
    )


async def test_the_intent_service_collects_offers_and_clears_what_expired(
    tmp_path: Path, market: Mosquitto, spy: Spy
) -> None:
    data = tmp_path / "data"
    config = market_hub("h-service", data, market.port)
    with LocalHub(config) as hub:
        view = await perform(
            # Long enough for the offer to come in first on a busy machine; the clear follows the expiry.
            hub,
            "intent.create",
            {"category": "repairs", "text": "fix a door", "lifetime_s": 15},
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
                lambda: _cleared(data, view["id"]), "the service to clear the expired intent", 40
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


async def over_the_socket(data_dir: Path, action: str, **params: Any) -> Any:
    """``action`` as ``hearth intent ...`` sends it to a running hub: over its control socket."""
    await eventually(lambda: wire.socket_path(data_dir).exists(), "the hub's control socket")
    line = await asyncio.to_thread(ask_running_hub, data_dir, wire.Request(action, params))
    assert line is not None, "no hub answered on the control socket"
    return wire.result_of(line)


async def test_a_running_hub_collects_offers_itself_and_keeps_one_connection_per_intent(
    tmp_path: Path, market: Mosquitto, spy: Spy
) -> None:
    data = tmp_path / "data"
    config = market_hub("h-live", data, market.port)
    vendor = Vendor(market.port, "--category", "heating", "--name", "Acme Heat", "--text", "a heat pump")
    agent = Agent(config)
    run = asyncio.create_task(agent.run())
    try:
        await asyncio.to_thread(vendor.next, "ready")
        await agent.started.wait()
        assert "intents" in agent.features
        view = await over_the_socket(
            data, "intent.create", category="heating", text="offers for a heat pump", lifetime_s=3600
        )
        assert view["status"] == "published", view
        assert (await asyncio.to_thread(vendor.next, "offer"))["intent"] == view["id"]
        # No command collects it: the hub's intent service does, at its next round.
        await eventually(lambda: _offers(data, view["id"]) == 1, "the running hub to collect the offer")

        ended = await over_the_socket(data, "intent.withdraw", intent_id=view["id"][:8])
        assert ended["status"] == "withdrawn", ended
        assert ended["cleared_at"] is not None
        assert ended["problem"] is None
        spy.last_on(view["topic"], b"")
    finally:
        agent.stop()
        await run
        vendor.stop()
    log = market.log.read_text(errors="replace")
    client_id = _client_id(data, view["id"])
    assert f"as {client_id}" in log
    # Two connections with the intent's client id would take the session from each other.
    assert "already connected" not in log, log


def _client_id(data_dir: Path, intent_id: str) -> str:
    conn = open_ledger(data_dir, read_only=True)
    try:
        return intents_ledger.get_intent(conn, intent_id).client_id
    finally:
        conn.close()


async def test_owner_actions_on_a_running_hub_go_through_its_intent_service(
    tmp_path: Path, market: Mosquitto, spy: Spy
) -> None:
    data = tmp_path / "data"
    # Nothing is due for an hour: every round in this test is one an owner action woke.
    config = market_hub("h-wake", data, market.port, check_every="1h")
    agent = Agent(config)
    run = asyncio.create_task(agent.run())
    try:
        await agent.started.wait()
        service = agent.features["intents"]
        assert isinstance(service, IntentService)
        await eventually(lambda: service.rounds == 1, "the service's first round")
        view = await over_the_socket(
            data, "intent.create", category="repairs", text="fix a door", lifetime_s=600
        )
        assert view["status"] == "published", view
        assert service.rounds == 2
        offer = {"v": 1, "intent": view["id"], "vendor": "Doors Ltd", "text": "tomorrow, 40 EUR"}
        await asyncio.to_thread(publish_all, market.port, view["reply_topic"], [json.dumps(offer).encode()])
        shown = await over_the_socket(data, "intent.show", intent_id=view["id"])
        assert shown["offers"] == 1, shown
        assert service.rounds == 3
        ended = await over_the_socket(data, "intent.withdraw", intent_id=view["id"])
        assert ended["cleared_at"] is not None, ended
        assert service.rounds == 4
        spy.last_on(view["topic"], b"")
    finally:
        agent.stop()
        await run
    assert "already connected" not in market.log.read_text(errors="replace")


async def test_an_action_that_comes_before_the_service_starts_waits_for_its_first_round(
    tmp_path: Path,
) -> None:
    config = market_hub("h-early", tmp_path / "data", 1, check_every="1h")
    with LocalHub(config) as hub:
        service = IntentService(config, hub.ledger)
        waiting = asyncio.create_task(service.exchanged())
        await asyncio.sleep(0)  # let it wait: the service has not begun a round
        assert not waiting.done()
        runner = asyncio.create_task(service.run(), name="intents")
        try:
            await waiting
            assert service.rounds == 1
        finally:
            service.close()
            await runner
        # Once the service has stopped, nobody waits for it.
        await service.exchanged()
