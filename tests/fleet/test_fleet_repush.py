"""Pushing a document a hub already handled: ``hearth fleet push --wait`` still gets the hub's report."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import CLIMATE, PLUG, document, publish, running, watching, write_hub

from agent.fleet.document import public_key_text
from tests.conftest import hearth


async def test_a_document_pushed_again_is_reported_again(
    tmp_path: Path, broker: int, fleet_key: Ed25519PrivateKey
) -> None:
    (tmp_path / "fleet.pub").write_text(public_key_text(fleet_key.public_key()) + "\n")
    path = write_hub(tmp_path, "hub-r", key=fleet_key, port=broker)
    first = document(fleet_key, PLUG + CLIMATE, version=1, target="hub:hub-r")
    second = document(fleet_key, PLUG, version=2, target="hub:hub-r")
    signed = tmp_path / "v1.signed.json"
    signed.write_bytes(first + b"\n")
    async with watching(broker) as watcher, running([path]) as (hub,):
        await watcher.wait_for(["hub-r"], "provisioned", None)
        await publish(broker, "hub:hub-r", first)
        await watcher.wait_for(["hub-r"], "applied", 1)
        await publish(broker, "hub:hub-r", second)
        await watcher.wait_for(["hub-r"], "applied", 2)

        # v1 again, byte for byte: nothing is applied, and the hub says what became of v1.
        pushed = await asyncio.to_thread(
            hearth, "fleet", "push", str(signed), "--broker", f"mqtt://127.0.0.1:{broker}", "--wait", "30s"
        )
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        assert "hub-r: applied" in pushed.stdout
        assert "1 hub reported v1: 1 applied, 0 rejected, 0 rolled_back" in pushed.stdout
        assert watcher.reports["hub-r"].running_version == 2
        assert [s.name for s in hub.agent.config.sources] == ["plug"]
