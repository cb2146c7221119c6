"""A private D-Bus system bus with a fake bluetoothd (dbusmock) for bleak's real BlueZ backend."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

TEMPLATE = Path(__file__).with_name("bluez_template.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python3-dbusmock lives there

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def missing_tools() -> str | None:
    """Why the fake BlueZ cannot run here (None when it can)."""
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon is not installed (Debian package dbus)"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import dbusmock"], capture_output=True, check=False)
    if probe.returncode:
        return "python3-dbusmock is not installed for /usr/bin/python3"
    return None


class FakeBluez:
    """Controls the fake bluetoothd over the private bus."""

    def __init__(self, address: str, bus: MessageBus) -> None:
        self.address = address
        self.bus = bus

    async def call(self, member: str, signature: str, body: list[object]) -> object:
        reply = await self.bus.call(
            Message(
                destination="org.bluez",
                path="/",
                interface="org.bluez.Mock",
                member=member,
                signature=signature,
                body=body,
            )
        )
        assert reply is not None
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"{member} failed: {reply.error_name} {reply.body}")
        return reply.body[0] if reply.body else None

    async def discovering(self, adapter: str = "hci0") -> bool:
        """Whether the adapter is scanning (bluetoothd's ``Discovering`` property, set by StartDiscovery)."""
        reply = await self.bus.call(
            Message(
                destination="org.bluez",
                path=f"/org/bluez/{adapter}",
                interface="org.freedesktop.DBus.Properties",
                member="Get",
                signature="ss",
                body=["org.bluez.Adapter1", "Discovering"],
            )
        )
        assert reply is not None
        assert reply.message_type != MessageType.ERROR, reply.body
        return bool(reply.body[0].value)

    async def add_adapter(self, name: str = "hci0") -> None:
        await self.call("AddAdapter", "ss", [name, "hearth-test"])

    async def remove_adapter(self, name: str = "hci0") -> None:
        await self.call("RemoveAdapterWithDevices", "s", [name])

    async def advertise(
        self,
        address: str,
        name: str,
        *,
        uuid: str = "",
        data: bytes = b"",
        company: int = 0,
        mdata: bytes = b"",
        rssi: int = -60,
        adapter: str = "hci0",
    ) -> None:
        await self.call("Advertise", "sssnsayqay", [adapter, address, name, rssi, uuid, data, company, mdata])

    async def add_gatt_device(
        self,
        address: str,
        name: str,
        services: list[tuple[str, list[tuple[str, str, bytes]]]],
        adapter: str = "hci0",
    ) -> None:
        await self.call("AddGattDevice", "sssa(sa(ssay))", [adapter, address, name, services])

    async def notify(self, address: str, char_uuid: str, value: bytes) -> None:
        await self.call("Notify", "ssay", [address, char_uuid, value])

    async def written(self, address: str, char_uuid: str) -> list[bytes]:
        """What the host wrote to the device's characteristic, one entry per write."""
        values = await self.call("Written", "ss", [address, char_uuid])
        assert isinstance(values, list)
        return [bytes(v) for v in values]

    async def watch_writes(self, address: str, char_uuid: str) -> asyncio.Queue[bytes]:
        """A queue of what the host writes to the device's characteristic from now on, one entry per write."""
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        device = "/dev_" + address.replace(":", "_").upper() + "/"

        def on_message(message: Message) -> None:
            if (
                message.message_type == MessageType.SIGNAL
                and message.interface == "org.bluez.Mock"
                and message.member == "Wrote"
                and device in (message.path or "")
                and message.body[0] == char_uuid
            ):
                queue.put_nowait(bytes(message.body[1]))

        self.bus.add_message_handler(on_message)
        reply = await self.bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=["type='signal',interface='org.bluez.Mock',member='Wrote'"],
            )
        )
        assert reply is not None
        assert reply.message_type == MessageType.METHOD_RETURN
        return queue

    async def drop_link(self, address: str, adapter: str = "hci0") -> None:
        await self.call("DropLink", "ss", [adapter, address])


@asynccontextmanager
async def fake_bluez(tmp: Path, *, passive: bool = True) -> AsyncIterator[FakeBluez]:
    """Start dbus-daemon and the fake bluetoothd; yield a controller; stop both afterwards."""
    config = tmp / "bus.conf"
    config.write_text(_BUS_CONFIG.format(socket=tmp / "system_bus_socket"), encoding="utf-8")
    daemon = await asyncio.create_subprocess_exec(
        "dbus-daemon",
        f"--config-file={config}",
        "--nofork",
        "--print-address=1",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    mock: asyncio.subprocess.Process | None = None
    bus: MessageBus | None = None
    try:
        assert daemon.stdout is not None
        async with asyncio.timeout(20):
            address = (await daemon.stdout.readline()).decode().strip()
        assert address, "dbus-daemon did not print its address"
        mock = await asyncio.create_subprocess_exec(
            SYSTEM_PYTHON,
            "-m",
            "dbusmock",
            "--system",
            "-t",
            str(TEMPLATE),
            "-l",
            str(tmp / "bluez.log"),
            "-p",
            json.dumps({"passive": passive}),
            env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address},
            stdout=subprocess.DEVNULL,
        )
        bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
        async with asyncio.timeout(20):
            # dbusmock claims org.bluez once its template is loaded; nothing signals that to us sooner.
            while not await _has_owner(bus, "org.bluez"):
                await asyncio.sleep(0.05)
        yield FakeBluez(address, bus)
    finally:
        if bus is not None:
            bus.disconnect()
        for process in (mock, daemon):
            if process is not None and process.returncode is None:
                process.terminate()
                try:
                    async with asyncio.timeout(10):
                        await process.wait()
                except TimeoutError:
                    process.kill()
                    await process.wait()


async def _has_owner(bus: MessageBus, name: str) -> bool:
    reply = await bus.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="NameHasOwner",
            signature="s",
            body=[name],
        )
    )
    return bool(reply is not None and reply.body and reply.body[0])
