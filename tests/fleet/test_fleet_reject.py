"""Documents a hub must refuse: each is reported with its reason, and the running config is untouched."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import CLIMATE, PLUG, document, publish, running, watching, write_hub

from agent.config import load_config
from agent.fleet import history
from agent.fleet.document import key_id
from agent.store.ledger import open_ledger

GOOD = f"{PLUG}\n{CLIMATE}"


def _tampered(payload: bytes) -> bytes:
    wire = json.loads(payload)
    wire["envelope"]["config"] = wire["envelope"]["config"].replace("rate = 50", "rate = 500")
    return json.dumps(wire).encode()


def _posing_as(pinned: Ed25519PrivateKey, other: Ed25519PrivateKey, version: int) -> bytes:
    """Signed by ``other`` but claiming the pinned key's id."""
    wire = json.loads(document(other, GOOD, version=version, target="hub:hub-a"))
    wire["envelope"]["key_id"] = key_id(pinned.public_key())
    return json.dumps(wire).encode()


async def test_every_bad_document_is_rejected_with_its_reason_and_changes_nothing(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    other_fleet = Ed25519PrivateKey.generate()
    path = write_hub(tmp_path, "hub-a", key=fleet_key, port=broker, groups=["kitchens"])
    to_me = "hub:hub-a"
    two_days_ago = int(time.time()) - 2 * 86400
    cases: list[tuple[str, bytes, int | None, str]] = [
        ("bad signature", _tampered(document(fleet_key, GOOD, version=6, target=to_me)), 6, "bad signature"),
        ("other fleet's key", document(other_fleet, GOOD, version=7, target=to_me), 7, "trusts only"),
        ("other key posing", _posing_as(fleet_key, other_fleet, 8), 8, "bad signature"),
        (
            "replayed older version",
            document(fleet_key, GOOD, version=4, target=to_me),
            4,
            "version 4 is not above the last accepted version 5",
        ),
        (
            "same version again",
            document(fleet_key, PLUG, version=5, target=to_me),
            5,
            "version 5 is not above the last accepted version 5",
        ),
        (
            "expired",
            document(fleet_key, GOOD, version=9, target=to_me, issued_at=two_days_ago, expires_in=86400),
            9,
            "expired at",
        ),
        (
            "another hub's target",
            document(fleet_key, GOOD, version=10, target="hub:hub-b"),
            10,
            "addressed to hub:hub-b",
        ),
        (
            "invalid config",
            document(fleet_key, "[store]\nbatch_size = 0\n" + GOOD, version=11, target=to_me),
            11,
            "invalid config: fleet document v11: store.batch_size: Expected `int` >= 1",
        ),
        (
            "grant inside a source",
            document(fleet_key, PLUG + 'grants = ["upstream"]\n', version=12, target=to_me),
            12,
            "consent grants are the owner's alone and cannot be pushed (at sources[0].grants)",
        ),
        (
            "consent section",
            document(
                fleet_key,
                GOOD + '\n[consent]\ndefault = "share"\n',
                version=13,
                target=to_me,
            ),
            13,
            "consent grants are the owner's alone and cannot be pushed (at consent)",
        ),
        (
            "grants in JSON",
            document(
                fleet_key,
                json.dumps({"upstream": {"grants": [{"strands": ["*"], "granularity": "raw"}]}}),
                version=14,
                target=to_me,
                config_format="json",
            ),
            14,
            "cannot be pushed (at upstream.grants)",
        ),
        (
            "re-pinning the key",
            document(
                fleet_key,
                GOOD + f'\n[fleet]\npublic_key = "x"\nbroker = {{ host = "evil", port = {broker} }}\n',
                version=15,
                target=to_me,
            ),
            15,
            "fleet: set at provisioning",
        ),
        (
            "another identity",
            document(fleet_key, '[hub]\nid = "hub-z"\n' + GOOD, version=16, target=to_me),
            16,
            "hub.id: a push cannot change the hub's identity",
        ),
        ("not a document", b"{not json", None, "malformed document"),
    ]
    async with watching(broker) as watcher, running([path]) as (hub,):
        await publish(broker, to_me, document(fleet_key, GOOD, version=5, target=to_me))
        await watcher.wait_for(["hub-a"], "applied", 5)
        applied_text = path.read_text()
        applied_config = hub.agent.config
        runners = list(hub.agent.runners)
        assert applied_config == load_config(path)

        for what, payload, version, reason in cases:
            await publish(broker, to_me, payload)
            await watcher.wait_for(["hub-a"], "rejected", version)
            report = watcher.reports["hub-a"]
            assert reason in report.reason, what
            assert report.running_version == 5, what
            assert path.read_text() == applied_text, what
            assert hub.agent.config == applied_config, what
            assert hub.agent.runners == runners, what
        assert not path.with_name("hearth.toml.new").exists()


def test_the_schema_has_no_place_for_grants() -> None:
    from msgspec.json import schema

    from agent.config.schema import Config

    def keys(node: object) -> set[str]:
        found: set[str] = set()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    found |= set(value)
                found |= keys(value)
        elif isinstance(node, list):
            for item in node:
                found |= keys(item)
        return found

    names = keys(schema(Config))
    assert "sources" in names  # the walk does reach the keys
    assert not [n for n in names if "grant" in n.lower() or "consent" in n.lower()]


@pytest.mark.parametrize("word", ["grants", "Consent", "grant_id", "consent_receipt"])
def test_any_consent_key_is_found_at_any_depth(word: str) -> None:
    from agent.fleet.verify import consent_keys

    raw = {"sources": [{"name": "a"}, {"name": "b", "extra": {word: 1}}]}
    assert list(consent_keys(raw)) == [f"sources[1].extra.{word}"]


def test_a_flood_of_rejected_documents_keeps_only_the_newest_and_every_applied_one(tmp_path: Path) -> None:
    ledger = open_ledger(tmp_path)
    try:
        history.begin(ledger, 1, "a" * 64, "# v1\n")
        history.finish(ledger, 1, "a" * 64, "applied", "")
        for n in range(history.KEEP_REJECTED + 5):
            history.reject(ledger, f"{n:064x}", None, "bad signature")
        rows = ledger.execute("SELECT outcome, count(*) FROM fleet_audit GROUP BY outcome").fetchall()
        newest = ledger.execute("SELECT max(sha256) FROM fleet_audit WHERE outcome = 'rejected'").fetchone()
    finally:
        ledger.close()
    assert dict(rows) == {"applied": 1, "rejected": history.KEEP_REJECTED}
    assert newest == (f"{history.KEEP_REJECTED + 4:064x}",)
