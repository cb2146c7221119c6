"""The real broker connection: aiomqtt (paho underneath), MQTT 5 with a 3.1.1 fallback, TLS verified.

aiomqtt owns the socket and the connect/disconnect handshake; the publish window talks to paho's
client directly so that each QoS 1 publish gets its own future carrying the PUBACK's reason code
(aiomqtt's ``publish`` drops it), and so that the broker's CONNACK limits (Maximum Packet Size,
Receive Maximum) are known.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.connection import tls_context
from agent.errors import ConfigError, UpstreamError
from agent.mqtt_requests import UNBOUNDED, farewell, reply
from agent.sync.link import Link, LinkDownError

log = logging.getLogger(__name__)

# paho reports "unacceptable protocol version" this way for a 3.1.1-only broker.
_UNSUPPORTED_PROTOCOL = {1, 132}


@dataclass(frozen=True)
class MqttSettings:
    """How the publisher reaches the upstream broker (built by ``agent.sync.service.mqtt_settings``).

    The password never appears in ``repr``.
    """

    host: str
    port: int
    client_id: str
    status_topic: str
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    tls: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password: str | None = None
    keepalive: int = 60
    session_expiry_s: int = 7 * 86400
    max_inflight: int = 32
    timeout_s: float = 10.0

    def __repr__(self) -> str:
        return f"MqttSettings(host={self.host!r}, port={self.port}, client_id={self.client_id!r})"


class MqttLink:
    """A live connection; ``send`` issues paho publishes in call order."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client
        self._paho: paho.Client = client._client
        self._loop = asyncio.get_running_loop()
        self._pending: dict[int, asyncio.Future[str | None]] = {}
        self._early: dict[int, str | None] = {}
        self.lost = asyncio.Event()
        self.max_packet_size: int | None = None
        self.receive_maximum: int | None = None
        # aiomqtt's own callbacks keep running after ours.
        chained_publish = cast("Callable[..., None]", self._paho.on_publish)
        chained_disconnect = cast("Callable[..., None]", self._paho.on_disconnect)
        chained_connect = cast("Callable[..., None]", self._paho.on_connect)

        def on_connect(c: paho.Client, u: Any, flags: Any, rc: Any, props: Properties | None = None) -> None:
            if props is not None:
                self.max_packet_size = getattr(props, "MaximumPacketSize", None)
                self.receive_maximum = getattr(props, "ReceiveMaximum", None)
            chained_connect(c, u, flags, rc, props)

        def on_publish(c: paho.Client, u: Any, mid: int, rc: Any, props: Any) -> None:
            refusal = str(rc) if getattr(rc, "is_failure", False) else None
            fut = self._pending.pop(mid, None)
            if fut is None:
                self._early[mid] = refusal
            elif not fut.done():
                fut.set_result(refusal)
            chained_publish(c, u, mid, rc, props)

        def on_disconnect(c: paho.Client, u: Any, flags: Any, rc: Any, props: Any = None) -> None:
            self.drop(f"connection lost: {rc}")
            chained_disconnect(c, u, flags, rc, props)

        self._paho.on_connect = on_connect
        self._paho.on_publish = on_publish
        self._paho.on_disconnect = on_disconnect

    def send(self, topic: str, payload: bytes) -> asyncio.Future[str | None]:
        fut: asyncio.Future[str | None] = self._loop.create_future()
        if self.lost.is_set():
            fut.set_exception(LinkDownError("not connected"))
            return fut
        info = self._paho.publish(topic, payload, qos=1)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            fut.set_exception(LinkDownError(f"publish failed: {paho.error_string(info.rc)}"))
            self.drop(paho.error_string(info.rc))
        elif info.mid in self._early:
            fut.set_result(self._early.pop(info.mid))
        else:
            self._pending[info.mid] = fut
        return fut

    def drop(self, reason: str) -> None:
        """Fail every pending publish (their rows stay queued and are sent again)."""
        self.lost.set()
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(LinkDownError(reason))


class MqttConnector:
    """Connects with the hub id as client id, a persistent session and a retained last will."""

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        try:
            self._context = tls_context(settings, "upstream")
        except ConfigError as exc:
            raise UpstreamError(exc.message.removeprefix("config: "), hint=exc.hint) from exc
        self._v311 = settings.protocol == "3.1.1"

    def _client(self, *, v311: bool) -> aiomqtt.Client:
        s = self.settings
        will = aiomqtt.Will(s.status_topic, b"offline", qos=1, retain=True)
        common: dict[str, Any] = {
            "identifier": s.client_id,
            "username": s.username,
            "password": s.password,
            "will": will,
            "keepalive": s.keepalive,
            "timeout": s.timeout_s,
            "tls_context": self._context,
            # The publisher never has more than max_inflight publishes out, so paho never queues.
            "max_inflight_messages": s.max_inflight,
            "max_queued_outgoing_messages": s.max_inflight,
            "logger": logging.getLogger("agent.sync.paho"),
        }
        if v311:
            return aiomqtt.Client(
                s.host, s.port, protocol=aiomqtt.ProtocolVersion.V311, clean_session=False, **common
            )
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = s.session_expiry_s
        return aiomqtt.Client(
            s.host,
            s.port,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            **common,
        )

    async def _enter(self, stack: contextlib.AsyncExitStack) -> tuple[aiomqtt.Client, MqttLink]:
        error: aiomqtt.MqttError | None = None
        for v311 in [True] if self._v311 else [False, True]:
            client = self._client(v311=v311)
            link = MqttLink(client)
            try:
                await stack.enter_async_context(client)
            except aiomqtt.MqttError as exc:
                explained = _explain(exc, self.settings)
                if v311 or self.settings.protocol != "auto" or not _maybe_v311_only(exc, explained):
                    raise explained from exc
                error = exc
                continue
            if v311 and error is not None:
                log.info("broker did not take MQTT 5 (%s); speaking 3.1.1 to it from now on", error)
                self._v311 = True
            return client, link
        assert error is not None
        raise _explain(error, self.settings) from error

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Link]:
        status = self.settings.status_topic
        async with contextlib.AsyncExitStack() as stack:
            client, link = await self._enter(stack)
            try:
                await reply(
                    client.publish(status, b"online", qos=1, retain=True, timeout=UNBOUNDED),
                    within=self.settings.timeout_s,
                )
                yield link
            except aiomqtt.MqttError as exc:
                link.drop(str(exc))
                raise LinkDownError(
                    f"connection to {self.settings.host}:{self.settings.port} lost: {exc}"
                ) from exc
            finally:
                if not link.lost.is_set():
                    # A graceful stop (also on cancellation) says offline itself; the will covers crashes.
                    await farewell(client, status, b"offline")
                link.drop("disconnected")
                disconnected = client._disconnected
                if disconnected.done() and not disconnected.cancelled():
                    disconnected.exception()  # seen here; aiomqtt would otherwise report it unretrieved

    def connect(self) -> AbstractAsyncContextManager[Link]:
        return self._session()


def _explain(exc: aiomqtt.MqttError, settings: MqttSettings) -> UpstreamError:
    text = str(exc)
    where = f"{settings.host}:{settings.port}"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return UpstreamError(
            f"TLS: the certificate of broker {where} could not be verified ({text})",
            hint="upstream.ca_file must be the CA that signed the broker's certificate (for upstream.host)",
        )
    if "Not authorized" in text or "Bad user name or password" in text:
        return UpstreamError(
            f"broker {where} refused our credentials: {text}", hint="check upstream.username"
        )
    return LinkDownError(f"cannot connect to broker {where}: {text}")


def _maybe_v311_only(exc: aiomqtt.MqttError, explained: UpstreamError) -> bool:
    """A failed MQTT 5 CONNECT that a 3.1.1-only broker would cause (refused version, or no answer)."""
    if isinstance(exc, aiomqtt.MqttCodeError) and _code(exc.rc) in _UNSUPPORTED_PROTOCOL:
        return True
    text = str(exc)
    # Some 3.1.1-only brokers drop or ignore a version 5 CONNECT instead of refusing it; a broker
    # that is simply away refuses the TCP connection, and TLS failures are not about the version.
    return isinstance(explained, LinkDownError) and "refused" not in text.lower()


def _code(rc: object) -> int | None:
    value = getattr(rc, "value", rc)
    return value if isinstance(value, int) else None
