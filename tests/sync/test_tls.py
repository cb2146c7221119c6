"""TLS to the broker: verified against a throwaway CA made here; a wrong CA is refused clearly."""

from __future__ import annotations

import gc
import ssl

import pytest

from agent.errors import UpstreamError
from agent.sync.mqtt import MqttConnector, MqttSettings

from .conftest import HUB, PREFIX, T0, Broker, Hub, Pki, Seen, run_publisher, stop_publisher, subscribe


def _settings(port: int, ca: str) -> MqttSettings:
    return MqttSettings(
        host="127.0.0.1",
        port=port,
        client_id=HUB,
        status_topic=f"{PREFIX}/{HUB}/status",
        tls=True,
        ca_file=ca,
    )


async def test_summaries_flow_over_verified_tls(hub: Hub, tls_broker: Broker, pki: Pki) -> None:
    import asyncio

    seen = Seen()
    context = ssl.create_default_context(cafile=str(pki.ca))
    client_files: dict[str, str] = {}
    if tls_broker.mutual:  # type: ignore[attr-defined]
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
        client_files = {"cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}
    sub = asyncio.create_task(subscribe(tls_broker.port, seen, tls_context=context))
    try:
        await asyncio.wait_for(seen.ready.wait(), 10)
        hub.record("living_room.temperature", [(T0 + i, 20.0) for i in range(50)])
        hub.grant("coop", ["living_room.temperature"], "summary:10s")
        hub.summariser.step(T0 + 100)
        publisher = hub.publisher(tls_broker.port, tls=True, ca_file=str(pki.ca), **client_files)
        task = await run_publisher(publisher)
        try:
            await seen.until(lambda: len(seen.data()) == 5)
        finally:
            await stop_publisher(publisher, task)
    finally:
        sub.cancel()
    assert [m["seq"] for m in seen.data()] == [1, 2, 3, 4, 5]


# paho leaves the socket of a failed TLS handshake to the garbage collector, which warns about it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_a_wrong_ca_is_refused_with_a_clear_error(tls_broker: Broker, pki: Pki) -> None:
    text = await _connect_error(MqttConnector(_settings(tls_broker.port, str(pki.other_ca))))
    gc.collect()  # collect paho's leaked socket here, under this test's warning filter
    assert "TLS" in text
    assert "could not be verified" in text
    assert "upstream.ca_file" in text


async def _connect_error(connector: MqttConnector) -> str:
    try:
        async with connector.connect():
            pass
    except UpstreamError as exc:
        return str(exc)
    raise AssertionError("connected despite the wrong CA")


def test_a_missing_ca_file_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UpstreamError, match="cannot load TLS files"):
        MqttConnector(_settings(8883, str(tmp_path / "nope.pem")))
