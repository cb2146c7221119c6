"""Which BLE devices the owner adopted, kept in the readings file (table ``ble_adoptions``).

Only adopted devices are ever recorded. A bindkey is a secret: it lives in the 0600 data file and
never appears in logs, reprs or command output.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from agent.errors import AgentError, See
from agent.store.queries import device_exists
from agent.store.sqlite import transaction

_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_HEX = re.compile(r"^[0-9a-f]*$")
# BTHome and Xiaomi MiBeacon v4/v5 keys are 16 bytes; Xiaomi MiBeacon v2/v3 keys are 12.
BINDKEY_LENGTHS = (12, 16)


class AdoptionError(AgentError):
    """An adoption request is invalid (bad address, name or bindkey, or a clash)."""

    exit_code = 2


class Adoption(msgspec.Struct, frozen=True):
    """An adopted advertising device: its address, the owner's name for it, and its bindkey."""

    address: str
    name: str
    bindkey: bytes | None = None
    adopted_at: str = ""

    def __repr__(self) -> str:
        key = "set" if self.bindkey else "none"
        return f"Adoption(address={self.address!r}, name={self.name!r}, bindkey={key})"

    __str__ = __repr__


def normalise_address(address: str) -> str:
    """``address`` in upper case with colons; raise AdoptionError if it is not a BLE address."""
    text = address.strip().upper().replace("-", ":")
    if not _ADDRESS.match(text):
        raise AdoptionError(
            f"not a Bluetooth address: {address!r}", hint="write it as six hex pairs, e.g. A4:C1:38:8D:18:B2"
        )
    return text


def parse_bindkey(text: str) -> bytes:
    """The bindkey given as hex; raise AdoptionError (without echoing the key) if it is malformed."""
    clean = text.strip().lower()
    if len(clean) % 2 or not _HEX.match(clean) or len(clean) // 2 not in BINDKEY_LENGTHS:
        raise AdoptionError(
            f"the bindkey must be {' or '.join(str(n * 2) for n in BINDKEY_LENGTHS)} hex digits "
            f"(got {len(clean)} characters)",
            hint="copy it from the device's vendor app or flasher",
        )
    return bytes.fromhex(clean)


def check_name(name: str) -> str:
    """``name`` if it can name a device and prefix its streams; raise AdoptionError otherwise."""
    if not _NAME.match(name):
        raise AdoptionError(
            f"not a usable device name: {name!r}",
            hint="use lower-case letters, digits, '_' and '-', starting with a letter or digit",
        )
    return name


class AdoptionStore:
    """Adoptions in the readings file, through a connection the caller owns."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def all(self) -> list[Adoption]:
        """Every adoption, by name."""
        rows = self.conn.execute(
            "SELECT address, name, bindkey, adopted_at FROM ble_adoptions ORDER BY name"
        ).fetchall()
        return [Adoption(a, n, bytes.fromhex(k) if k else None, t) for a, n, k, t in rows]

    def listing(self) -> list[tuple[str, str, bool, str]]:
        """Every adoption by name as (address, name, has a bindkey, adopted_at); the keys are not read."""
        return self.conn.execute(
            "SELECT address, name, bindkey IS NOT NULL, adopted_at FROM ble_adoptions ORDER BY name"
        ).fetchall()

    def adopt(self, address: str, name: str, bindkey: bytes | None = None) -> Adoption:
        """Adopt the device at ``address`` as ``name``; adopting it again under that name updates the key."""
        address = normalise_address(address)
        check_name(name)
        with transaction(self.conn, immediate=True) as conn:
            row = conn.execute("SELECT address FROM ble_adoptions WHERE name = ?", (name,)).fetchone()
            named = row is not None
            if row is not None and row[0] != address:
                raise AdoptionError(
                    f"the name {name!r} is already adopted for another device",
                    hint="choose another name, or {see} first",
                    see=See("forget_device", name),
                )
            row = conn.execute("SELECT name FROM ble_adoptions WHERE address = ?", (address,)).fetchone()
            if row is not None and row[0] != name:
                raise AdoptionError(
                    f"{address} is already adopted as {row[0]!r}",
                    hint="{see} first (that erases its readings)",
                    see=See("forget_device", row[0]),
                )
            if not named and device_exists(conn, name):
                raise AdoptionError(f"the name {name!r} is already used by another device")
            now = datetime.now(UTC).isoformat(timespec="seconds")
            conn.execute(
                "INSERT INTO ble_adoptions (address, name, bindkey, adopted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (address) DO UPDATE SET bindkey = excluded.bindkey",
                (address, name, bindkey.hex() if bindkey else None, now),
            )
        return Adoption(address, name, bindkey, now)

    def remove(self, name: str) -> None:
        """Remove adoption ``name`` inside the caller's transaction; AdoptionError if there is none.

        What was recorded of the device is the readings store's to erase, in the same transaction:
        ``store.forget_device(name, first=AdoptionStore.remover(name))``.
        """
        if not self.conn.execute("DELETE FROM ble_adoptions WHERE name = ?", (name,)).rowcount:
            raise AdoptionError(
                f"no adopted BLE device is named {name!r}",
                hint="{see} shows adopted devices",
                see=See("devices"),
            )

    @staticmethod
    def remover(name: str) -> Callable[[sqlite3.Connection], None]:
        """``remove(name)`` as a step to run inside a transaction on the connection it is given."""
        return lambda conn: AdoptionStore(conn).remove(name)
