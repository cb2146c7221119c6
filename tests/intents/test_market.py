"""Intents against a real Mosquitto, watched by a subscriber on ``#`` and the broker's connection log."""

from __future__ import annotations

import json
import re
import time
import zipfile
from pathlib import Path

import paho.mqtt.client as paho

from agent.consent.ledger import audit_entries
from agent.intents import ledger as intents_ledger
from tests.conftest import wait_until
from tests.testbed.mosquitto import Mosquitto
from tests.testbed.vendor import Vendor

from .conftest import HUB_ID, OWNER, STREAM, Home, Spy, home_config, intent_id_of, retained


def _stored(home: Home, intent_id: str) -> intents_ledger.Intent:
    conn = home.ledger()
    try:
        return intents_ledger.get_intent(conn, intent_id)
    finally:
        conn.close()


def test_an_intent_names_neither_the_hub_nor_its_owner_anywhere(home: Home, spy: Spy) -> None:
    now = time.time()
    grant = home.grant("market", now=now - 4 * 3600)
    home.grant("energy-coop", now=now - 4 * 3600)  # an upstream grant: its id must not show either
    home.record([(now - 3 * 3600 + i * 60, 20.0 + (i % 7) * 0.13) for i in range(150)])
    made = home.cli(
        "intent", "create", "--category", "heating", "--text", "offers for a heat pump", "--show", STREAM
    )
    assert made.exit_code == 0, made.output
    first = intent_id_of(made.output)
    again = home.cli("intent", "create", "--category", "solar", "--text", "panels for a small roof")
    assert again.exit_code == 0, again.output
    second = intent_id_of(again.output)

    intents = [_stored(home, first), _stored(home, second)]
    # Everything that reached the broker: the two intents and each exchange's barrier message.
    topics = {i.topic for i in intents}
    for topic in topics:
        spy.last_on(topic)
    published = list(spy.seen)
    secrets = [HUB_ID, OWNER, "Alice", "kitchen", grant.id]
    for m in published:
        assert m.topic.startswith("intents/v1/"), m.topic
        text = f"{m.topic} {m.payload.decode(errors='replace')} {json.dumps(m.properties)}"
        for secret in secrets:
            assert secret.casefold() not in text.casefold(), (secret, text)
        if m.topic in topics:
            # Retained, and MQTT 5 message expiry is its only property.
            assert m.retain
            assert set(m.properties) == {"MessageExpiryInterval"}
            assert 0 < m.properties["MessageExpiryInterval"] <= 14 * 86400
        else:
            assert re.fullmatch(r"intents/v1/ping/[0-9a-f]{24}", m.topic)
            assert not m.retain
            assert m.properties == {}

    # The data went through the gate: rounded as granted, hourly windows, no grant id.
    body = json.loads(spy.last_on(intents[0].topic).payload)
    assert body["intent"] == first
    assert body["reply_to"] == f"intents/v1/offers/{first}"
    (entry,) = body["data"]
    assert entry["stream"] == STREAM
    assert entry["granularity"] == "summary:1h"
    assert entry["summaries"], "closed hourly windows of the last hours are shown"
    for window in entry["summaries"]:
        assert set(window) == {"start", "end", "count", "mean", "min", "max", "unit"}
        assert window["end"] - window["start"] == 3600
        assert round(window["mean"], 1) == window["mean"]

    # The broker saw two unrelated random client ids, neither with a will, neither naming the hub.
    log = home_log(home)
    ids = {i.client_id for i in intents}
    assert len(ids) == 2
    for client_id in ids:
        connects = re.findall(
            rf"New client connected from \S+ as {client_id} \(p5, c(\d), k\d+\)\.\n.*: (.*)", log
        )
        assert connects, log
        assert all(will == "No will message specified." for _, will in connects)
    assert HUB_ID not in log
    assert "Alice" not in log


def home_log(home: Home) -> str:
    return (home.data_dir.parent / "market" / "mosquitto.log").read_text()


def test_withdraw_clears_the_retained_intent(home: Home, spy: Spy) -> None:
    made = home.cli("intent", "create", "--category", "insulation", "--text", "loft insulation quotes")
    assert made.exit_code == 0, made.output
    intent = _stored(home, intent_id_of(made.output))
    assert retained(home.port, intent.topic) == intent.payload

    out = home.cli("intent", "withdraw", intent.id[:6])
    assert out.exit_code == 0, out.output
    assert "cleared from the market" in out.output
    spy.last_on(intent.topic, b"")
    assert retained(home.port, intent.topic) is None
    stored = _stored(home, intent.id)
    assert stored.status(time.time()) == "withdrawn"
    assert stored.cleared_at is not None
    again = home.cli("intent", "withdraw", intent.id)
    assert again.exit_code == 1
    assert "already ended" in again.output


def test_expiry_clears_the_retained_intent(home: Home, spy: Spy) -> None:
    made = home.cli(
        "intent", "create", "--category", "energy", "--text", "a fixed tariff", "--lifetime", "4s"
    )
    assert made.exit_code == 0, made.output
    intent = _stored(home, intent_id_of(made.output))
    assert spy.last_on(intent.topic).properties["MessageExpiryInterval"] <= 4
    assert retained(home.port, intent.topic) == intent.payload
    # The broker drops it at expiry by itself (MQTT 5 message expiry)...
    wait_until(lambda: retained(home.port, intent.topic) is None, "the broker to expire the intent")
    # ...never after the lifetime the owner chose (the expiry interval is rounded down)...
    wait_until(lambda: time.time() >= intent.expires_at, "the intent's lifetime to end")
    # ...and the next exchange clears it anyway and closes the intent's session.
    out = home.cli("intent", "show", intent.id)
    assert out.exit_code == 0, out.output
    assert "(expired)" in out.output
    spy.last_on(intent.topic, b"")
    assert _stored(home, intent.id).cleared_at is not None


def _offer(intent_id: str, number: int, **extra: object) -> bytes:
    body = {
        "v": 1,
        "intent": intent_id,
        "vendor": f"vendor {number}",
        "text": '<script>alert("x")</script><a href="https://evil.example">cheap</a>',
        "links": ["javascript:alert(1)", "https://evil.example/deal"],
        "reply_to": "intents/v1/answers/vendor-answers-01",
        **extra,
    }
    return json.dumps(body).encode()


def test_an_offer_flood_and_oversize_offers_are_capped_and_counted(tmp_path: Path, market: Mosquitto) -> None:
    config = home_config(tmp_path, market.port, "offers_per_period = 5\noffer_max_size = 512\n")
    home = Home(config, tmp_path / "data", market.port)
    made = home.cli("intent", "create", "--category", "appliances", "--text", "a quiet dishwasher")
    assert made.exit_code == 0, made.output
    intent = _stored(home, intent_id_of(made.output))
    # The hub is not connected: the broker keeps the offers for the intent's session.
    junk = [
        *(_offer(intent.id, 0, text="x" * 600) for _ in range(3)),  # too large
        b"not json",
        _offer(intent.id, 0, extra=1),  # a field offers do not have
        _offer(intent.id, 0, vendor="\x1b[31mred\x1b[0m"),  # terminal control characters
        _offer("0" * 32, 0),  # another intent's
        _offer(intent.id, 0, reply_to="hearth/v1/other-hub/status"),  # answer it elsewhere
        _offer(intent.id, 0, text="x" * 20_000),  # past the connection's packet size: the broker drops it
    ]
    publish_all(market.port, intent.reply_topic, [*junk, *(_offer(intent.id, n) for n in range(1, 21))])

    out = home.cli("intent", "show", intent.id)
    assert out.exit_code == 0, out.output
    assert "5 kept; dropped 3 too large, 15 over the rate, 0 with the inbox full, 5 malformed" in out.output
    conn = home.ledger()
    try:
        inbox = intents_ledger.inbox(conn, intent.id)
        stored = intents_ledger.get_intent(conn, intent.id)
    finally:
        conn.close()
    assert stored.dropped == {"size": 3, "rate": 15, "invalid": 5, "full": 0}
    assert [item.offer.vendor for item in inbox] == [f"vendor {n}" for n in range(1, 6)]
    # Untrusted text is kept as data, exactly as it came; links are text, shown and never opened.
    assert inbox[0].offer.text.startswith("<script>")
    assert 'link (not opened): "javascript:alert(1)"' in out.output

    # A second period is not here yet: more offers are still over the rate.
    publish_all(market.port, intent.reply_topic, [_offer(intent.id, 21)])
    again = home.cli("intent", "show", intent.id)
    assert "5 kept; dropped 3 too large, 16 over the rate" in again.output


def publish_all(port: int, topic: str, payloads: list[bytes]) -> None:
    """Publish ``payloads`` at QoS 1 and wait for every PUBACK."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()


def test_the_example_vendor_offers_and_gets_only_the_owners_answer(home: Home, spy: Spy) -> None:
    vendor = Vendor(
        home.port,
        *(
            "--category",
            "heating",
            "--name",
            "Acme Heat",
            "--text",
            "Air-to-water heat pump, fitted in a day",
        ),
        *("--price", "from 7900 EUR", "--link", "https://acme.example/heat-pumps", "--answers", "1"),
    )
    try:
        vendor.next("ready")
        made = home.cli("intent", "create", "--category", "heating", "--text", "offers for a heat pump")
        assert made.exit_code == 0, made.output
        intent_id = intent_id_of(made.output)
        assert vendor.next("intent")["intent"]["intent"] == intent_id
        offered = vendor.next("offer")["offer"]

        shown = home.cli("intent", "show", intent_id[:8])
        assert shown.exit_code == 0, shown.output
        assert "offer 1 from 'Acme Heat'" in shown.output
        assert "price: from 7900 EUR" in shown.output
        assert 'link (not opened): "https://acme.example/heat-pumps"' in shown.output
        listed = home.cli("intent", "list")
        assert intent_id[:12] in listed.output

        words = "Please call me on weekdays after 5pm."
        answered = home.cli("intent", "answer", intent_id[:8], "1", "--text", words)
        assert answered.exit_code == 0, answered.output
        answer = vendor.next("answer")["answer"]
        assert answer == {"v": 1, "intent": intent_id, "ref": offered["ref"], "text": words}
        assert vendor.proc.wait(10) == 0
        # The answer went over the intent's own connection: the broker saw it from the intent's client id.
        client_id = _stored(home, intent_id).client_id
        assert f"Received PUBLISH from {client_id} (d0, q1, r0, m" in home_log(home)
        assert f"'{offered['reply_to']}'" in home_log(home)
        twice = home.cli("intent", "answer", intent_id[:8], "1", "--text", "again")
        assert twice.exit_code == 1
        assert "already answered" in twice.output

        assert home.cli("intent", "withdraw", intent_id).exit_code == 0
    finally:
        vendor.stop()
    conn = home.ledger()
    try:
        kinds = [e.kind for e in audit_entries(conn)]
    finally:
        conn.close()
    # "What left": the intent, that it was published, the offer, the answer, its end and its clearing.
    assert [k for k in kinds if k.startswith("intent")] == [
        "intent",
        "intent publish",
        "intent offer",
        "intent answer",
        "intent end",
        "intent clear",
    ]


def test_via_upstream_an_intent_still_has_a_connection_of_its_own(
    tmp_path: Path, market: Mosquitto, spy: Spy
) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text(
        f'[hub]\nid = "{HUB_ID}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[upstream]\nhost = "127.0.0.1"\nport = {market.port}\ntls = false\n'
    )
    home = Home(config, tmp_path / "data", market.port)
    made = home.cli("intent", "create", "--category", "energy", "--text", "green power", "--via", "upstream")
    assert made.exit_code == 0, made.output
    intent = _stored(home, intent_id_of(made.output))
    assert intent.via == "upstream"
    assert intent.topic.startswith("intents/v1/intents/energy/")
    assert spy.last_on(intent.topic).payload == intent.payload
    log = home_log(home)
    assert f"as {intent.client_id} (p5" in log
    assert HUB_ID not in log


def test_revoking_the_market_grant_says_which_intents_it_withdrew_and_the_passport_keeps_them(
    home: Home, spy: Spy, tmp_path: Path
) -> None:
    now = time.time()
    grant = home.grant("market", now=now - 3 * 3600)
    home.record([(now - 2 * 3600 + i * 60, 19.5) for i in range(100)])
    made = home.cli("intent", "create", "--category", "heating", "--text", "a heat pump", "--show", STREAM)
    assert made.exit_code == 0, made.output
    intent = _stored(home, intent_id_of(made.output))
    revoked = home.cli("consent", "revoke", grant.id)
    assert revoked.exit_code == 0, revoked.output
    assert f"intent {intent.id} showed its data: withdrawn" in revoked.output
    spy.last_on(intent.topic, b"")
    assert _stored(home, intent.id).status(time.time()) == "grant ended"

    archive = tmp_path / "passport.zip"
    assert home.cli("passport", "export", str(archive)).exit_code == 0
    with zipfile.ZipFile(archive) as zipped:
        (row,) = [json.loads(line) for line in zipped.read("ledger/intents.jsonl").splitlines()]
    assert row["id"] == intent.id
    assert json.loads(row["payload"]) == json.loads(intent.payload)
