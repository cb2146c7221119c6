"""The intents page over HTTP, against a real market broker: every change is the owner action the
``hearth intent`` commands use, audited in the ledger; offers come back escaped; mistakes are named."""

from __future__ import annotations

import asyncio
import json
import re
import time
from html import unescape
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import paho.mqtt.client as paho

from agent.consent.dp import DpPolicy, policy_from_options
from agent.consent.ledger import audit_entries
from agent.intents import ledger as intents_ledger
from agent.store.ledger import open_ledger
from tests.testbed.mosquitto import Mosquitto
from tests.testbed.wait import eventually
from tests.web.web_support import Served, client, csrf_of, login, serve

CREATED = re.compile(r"^/intents/([0-9a-f]{32})\?created=1$")
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


def _market(broker: Mosquitto) -> dict[str, Any]:
    return {"market": {"host": "127.0.0.1", "port": broker.port, "tls": False, "check_every": "1s"}}


async def _create(http: aiohttp.ClientSession, served: Served, form: dict[str, str]) -> str:
    async with http.post(f"{served.url}/intents", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        found = CREATED.match(response.headers["Location"])
    assert found is not None
    return found.group(1)


async def _grant_market(served: Served, policy: DpPolicy | None = None) -> str:
    """Grant the market tank.level as 1 s summaries (noised by ``policy``); its id, once windows closed."""
    grant: dict[str, Any] = {
        "recipient": "market",
        "purpose": "intents",
        "strands": ["tank.level"],
        "granularity": "summary:1s",
    }
    if policy is not None:
        grant["dp"] = msgspec.to_builtins(policy)
    made = await served.agent.perform("consent.grant", grant)
    given = made["grant"]["created_at"]
    await eventually(lambda: time.time() > given + 3, "closed windows after the grant")
    return str(made["grant"]["id"])


def _publish(port: int, topic: str, payload: bytes) -> None:
    """Publish one message at QoS 1 as a vendor does, and wait for its PUBACK."""
    vendor = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    vendor.connect("127.0.0.1", port)
    vendor.loop_start()
    try:
        vendor.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        vendor.loop_stop()
        vendor.disconnect()


def _kinds(data_dir: Path) -> list[str]:
    conn = open_ledger(data_dir, read_only=True)
    try:
        return [e.kind for e in audit_entries(conn) if e.kind.startswith("intent")]
    finally:
        conn.close()


def _offers(data_dir: Path, intent_id: str) -> int:
    conn = open_ledger(data_dir, read_only=True)
    try:
        return intents_ledger.offer_count(conn, intent_id)
    finally:
        conn.close()


async def test_the_page_publishes_shows_data_answers_and_withdraws_as_the_commands_do(
    tmp_path: Path, market_broker: Mosquitto
) -> None:
    data_dir = tmp_path / "data"
    async with serve(tmp_path, sections=_market(market_broker)) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        grant_id = await _grant_market(served)
        async with http.get(f"{served.url}/intents") as response:
            assert "Active grants to <b>market</b> cover: tank.level." in await response.text()

        form = {"category": "repairs", "text": "fix a door", "lifetime": "1h", "show": "tank.level"}
        async with http.post(f"{served.url}/intents", data=form, allow_redirects=False) as response:
            assert response.status == 403  # no CSRF token: nothing is made
        assert await served.agent.perform("intent.list", {}) == []
        intent_id = await _create(http, served, {"csrf": token, **form, "windows": "2"})
        views = await served.agent.perform("intent.list", {})
        assert [(v["id"], v["status"], v["grants"]) for v in views] == [(intent_id, "published", [grant_id])]
        async with http.get(f"{served.url}/intents/{intent_id}") as response:
            page = unescape(await response.text())
        assert "tank.level as summary:1s, 2 windows" in page
        assert _kinds(data_dir) == ["intent", "intent publish"]

        offer = {"v": 1, "intent": intent_id, "vendor": "Doors <b>Ltd</b>", "text": HOSTILE, "ref": "r1"}
        offer["reply_to"] = "intents/v1/answers/doors-ltd-1"
        reply_topic = views[0]["reply_topic"]
        await asyncio.to_thread(_publish, market_broker.port, reply_topic, json.dumps(offer).encode())
        async with http.post(
            f"{served.url}/intents/{intent_id[:8]}/check", data={"csrf": token}, allow_redirects=False
        ) as response:
            assert response.status == 303
        await eventually(lambda: _offers(data_dir, intent_id) == 1, "the offer in the inbox")
        async with http.get(f"{served.url}/intents/{intent_id}") as response:
            raw = await response.text()
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x onerror=" in raw
        assert "Doors &lt;b&gt;Ltd&lt;/b&gt;" in raw
        assert "<img" not in raw
        assert raw.count("<script") == 1  # the dashboard's own app.js

        answer = f"{served.url}/intents/{intent_id}/offers/1/answer"
        async with http.post(answer, data={"csrf": token, "text": "  "}) as response:
            assert response.status == 400
            assert "the answer is empty" in unescape(await response.text())
        said = {"csrf": token, "text": "Tuesday, please"}
        async with http.post(answer, data=said, allow_redirects=False) as response:
            assert response.status == 303
        async with http.post(answer, data={"csrf": token, "text": "again"}) as response:
            assert response.status == 400
            assert "offer 1 is already answered" in unescape(await response.text())

        async with http.post(
            f"{served.url}/intents/{intent_id}/withdraw", data={"csrf": token}, allow_redirects=False
        ) as response:
            assert response.status == 303
            assert response.headers["Location"] == f"/intents?withdrawn={intent_id}"
        async with http.post(f"{served.url}/intents/{intent_id}/withdraw", data={"csrf": token}) as response:
            assert response.status == 400
            assert f"intent {intent_id} has already ended (withdrawn)" in await response.text()
        shown = await served.agent.perform("intent.show", {"intent_id": intent_id, "fetch": False})
        assert shown["status"] == "withdrawn"
        assert shown["cleared_at"] is not None
        assert shown["inbox"][0]["answer"] == "Tuesday, please"
        async with http.get(f"{served.url}/intents/{intent_id}") as response:
            page = await response.text()
        assert "Send answer" not in page
        assert "Withdraw</button>" not in page
        kinds = _kinds(data_dir)
        for kind in ("intent offer", "intent answer", "intent end", "intent clear"):
            assert kind in kinds, kinds
        async with http.get(f"{served.url}/intents/{'0' * 32}") as response:
            assert response.status == 404


async def test_an_intent_form_mistake_is_named_on_the_page(tmp_path: Path, market_broker: Mosquitto) -> None:
    async with serve(tmp_path, sections=_market(market_broker)) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        base = {"csrf": token, "category": "heating", "text": "a heat pump", "lifetime": "14d"}
        for changed, message in (
            ({"category": "cars"}, "unknown category 'cars'"),
            (
                {"lifetime": "forever"},
                "invalid lifetime 'forever' (a duration; “Stays up for”: for example 14d)",
            ),
            ({"lifetime": "200d"}, "out of range"),
            (
                {"windows": "none"},
                "windows 'none' is not a whole number above 0 (“Summary windows to show”: for example 24)",
            ),
            (
                {"via": "carrier-pigeon"},
                "unknown broker 'carrier-pigeon' (“Publish on” is market or upstream)",
            ),
            ({"show": "tank.level"}, "no grant lets 'tank.level' go to the market"),
            ({"text": "from web-hub"}, "the intent would name this hub"),
            # Words shared with ``hearth intent create``: the form names its own fields, not the options.
            ({"via": "upstream"}, "no [upstream] broker is configured (“Publish on”: for example market)"),
            (
                {"show": "tank.*"},
                "not patterns: 'tank.*' (“Data to show”: for example living_room.temperature)",
            ),
            (
                {"show": "tank.levle"},
                "no stream 'tank.levle' on this hub"
                " (did you mean tank.level? strands on this hub: tank.level)",
            ),
        ):
            async with http.post(f"{served.url}/intents", data={**base, **changed}) as response:
                page = unescape(await response.text())
                assert response.status == 400, changed
            assert message in page, (changed, page)
            assert "Traceback" not in page
            assert not re.search(r'role="alert">[^<]*--', page), page
            # The form keeps what the owner typed.
            assert f'value="{base["text"] if "text" not in changed else changed["text"]}"' in page
        assert await served.agent.perform("intent.list", {}) == []


async def test_an_intent_under_a_noised_market_grant_says_so_and_the_budget_shows_what_it_cost(
    tmp_path: Path, market_broker: Mosquitto
) -> None:
    policy = policy_from_options("laplace", epsilon=0.5, rho=None, bounds="0..100", budget="8/day")
    async with serve(tmp_path, sections=_market(market_broker)) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        await _grant_market(served, policy)
        form = {"category": "repairs", "text": "fix a door", "lifetime": "1h", "show": "tank.level"}
        intent_id = await _create(http, served, {"csrf": token, **form, "windows": "2"})
        async with http.get(f"{served.url}/intents/{intent_id}") as response:
            assert "tank.level as summary:1s, 2 windows, noised (laplace)" in await response.text()
        async with http.get(f"{served.url}/consent") as response:
            page = unescape(await response.text())
        assert "1 of 8 spent this period, 7 left" in page


async def test_revoking_the_market_grant_on_the_consent_page_withdraws_the_intents_it_showed(
    tmp_path: Path, market_broker: Mosquitto
) -> None:
    """The consent page revokes as ``hearth consent revoke`` does: an intent showing the grant's data
    ends with it, and the page says so."""
    async with serve(tmp_path, sections=_market(market_broker)) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        grant_id = await _grant_market(served)
        form = {"category": "repairs", "text": "fix a door", "lifetime": "1h", "show": "tank.level"}
        intent_id = await _create(http, served, {"csrf": token, **form, "windows": "2"})
        shown = await served.agent.perform("intent.show", {"intent_id": intent_id, "fetch": False})
        assert shown["status"] == "published"

        revoke = f"{served.url}/consent/{grant_id}/revoke"
        async with http.post(revoke, data={"csrf": token}) as response:
            assert response.status == 200
            page = unescape(await response.text())
        assert f"Revoked {grant_id}" in page
        assert "1 intent that showed its data was withdrawn from the market" in page
        shown = await served.agent.perform("intent.show", {"intent_id": intent_id, "fetch": False})
        assert shown["status"] == "grant ended"
        assert shown["cleared_at"] is not None
        assert "intent end" in _kinds(tmp_path / "data")
