"""The BLE adoption feature: BLE sources read the owner's adoptions from the readings file.

Always on (a fleet push may add a BLE source later), and light: the BLE package is imported only when
a BLE source is bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.store.readings import ReadingsStore

if TYPE_CHECKING:
    from agent.hub import Hub
    from agent.sources.base import Source
    from agent.sources.ble.adoption import Adoption


def setup(hub: Hub) -> None:
    """Bind every running BLE source, and each one a reconfigure starts, to the adoption table."""

    async def forget(name: str) -> int:
        return await hub.readings(ReadingsStore.forget_device, name)

    def bind(source: Source) -> None:
        if source.kind != "ble":
            return  # keep bleak and the parser libraries out of a hub without BLE
        from agent.sources.ble import BleSource
        from agent.sources.ble.adoption import AdoptionStore

        async def read() -> list[Adoption]:
            return await hub.readings(lambda store: AdoptionStore(store.conn).all())

        if isinstance(source, BleSource):
            source.bind_store(read, on_forget=forget)

    for source in hub.sources():
        bind(source)
    hub.source_started.append(bind)  # BLE sources a fleet push starts later
