"""Per-hub broker identities on a real Mosquitto running its dynamic security plugin: a hub publishes and
reads only its own topics and its groups' documents; only the manager publishes fleet documents."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import CLIMATE, PLUG, document, running, write_hub

from agent.fleet import enroll
from agent.fleet.manager import decode_status
from agent.fleet.mqtt import document_topic
from tests.conftest import REPO, eventually, hearth
from tests.testbed.dynsec import DynsecMosquitto

ADMIN_PASSWORD = "admin-secret"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[DynsecMosquitto]:
    folder = tmp_path / "broker"
    folder.mkdir()
    with DynsecMosquitto(folder, admin_password=ADMIN_PASSWORD) as server:
        yield server


def _enroll(port: int, tmp_path: Path, name: str, *args: str) -> str:
    admin_password = tmp_path / "admin.password"
    admin_password.write_text(ADMIN_PASSWORD)
    result = hearth(
        "fleet", "enroll", name, *args, "--broker", f"mqtt://admin@127.0.0.1:{port}",
        "--password-file", str(admin_password), "--out", str(tmp_path / "credentials"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    secret = tmp_path / "credentials" / f"{name}.password"
    assert secret.stat().st_mode & 0o777 == 0o600
    return secret.read_text().strip()


@contextlib.asynccontextmanager
async def connected(port: int, user: str, password: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", port, username=user, password=password) as client:
        yield client


def _refused(granted: object) -> bool:
    (code,) = granted  # type: ignore[misc]
    return int(getattr(code, "value", code)) >= 0x80


async def test_a_hub_publishes_and_reads_only_its_own_topics_and_only_the_manager_publishes_documents(
    tmp_path: Path, secured: DynsecMosquitto, fleet_key: Ed25519PrivateKey
) -> None:
    port = secured.port
    manager = await asyncio.to_thread(_enroll, port, tmp_path, "fleet-hq", "--manager")
    hub_a = await asyncio.to_thread(_enroll, port, tmp_path, "hub-a", "--group", "kitchens")
    await asyncio.to_thread(_enroll, port, tmp_path, "hub-b", "--group", "garage")
    paths = []
    for hub, group in (("hub-a", "kitchens"), ("hub-b", "garage")):
        path = write_hub(tmp_path / "hubs", hub, key=fleet_key, port=port, groups=[group])
        secret = tmp_path / "credentials" / f"{hub}.password"
        path.write_text(
            path.read_text().replace(
                "tls = false }", f'tls = false, username = "{hub}", password_file = "{secret}" }}'
            )
        )
        paths.append(path)

    # Without credentials nobody gets in.
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", port):
            pass

    states: dict[str, tuple[str, int | None]] = {}
    heard: list[str] = []  # every topic the admin saw, in order
    async with (
        connected(port, "fleet-hq", manager) as hq,
        connected(port, "admin", ADMIN_PASSWORD) as admin,
        running(paths),
    ):
        assert not _refused(await hq.subscribe("hearth/v1/+/fleet", qos=1))
        assert _refused(await hq.subscribe("hearth/v1/hub-a/upstream/#", qos=1))  # reports only
        await admin.subscribe("hearth/v1/#", qos=1)

        async def follow_reports() -> None:
            async for message in hq.messages:
                if (report := decode_status(message.payload)) is not None:
                    states[report.hub] = (report.state, report.version)

        async def follow_all() -> None:
            async for message in admin.messages:
                heard.append(str(message.topic))

        async with asyncio.TaskGroup() as group:
            reports = group.create_task(follow_reports())
            everything = group.create_task(follow_all())
            # Each hub publishes its own status, which the manager reads.
            await eventually(
                lambda: states.get("hub-a") == states.get("hub-b") == ("provisioned", None), "reports"
            )

            # The manager publishes a document for the kitchens; hub-a (a kitchen) applies it.
            await hq.publish(
                document_topic("hearth/v1", "group:kitchens"),
                document(fleet_key, PLUG + CLIMATE, version=1, target="group:kitchens"),
                qos=1,
                retain=True,
            )
            await eventually(lambda: states.get("hub-a") == ("applied", 1), "hub-a to apply v1", 30)

            # hub-a, with its own credentials, cannot read another hub's topics or documents...
            async with connected(port, "hub-a", hub_a) as rogue:
                assert not _refused(await rogue.subscribe(document_topic("hearth/v1", "hub:hub-a"), qos=1))
                assert not _refused(
                    await rogue.subscribe(document_topic("hearth/v1", "group:kitchens"), qos=1)
                )
                for topic in (
                    document_topic("hearth/v1", "hub:hub-b"),
                    document_topic("hearth/v1", "group:garage"),
                    "hearth/v1/hub-b/fleet",
                    "hearth/v1/+/fleet",
                    "#",
                ):
                    assert _refused(await rogue.subscribe(topic, qos=1)), topic
                # ... nor publish a fleet document (even one signed by the fleet key), nor speak for hub-b.
                signed = document(fleet_key, PLUG + CLIMATE, version=5, target="group:garage")
                await rogue.publish(document_topic("hearth/v1", "group:garage"), signed, qos=1, retain=True)
                await rogue.publish(document_topic("hearth/v1", "hub:hub-b"), signed, qos=1, retain=True)
                fake = json.dumps({"hub": "hub-b", "state": "rejected", "version": 9, "reason": "x",
                                   "running_version": 0, "at": 0})  # fmt: skip
                await rogue.publish("hearth/v1/hub-b/fleet", fake.encode(), qos=1, retain=True)
                # Its own topics are its to use; published last, it marks the end of what got through.
                await rogue.publish("hearth/v1/hub-a/probe", b"done", qos=1)
            await eventually(lambda: "hearth/v1/hub-a/probe" in heard, "hub-a's own publish to arrive")
            reports.cancel()
            everything.cancel()
    assert "hearth/v1/fleet/group/kitchens" in heard  # the manager's document went through
    assert "hearth/v1/fleet/group/garage" not in heard
    assert "hearth/v1/fleet/hub/hub-b" not in heard
    assert states["hub-b"] == ("provisioned", None)


def test_enroll_prints_the_commands_for_review_and_names_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "credentials"
    printed = hearth(
        "fleet", "enroll", "hub-q", "--group", "attic", "--broker", "mqtt://admin@127.0.0.1:1",
        "--out", str(out), "--print-only",
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    commands = json.loads(printed.stdout)["commands"]
    role = next(c for c in commands if c["command"] == "createRole")
    allowed = {(a["acltype"], a["topic"]) for a in role["acls"] if a["allow"]}
    assert allowed == {
        ("publishClientSend", "hearth/v1/hub-q/#"),
        ("subscribeLiteral", "hearth/v1/fleet/hub/hub-q"),
        ("publishClientReceive", "hearth/v1/fleet/hub/hub-q"),
        ("subscribeLiteral", "hearth/v1/fleet/group/attic"),
        ("publishClientReceive", "hearth/v1/fleet/group/attic"),
    }
    client = next(c for c in commands if c["command"] == "createClient")
    assert client["password"] == (out / "hub-q.password").read_text().strip()

    for args, message in (
        (["Hub Q"], "NAME: expected a hub id"),
        (["hub-q", "--group", "a/b"], "--group: expected a group name"),
        (["hq", "--manager", "--group", "attic"], "a manager reads every hub"),
    ):
        result = hearth("fleet", "enroll", *args, "--broker", "mqtt://a@127.0.0.1:1", "--out", str(out))
        assert result.returncode == 2, args
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_the_documented_acls_are_the_ones_enroll_makes() -> None:
    doc = (REPO / "docs" / "fleet-manager-scale.md").read_text(encoding="utf-8")

    def row(who: str) -> tuple[set[str], set[str]]:
        line = next(line for line in doc.splitlines() if line.startswith(f"| {who}"))
        _, _, publish, read, _ = line.split("|")
        return set(re.findall(r"`([^`]+)`", publish)), set(re.findall(r"`([^`]+)`", read))

    def made(acls: list[dict[str, object]]) -> tuple[set[str], set[str]]:
        allowed = [(a["acltype"], str(a["topic"])) for a in acls if a["allow"]]
        publish = {topic for kind, topic in allowed if kind == "publishClientSend"}
        read = {topic for kind, topic in allowed if str(kind).startswith("subscribe")}
        assert read == {topic for kind, topic in allowed if kind == "publishClientReceive"}
        return publish, read

    assert row("hub `H`") == made(enroll.hub_acls("hearth/v1", "H", ["G"]))
    assert row("fleet manager") == made(enroll.manager_acls("hearth/v1"))
