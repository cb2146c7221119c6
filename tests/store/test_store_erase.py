"""Every way of erasing from the readings file keeps the store's cache of stream ids true to the file.

A stale id would send later readings of a forgotten stream into the file under an id no stream owns
(and, were ids reused, into another stream's history).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.readings import Reading, StreamInfo
from agent.sources.ble.adoption import AdoptionError, AdoptionStore
from agent.store import open_readings, queries
from agent.store.readings import ReadingsStore

T0 = 1_700_000_400.0
ADDRESS = "A4:C1:38:8D:18:B2"
TEMP = StreamInfo.of("bedroom", "temperature", "°C")
HUM = StreamInfo.of("bedroom", "humidity", "%")
POWER = StreamInfo.of("kitchen_plug", "power", "W")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReadingsStore]:
    store = open_readings(tmp_path)
    AdoptionStore(store.conn).adopt(ADDRESS, "bedroom")
    store.write_batch(
        [Reading(TEMP.name, T0, 21.0), Reading(HUM.name, T0, 40.0), Reading(POWER.name, T0, 5.0)],
        [("ble", TEMP), ("ble", HUM), ("simulated", POWER)],
    )
    yield store
    store.close()


def stored_ids(store: ReadingsStore) -> set[int]:
    """Stream ids of every stored reading (orphans included)."""
    return {sid for (sid,) in store.conn.execute("SELECT DISTINCT stream_id FROM readings")}


def test_forgetting_an_adopted_device_erases_it_with_its_adoption_and_forgets_its_ids(
    store: ReadingsStore,
) -> None:
    old = {s.name: s.id for s in queries.streams(store.conn)}
    erased = store.forget_device("bedroom", first=AdoptionStore.remover("bedroom"))
    assert erased == 2
    assert AdoptionStore(store.conn).all() == []
    assert queries.stream_names(store.conn) == [POWER.name]
    # A reading still on its way is not written under the forgotten id.
    assert store.write_batch([Reading(TEMP.name, T0 + 1, 22.0)]) == 0
    assert store.undeclared == {TEMP.name: 1}
    assert stored_ids(store) == {old[POWER.name]}
    # Declared again, the stream starts afresh under a new id.
    assert store.write_batch([Reading(TEMP.name, T0 + 2, 23.0)], [("ble", TEMP)]) == 1
    new = {s.name: s.id for s in queries.streams(store.conn)}[TEMP.name]
    assert new not in old.values()
    assert stored_ids(store) == {old[POWER.name], new}


def test_a_device_that_is_not_adopted_is_not_erased(store: ReadingsStore) -> None:
    with pytest.raises(AdoptionError, match="no adopted BLE device is named 'kitchen_plug'"):
        store.forget_device("kitchen_plug", first=AdoptionStore.remover("kitchen_plug"))
    assert store.count_readings() == 3
    # The cache kept the ids of what is still there: its readings go on being written.
    assert store.write_batch([Reading(POWER.name, T0 + 1, 6.0)]) == 1
    assert store.undeclared == {}


def test_forgetting_streams_forgets_their_ids(store: ReadingsStore) -> None:
    old = {s.name: s.id for s in queries.streams(store.conn)}
    assert store.forget_streams([HUM.name, POWER.name]) == (2, 0)
    assert queries.stream_names(store.conn) == [TEMP.name]
    # The plug's device went with its last stream; the adopted bedroom keeps its device row.
    assert not queries.device_exists(store.conn, "kitchen_plug")
    assert queries.device_exists(store.conn, "bedroom")
    assert store.write_batch([Reading(HUM.name, T0 + 1, 41.0), Reading(POWER.name, T0 + 1, 6.0)]) == 0
    assert stored_ids(store) == {old[TEMP.name]}
