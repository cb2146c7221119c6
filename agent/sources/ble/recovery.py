"""Resetting a wedged Bluetooth adapter, as Home Assistant does, with ``bluetooth-auto-recovery``.

``bluetooth-auto-recovery`` power-cycles the adapter through the kernel's management socket (and
unblocks rfkill, or resets the USB device, when that is not enough); it needs the adapter's index
and address, which ``bluetooth-adapters`` reads from BlueZ. Both need the rights bluetoothd has
(CAP_NET_ADMIN); without them the reset fails, is counted, and the scanner keeps restarting.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class AdapterResetter(Protocol):
    """Something that can reset an adapter by name (``hci0``); returns True if it worked."""

    async def reset(self, adapter: str) -> bool:
        """Reset ``adapter``."""
        ...


class AutoRecoveryResetter:
    """Resets adapters with ``bluetooth_auto_recovery.recover_adapter``."""

    async def reset(self, adapter: str) -> bool:
        """Look up ``adapter``'s address and power-cycle it; False if it cannot be done."""
        from bluetooth_adapters import get_adapters
        from bluetooth_auto_recovery import recover_adapter

        try:
            adapters = get_adapters()
            await adapters.refresh()
            address = adapters.adapters.get(adapter, {}).get("address")
            if not address:
                log.debug("cannot reset Bluetooth adapter %s: it is not present", adapter)
                return False
            return await recover_adapter(int(adapter.removeprefix("hci")), address, gone_silent=True)
        except Exception as exc:  # noqa: BLE001 - a failed reset is counted and logged by the source
            log.debug("cannot reset Bluetooth adapter %s: %s", adapter, exc)
            return False
