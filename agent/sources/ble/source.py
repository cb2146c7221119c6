"""The BLE source: adverts of adopted devices and GATT devices, as readings, kept running.

The detection callback (``on_advert``) is the hot path and does no I/O: look the address up among
adopted devices (anything else is counted and forgotten at once), drop a repeat of the device's last
payload, decode, queue. While the owner looks for devices to adopt (``discover``), unadopted devices
are also kept in a bounded table in memory, never stored or logged, until nobody has looked for a while.
Around it, ``run`` keeps the scanner alive: a start that fails, a scanner
that dies, or one that hears nothing for ``silence_timeout`` while devices are adopted is restarted
with capped, jittered backoff (``agent.reconnect.ReconnectLogic``: the scanner is up once it hears
adverts), and after ``reset_after`` failures in a row the adapter is reset.
Framed Nordic UART devices are boards: ``send_board_command`` sends one a COMMAND and waits for its ACK.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from agent.backoff import Backoff
from agent.errors import BoardCommandError
from agent.pipeline.sink import OverflowPolicy, Sink
from agent.readings import Reading, StreamInfo, next_stamp
from agent.reconnect import LinkState, ReconnectLogic
from agent.sources.ble.adoption import Adoption
from agent.sources.ble.advert import Advert, AdvertScanner, Clock, SystemClock
from agent.sources.ble.decoders import DeviceDecoder, detect_format
from agent.sources.ble.dedup import AdvertDedup
from agent.sources.ble.discovery import Candidate, Discovery
from agent.sources.ble.recovery import AdapterResetter, AutoRecoveryResetter
from agent.sources.ble.watchdog import Fault, RecoveryPolicy, SilenceWatchdog, classify

if TYPE_CHECKING:
    # Imported when GATT devices are configured: the board protocol and cbor2 cost ~3 MB otherwise.
    from agent.sources.ble.gatt import GattConnector, GattDevice, GattDeviceRunner
    from firmware_bridge import Ack
    from firmware_bridge.messages import Scalar

log = logging.getLogger(__name__)

ForgetHook = Callable[[str], Awaitable[object]]
# Reads the adoption table (in a hub: on the readings file's writer thread).
AdoptionReader = Callable[[], Awaitable[list[Adoption]]]
DiscoveryHook = Callable[[Candidate], None]
DISCOVERY_CAP = 256
DISCOVERY_GRACE_S = 30.0  # how long discovery outlives the last watcher (``keep_discovering``)
# The parser libraries log per advert (and at warning level on a wrong bindkey); the source counts
# those cases and logs a device's failure once itself.
_PARSER_LOGGERS = ("bthome_ble", "xiaomi_ble", "ruuvitag_ble")
# bleak and its helpers log every advert's D-Bus signal (neighbours' addresses included) at debug
# level; nothing about an unadopted device may reach a log, so they never log below info.
_RADIO_LOGGERS = ("bleak", "bleak_retry_connector", "habluetooth", "bluetooth_adapters", "dbus_fast")
# bluetooth-auto-recovery warns several times per failed reset; the source counts and logs resets.
_RESET_LOGGERS = ("bluetooth_auto_recovery",)


# ``Reading(...)`` runs the NamedTuple's Python-level ``__new__``; the tuple constructor builds the
# same object without that frame, for every value of every advert.
_reading: Callable[[type[Reading], tuple[str, float, float, str | None]], Reading] = tuple.__new__


class ScannerDownError(Exception):
    """The running scanner died (``fault``, from its ``error``) or heard nothing (``silence``)."""

    def __init__(
        self, fault: Fault | Literal["silence"], error: BaseException | None, quiet_for: float
    ) -> None:
        detail = f"{fault}: {error}" if error is not None else f"no adverts for {quiet_for:.0f} s"
        super().__init__(detail)
        self.fault = fault


def _describe(exc: Exception) -> str:
    if isinstance(exc, ScannerDownError):
        return str(exc)
    return f"{classify(exc)}: {exc}"


@dataclass(slots=True)
class _Adopted:
    adoption: Adoption
    decoder: DeviceDecoder | None = None
    decrypt_failing: bool = False
    streams: dict[str, str] = field(default_factory=dict)
    last_ms: int = 0  # the store keeps one value per stream per millisecond


class BleSource:
    """Collects adopted BLE devices' adverts and configured GATT devices into one sink."""

    kind = "ble"

    def __init__(
        self,
        name: str,
        scanner: AdvertScanner,
        *,
        adapter: str = "hci0",
        silence_timeout: float = 90.0,
        reset_after: int = 3,
        dedup_cap: int = 4096,
        adoption_refresh: float = 5.0,
        adoptions: Iterable[Adoption] = (),
        gatt_devices: Sequence[GattDevice] = (),
        connector: GattConnector | None = None,
        max_connections: int = 3,
        resetter: AdapterResetter | None = None,
        clock: Clock | None = None,
        overflow: OverflowPolicy = "drop_oldest",
    ) -> None:
        self.name = name
        self.scanner = scanner
        self.adapter = adapter
        self.overflow: OverflowPolicy = overflow
        self.clock: Clock = clock or SystemClock()
        self.resetter: AdapterResetter = resetter or AutoRecoveryResetter()
        self.silence_timeout = silence_timeout
        # the watchdog tick also copies the hot-path counters into ``stats`` for the health rows
        self.check_every = max(0.05, min(silence_timeout / 3, 2.0))
        self.adoption_refresh = adoption_refresh
        self.gatt_devices = list(gatt_devices)
        self.connector = connector
        self.max_connections = max_connections
        self.dedup = AdvertDedup(dedup_cap)
        self.policy = RecoveryPolicy(reset_after)
        self.watchdog = SilenceWatchdog(silence_timeout)
        self.backoff = Backoff(base=1.0, cap=60.0)
        self.reconnect = ReconnectLogic(
            f"BLE scanner on {adapter}", self.backoff, logger=log, sleep=self.clock.sleep
        )
        self.stats: dict[str, int] = {}
        self._last_emit: dict[str, float] = {}
        self.scanning = asyncio.Event()
        # hot-path counters, copied into ``stats`` by the watchdog
        self.adverts = 0
        self.repeats = 0
        self.unadopted = 0
        self.decoded = 0
        self.readings = 0
        self.malformed = 0
        self.decrypt_failures = 0
        self.unknown_format = 0
        self._adopted: dict[str, _Adopted] = {}
        self._gatt_runners: dict[str, GattDeviceRunner] = {}
        self._sink: Sink | None = None
        self._read_adoptions: AdoptionReader | None = None
        self._on_forget: ForgetHook | None = None
        self._adverts_at_start = 0
        self.discovery: Discovery | None = None
        self.on_discovered: DiscoveryHook | None = None
        self.keep_discovering: Callable[[], bool] | None = None
        self._discovery_until = 0.0
        self.set_adoptions(adoptions)
        for logger in _PARSER_LOGGERS + _RESET_LOGGERS:
            logging.getLogger(logger).setLevel(logging.ERROR)
        for logger in _RADIO_LOGGERS:
            logging.getLogger(logger).setLevel(logging.INFO)

    # -- adoption ------------------------------------------------------------------------------

    def bind_store(self, read: AdoptionReader, on_forget: ForgetHook | None = None) -> None:
        """Take adoptions from ``read`` (the readings file's table); ``on_forget`` erases a forgotten one."""
        self._read_adoptions = read
        self._on_forget = on_forget

    def set_adoptions(self, adoptions: Iterable[Adoption]) -> list[str]:
        """Replace the adopted devices; return the names of devices no longer adopted.

        A device counts as gone when its address is no longer adopted under its name, so a sensor
        replaced under the same name (forget, then adopt another address) is gone too.
        """
        fresh: dict[str, _Adopted] = {}
        for adoption in adoptions:
            current = self._adopted.get(adoption.address)
            if current is not None and current.adoption == adoption:
                fresh[adoption.address] = current
            else:
                fresh[adoption.address] = _Adopted(adoption)
                self.dedup.forget(adoption.address)
        if self.discovery is not None:
            for address in fresh:
                self.discovery.forget(address)
        kept = {(a.adoption.address, a.adoption.name) for a in fresh.values()}
        gone = [
            a.adoption.name
            for a in self._adopted.values()
            if (a.adoption.address, a.adoption.name) not in kept
        ]
        self._adopted = fresh
        return gone

    @property
    def adopted_names(self) -> list[str]:
        """Names of the adopted advertising devices."""
        return sorted(a.adoption.name for a in self._adopted.values())

    async def refresh_adoptions(self) -> None:
        """Re-read adoptions from the readings file; erase the data of devices forgotten meanwhile."""
        if self._read_adoptions is None:
            return
        adoptions = await self._read_adoptions()
        for name in self.set_adoptions(adoptions):
            log.info("BLE device %s was forgotten; no longer recording it", name)
            if self._on_forget is not None:
                await self._on_forget(name)

    def discover(self, seconds: float = 300.0) -> Discovery:
        """Keep unadopted devices heard in the next ``seconds`` in memory (only), and return that table."""
        if self.discovery is None:
            self.discovery = Discovery(DISCOVERY_CAP)
        self._discovery_until = self.clock.monotonic() + seconds
        return self.discovery

    def _expire_discovery(self) -> None:
        if self.discovery is None:
            return
        if self.keep_discovering is not None and self.keep_discovering():
            self._discovery_until = self.clock.monotonic() + DISCOVERY_GRACE_S
        elif self.clock.monotonic() > self._discovery_until:
            self.discovery = None

    # -- the hot path --------------------------------------------------------------------------

    def on_advert(self, advert: Advert) -> None:
        """Handle one advert (bleak's detection callback); never raises, never blocks."""
        self.adverts += 1
        device = self._adopted.get(advert.address)
        if device is None:
            self.unadopted += 1
            if self.discovery is not None:
                self._discovered(advert, self.discovery)
            return
        if self.dedup.is_repeat(advert.address, advert.manufacturer_data, advert.service_data):
            self.repeats += 1
            return
        decoder = device.decoder
        if decoder is None:
            fmt = detect_format(advert)
            if fmt is None:
                self.unknown_format += 1
                return
            decoder = device.decoder = DeviceDecoder(fmt, device.adoption.bindkey)
        # ``next_stamp``, inlined on whole milliseconds: this runs for every new advert.
        ms = max(round(time.time() * 1000), device.last_ms + 1)
        now = ms / 1000
        values, malformed, decrypt_failed = decoder.decode(advert, now)
        if decrypt_failed:
            self.decrypt_failures += 1
            if not device.decrypt_failing:
                device.decrypt_failing = True
                log.warning(
                    "cannot decrypt adverts of BLE device %s: wrong or missing bindkey", device.adoption.name
                )
            return
        if malformed:
            self.malformed += 1
            return
        if device.decrypt_failing:
            device.decrypt_failing = False
            log.info("adverts of BLE device %s decrypt again", device.adoption.name)
        self.decoded += 1
        sink = self._sink
        if sink is None:
            return
        device.last_ms = ms
        streams = device.streams
        readings: list[Reading] = []
        for quantity, value, unit, label in values:
            stream = streams.get(quantity)
            if stream is None:
                stream = self._declare(device.adoption.name, quantity, unit, streams)
            readings.append(_reading(Reading, (stream, now, value, label)))
        sink.put_all(readings)
        self.readings += len(readings)

    def _discovered(self, advert: Advert, discovery: Discovery) -> None:
        candidate = discovery.on_advert(advert)
        if self.on_discovered is not None:
            self.on_discovered(candidate)

    def _declare(self, device: str, quantity: str, unit: str, streams: dict[str, str]) -> str:
        info = StreamInfo.of(device, quantity, unit)
        streams[quantity] = info.name
        if self._sink is not None:
            self._sink.declare(info)
        return info.name

    def emit(  # noqa: PLR0917 - positional on purpose: called once per decoded value
        self,
        device: str,
        quantity: str,
        value: float,
        unit: str,
        label: str | None,
        ts: float,
        streams: dict[str, str],
    ) -> None:
        """Queue one reading of ``device.quantity``, declaring the stream the first time."""
        sink = self._sink
        if sink is None:
            return
        stream = streams.get(quantity)
        if stream is None:
            stream = self._declare(device, quantity, unit, streams)
        # Several values of one stream can arrive in one notification (UART): keep them all.
        ts = next_stamp(ts, self._last_emit.get(stream, 0.0))
        self._last_emit[stream] = ts
        sink.put_nowait(Reading(stream, ts, value, label))
        self.readings += 1

    # -- running -------------------------------------------------------------------------------

    async def run(self, sink: Sink) -> None:
        """Scan (and serve GATT devices) until cancelled, recovering from every scanner failure."""
        self._sink = sink
        sink.stats = self.stats
        for device in self._adopted.values():
            device.streams.clear()  # a new sink: declare every stream again
        try:
            async with asyncio.TaskGroup() as group:
                if self._read_adoptions is not None:
                    await self.refresh_adoptions()
                    group.create_task(self._refresh_loop(), name=f"{self.name}:adoptions")
                if self.gatt_devices and self.connector is not None:
                    from agent.sources.ble.gatt import GattDeviceRunner

                    slots = asyncio.Semaphore(self.max_connections)
                    for gatt in self.gatt_devices:
                        runner = GattDeviceRunner(
                            gatt, self.connector, slots, self._gatt_emit, self.stats, clock=self.clock
                        )
                        self._gatt_runners[gatt.name] = runner
                        group.create_task(runner.run(), name=f"{self.name}:gatt:{gatt.name}")
                await self._scan_loop()
        finally:
            self._gatt_runners.clear()
            self._publish()
            self.discovery = None

    def board_names(self) -> list[str]:
        """The GATT devices with a Nordic UART link (only those in framed mode take commands)."""
        return [g.name for g in self.gatt_devices if "nus" in g.services]

    def gatt_runner(self, name: str) -> GattDeviceRunner | None:
        """The runner keeping GATT device ``name`` connected (None while the source is not running)."""
        return self._gatt_runners.get(name)

    async def send_board_command(self, board: str, name: str, arg: Scalar | None = None) -> Ack:
        """Send ``name`` to the Nordic UART board ``board``; return its ACK or raise ``BoardCommandError``."""
        runner = self._gatt_runners.get(board)
        if runner is None:
            known = board in {g.name for g in self.gatt_devices}
            raise BoardCommandError(
                f"board {board} is not connected" if known else f"no GATT device named {board!r}"
            )
        return await runner.send_command(name, arg)

    def _gatt_emit(  # noqa: PLR0917 - matches gatt.Emit, called per value
        self, device: str, quantity: str, value: float, unit: str, ts: float, streams: dict[str, str]
    ) -> None:
        self.emit(device, quantity, value, unit, None, ts, streams)

    async def _refresh_loop(self) -> None:
        while True:
            await self.clock.sleep(self.adoption_refresh)
            try:
                await self.refresh_adoptions()
            except (sqlite3.Error, OSError) as exc:
                self._bump("adoption_read_errors")
                log.debug("cannot read BLE adoptions: %s", exc)

    async def _scan_loop(self) -> None:
        await self.reconnect.run(self._scan, describe=_describe, on_failure=self._recover)

    async def _scan(self) -> None:
        """Start the scanner and watch it; raise ``ScannerDownError`` when it dies or goes quiet."""
        self._adverts_at_start = self.adverts
        await self.scanner.start(self.on_advert)
        self.scanning.set()
        self._bump("scanner_starts")
        try:
            fault, error = await self._watch()
        finally:
            self.scanning.clear()
            await self.scanner.stop()
        raise ScannerDownError(fault, error, self.silence_timeout)

    async def _watch(self) -> tuple[Fault | Literal["silence"], BaseException | None]:
        """Wait until the scanner dies or goes quiet; meanwhile publish counters."""
        failed = self.scanner.failed
        self.watchdog.reset(self.clock.monotonic())
        while True:
            tick = asyncio.ensure_future(self.clock.sleep(self.check_every))
            waiters: list[asyncio.Future[Any]] = [tick, failed]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                tick.cancel()
            self._publish()
            self._expire_discovery()
            if failed.done():
                error = failed.result()
                return classify(error), error
            quiet = self.watchdog.wedged(self.clock.monotonic(), self.adverts, expected=bool(self._adopted))
            if quiet:
                return "silence", None
            if self.reconnect.state is not LinkState.CONNECTED and self.adverts > self._adverts_at_start:
                self.policy.succeeded()
                self.reconnect.connected(f"{self.scanner.mode} scanning")

    async def _recover(self, exc: Exception) -> None:
        fault = exc.fault if isinstance(exc, ScannerDownError) else classify(exc)
        self._bump("silence_restarts" if fault == "silence" else fault)
        self._bump("scanner_restarts")
        if self.policy.failed(fault if fault != "silence" else "scanner_error") == "reset_adapter":
            self._bump("adapter_resets")
            if await self.resetter.reset(self.adapter):
                log.info("reset Bluetooth adapter %s", self.adapter)
            else:
                self._bump("adapter_reset_failures")
                if self.stats["adapter_reset_failures"] == 1:
                    log.warning(
                        "cannot reset Bluetooth adapter %s (needs CAP_NET_ADMIN); restarting scans only",
                        self.adapter,
                    )

    def _bump(self, counter: str) -> None:
        self.stats[counter] = self.stats.get(counter, 0) + 1

    def _publish(self) -> None:
        stats = self.stats
        stats["adverts"] = self.adverts
        stats["repeats_dropped"] = self.repeats
        stats["unadopted_ignored"] = self.unadopted
        stats["decoded"] = self.decoded
        stats["readings"] = self.readings
        stats["malformed"] = self.malformed
        stats["decrypt_failures"] = self.decrypt_failures
        stats["unknown_format"] = self.unknown_format
        stats["dedup_evictions"] = self.dedup.evicted
        stats["dedup_size"] = len(self.dedup)
