"""GATT devices: connect with ``bleak-retry-connector``, subscribe or poll, reconnect on a drop.

The standard characteristics are parsed by ``gatt_parsers``; a board behind the Nordic UART Service
is served by ``nus.NusLink`` (the firmware bridge's board link over BLE). This module holds the
connection: ``GattDeviceRunner`` keeps one device connected within a semaphore that caps
simultaneous connections, subscribes or polls what the device offers, and reconnects with backoff
through ``agent.reconnect.ReconnectLogic`` (a failure to connect and a drop are both failures).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.backoff import Backoff
from agent.errors import BoardCommandError
from agent.reconnect import ReconnectLogic
from agent.sources.ble.advert import Clock, SystemClock
from agent.sources.ble.gatt_parsers import HEART_RATE_MEASUREMENT, POLLED, GattParseError, parse_heart_rate
from agent.sources.ble.nus import Emit, NusLink
from agent.sources.ble.watchdog import classify
from agent.sources.board_link import Mode
from firmware_bridge import Ack
from firmware_bridge.messages import Scalar

log = logging.getLogger(__name__)


class GattClient(Protocol):
    """The part of bleak's ``BleakClient`` the runner uses."""

    @property
    def is_connected(self) -> bool:
        """True while connected."""
        ...

    async def start_notify(self, char_specifier: Any, callback: Callable[[Any, bytearray], None]) -> None:
        """Subscribe to notifications of a characteristic (by UUID)."""
        ...

    async def read_gatt_char(self, char_specifier: Any) -> bytearray:
        """Read a characteristic (by UUID)."""
        ...

    async def write_gatt_char(self, char_specifier: Any, data: bytes, response: bool) -> None:
        """Write a characteristic (by UUID), with or without the peripheral's acknowledgement."""
        ...

    async def disconnect(self) -> None:
        """Disconnect (idempotent)."""
        ...


class GattConnector(Protocol):
    """Connects to a device by address; ``on_disconnect`` is called when the link drops."""

    async def connect(self, address: str, name: str, on_disconnect: Callable[[], None]) -> GattClient:
        """Connect, or raise bleak's error."""
        ...


class BleakGattConnector:
    """Connections through ``bleak_retry_connector.establish_connection`` on one adapter."""

    def __init__(self, adapter: str = "hci0", find_timeout: float = 20.0) -> None:
        self.adapter = adapter
        self.find_timeout = find_timeout

    async def connect(self, address: str, name: str, on_disconnect: Callable[[], None]) -> GattClient:
        """Find the device by address, then connect with retries and BlueZ's service cache."""
        from bleak import BleakScanner
        from bleak_retry_connector import (
            BleakClientWithServiceCache,
            BleakNotFoundError,
            establish_connection,
        )

        device = await BleakScanner.find_device_by_address(
            address, timeout=self.find_timeout, bluez={"adapter": self.adapter}
        )
        if device is None:
            raise BleakNotFoundError(f"{name} is not in range")
        return await establish_connection(
            BleakClientWithServiceCache, device, name, disconnected_callback=lambda _client: on_disconnect()
        )


class LinkDroppedError(Exception):
    """A connected device's link went down (the reason is the message)."""


def _describe(exc: Exception) -> str:
    if isinstance(exc, LinkDroppedError):
        return f"disconnected ({exc})"
    return f"cannot connect ({classify(exc)})"


@dataclass(slots=True)
class GattDevice:
    """A configured GATT device: which services to read, how often to poll the readable ones."""

    name: str
    address: str
    services: Sequence[str] = ("battery",)
    poll_interval: float = 60.0
    nus_mode: Mode = "framed"  # what a board behind the Nordic UART Service speaks
    handshake_timeout: float = 5.0  # a framed NUS board must answer HELLO_REQUEST within this
    command_timeout: float = 1.0  # wait this long for each ACK of a COMMAND ...
    command_retries: int = 2  # ... and resend it this many times


@dataclass
class GattDeviceRunner:
    """Keeps one GATT device connected (within the shared connection cap) and its values flowing."""

    device: GattDevice
    connector: GattConnector
    slots: asyncio.Semaphore
    emit: Emit
    stats: dict[str, int]
    clock: Clock = field(default_factory=SystemClock)
    backoff: Backoff = field(default_factory=lambda: Backoff(base=2.0, cap=120.0))
    streams: dict[str, str] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    nus: NusLink | None = None
    reconnect: ReconnectLogic = field(init=False)

    def __post_init__(self) -> None:
        device = self.device
        self.reconnect = ReconnectLogic(
            f"GATT device {device.name}", self.backoff, logger=log, sleep=self.clock.sleep
        )
        if "nus" in device.services:
            self.nus = NusLink(
                device.name,
                device.nus_mode,
                stats=self.stats,
                emit=self.emit,
                streams=self.streams,
                handshake_timeout=device.handshake_timeout,
                command_timeout=device.command_timeout,
                command_retries=device.command_retries,
                sleep=self.clock.sleep,
            )

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until cancelled."""
        await self.reconnect.run(self._attempt, describe=_describe, on_failure=self._failed)

    async def _attempt(self) -> None:
        if self.slots.locked():
            self._bump("gatt_waiting_for_slot")
        async with self.slots:
            await self._session()

    async def _session(self) -> None:
        dropped = asyncio.Event()
        client = await self.connector.connect(self.device.address, self.device.name, dropped.set)
        self._bump("gatt_connects")
        self.reconnect.connected()
        reason = "link dropped"
        try:
            await self._subscribe(client)
            self.connected.set()
            async with asyncio.TaskGroup() as group:
                nus = self.nus
                writer = group.create_task(nus.serve(client)) if nus is not None else None
                await self._serve(client, dropped)
                if writer is not None:
                    writer.cancel()
        except Exception as exc:  # noqa: BLE001 - a failure while connected is a drop: reconnect
            while isinstance(exc, ExceptionGroup):
                exc = exc.exceptions[0]
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self.connected.clear()
            if self.nus is not None:
                self.nus.lost()
            with contextlib.suppress(Exception):  # the link may be gone already; cleanup is best effort
                await client.disconnect()
        raise LinkDroppedError(reason)

    async def _subscribe(self, client: GattClient) -> None:
        services = self.device.services
        if "heart_rate" in services:
            await client.start_notify(HEART_RATE_MEASUREMENT, self._on_heart_rate)
        if self.nus is not None:
            await self.nus.start(client)

    async def send_command(self, name: str, arg: Scalar | None = None) -> Ack:
        """Send ``name`` to the framed board behind the device's Nordic UART Service; return its ACK.

        Raises ``BoardCommandError`` as ``NusLink.send_command`` does, or if the device has no such link.
        """
        if self.nus is None:
            raise BoardCommandError(f"GATT device {self.device.name} has no Nordic UART link")
        return await self.nus.send_command(name, arg)

    async def _serve(self, client: GattClient, dropped: asyncio.Event) -> None:
        polled = [
            (char, quantity, unit, parse)
            for service, char, quantity, unit, parse in POLLED
            if service in self.device.services
        ]
        while not dropped.is_set():
            for char, quantity, unit, parse in polled:
                raw = await client.read_gatt_char(char)
                try:
                    value = parse(bytes(raw))
                except GattParseError:
                    self._bump("gatt_malformed")
                    continue
                self.emit(self.device.name, quantity, value, unit, time.time(), self.streams)
            if not polled:
                await dropped.wait()
                return
            waiter = asyncio.ensure_future(dropped.wait())
            sleeper = asyncio.ensure_future(self.clock.sleep(self.device.poll_interval))
            try:
                await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                sleeper.cancel()

    def _on_heart_rate(self, _char: Any, data: bytearray) -> None:
        try:
            m = parse_heart_rate(bytes(data))
        except GattParseError:
            self._bump("gatt_malformed")
            return
        now = time.time()
        name, emit, streams = self.device.name, self.emit, self.streams
        emit(name, "heart_rate", float(m.bpm), "bpm", now, streams)
        if m.contact is not None:
            emit(name, "sensor_contact", 1.0 if m.contact else 0.0, "", now, streams)
        if m.energy_kj is not None:
            emit(name, "energy_expended", float(m.energy_kj), "kJ", now, streams)
        # The intervals end at the latest beat; stamp each at its own end so none overwrites another.
        ends = now - sum(m.rr_intervals)
        for rr in m.rr_intervals:
            ends += rr
            emit(name, "rr_interval", rr, "s", ends, streams)

    async def _failed(self, exc: Exception) -> None:
        if isinstance(exc, LinkDroppedError):
            self._bump("gatt_drops")
        else:
            self._bump("gatt_no_slots" if classify(exc) == "no_slots" else "gatt_connect_errors")

    def _bump(self, counter: str) -> None:
        self.stats[counter] = self.stats.get(counter, 0) + 1
