"""The real scanner: bleak's ``BleakScanner`` with a detection callback, passive where BlueZ can.

Passive scanning (no scan requests, less airtime and battery on the sensors) uses BlueZ's
AdvertisementMonitor API, which bleak exposes as ``scanning_mode="passive"`` with or-patterns; the
patterns come from the decoder registry, so the adapter reports only adverts of formats we read.
``auto`` tries passive and falls back to active when BlueZ lacks the API (older BlueZ, or BlueZ
without ``--experimental``).
"""

from __future__ import annotations

import logging
from typing import Literal

from bleak import BleakScanner
from bleak.args.bluez import BlueZScannerArgs, OrPattern
from bleak.assigned_numbers import AdvertisementDataType
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from agent.sources.ble.advert import Advert, AdvertCallback, FailureFuture
from agent.sources.ble.decoders import FORMATS, AdvertFormat

log = logging.getLogger(__name__)

ScanningMode = Literal["auto", "passive", "active"]


def or_patterns(formats: tuple[AdvertFormat, ...] = FORMATS) -> list[OrPattern]:
    """AdvertisementMonitor patterns matching every registered format (UUID/company id, LE)."""
    patterns: list[OrPattern] = []
    for fmt in formats:
        for uuid in sorted(fmt.service_uuids):
            short = int(uuid[4:8], 16)
            patterns.append(
                OrPattern(0, AdvertisementDataType.SERVICE_DATA_UUID16, short.to_bytes(2, "little"))
            )
        for company in sorted(fmt.company_ids):
            patterns.append(
                OrPattern(0, AdvertisementDataType.MANUFACTURER_SPECIFIC_DATA, company.to_bytes(2, "little"))
            )
    return patterns


class BleakAdvertScanner(FailureFuture):
    """Adverts from one BlueZ adapter through bleak; ``mode`` is the mode actually in use."""

    def __init__(self, adapter: str = "hci0", scanning: ScanningMode = "auto") -> None:
        self.adapter = adapter
        self.scanning = scanning
        self.mode: str = scanning
        # ``failed`` never resolves on its own: bleak does not report a dying BlueZ; the watchdog does.
        self._scanner: BleakScanner | None = None

    async def start(self, on_advert: AdvertCallback) -> None:
        """Start scanning in the configured mode (``auto``: passive, else active)."""
        self._renew_failed()

        def detected(device: BLEDevice, data: AdvertisementData) -> None:
            on_advert(
                Advert(
                    device.address,
                    data.local_name,
                    data.rssi,
                    data.manufacturer_data,
                    data.service_data,
                    data.service_uuids,
                    device,
                )
            )

        if self.scanning in ("auto", "passive"):
            try:
                await self._start("passive", detected)
            except BleakError as exc:
                if self.scanning == "passive" or not _passive_unsupported(exc):
                    raise
                log.info("passive scanning is not available on %s, scanning actively", self.adapter)
            else:
                return
        await self._start("active", detected)

    async def _start(self, mode: Literal["passive", "active"], callback: object) -> None:
        bluez: BlueZScannerArgs = {"adapter": self.adapter}
        if mode == "passive":
            bluez["or_patterns"] = list(or_patterns())
        scanner = BleakScanner(callback, scanning_mode=mode, bluez=bluez)  # type: ignore[arg-type]
        await scanner.start()
        self._scanner = scanner
        self.mode = mode

    async def stop(self) -> None:
        """Stop scanning; safe to call twice and after a failed start."""
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            try:
                await scanner.stop()
            except (BleakError, EOFError, OSError) as exc:
                log.debug("stopping the scanner on %s failed: %s", self.adapter, exc)


def _passive_unsupported(exc: BleakError) -> bool:
    text = str(exc)
    return "passive scanning" in text or "AdvertisementMonitor" in text or "UnknownMethod" in text
