"""The BLE page over HTTP: nearby devices from memory, adopting (bindkey kept secret), forgetting."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from agent.sources.ble.adoption import AdoptionStore
from agent.store.readings import open_readings
from tests.testbed.wait import eventually
from tests.web.web_support import Served, client, csrf_of, login, serve

SIMULATED_BLE = [{"kind": "ble", "name": "ble", "simulate": True, "adoption_refresh": "1s"}]
BEDROOM = "A4:C1:38:8D:18:B2"  # a simulated BTHome thermometer
BINDKEY = "8d18b2a4c1388d18b2a4c1388d18b2ff"


async def _page(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}/ble") as r:
        assert r.status == 200
        return await r.text()


async def _adopt(http: aiohttp.ClientSession, served: Served, token: str, **fields: str) -> tuple[int, str]:
    async with http.post(
        f"{served.url}/ble/adopt", data={"csrf": token, **fields}, allow_redirects=False
    ) as r:
        return r.status, await r.text()


def _adoptions(served: Served) -> list[str]:
    store = open_readings(served.agent.data_dir, read_only=True)
    try:
        return [repr(a) for a in AdoptionStore(store.conn).all()]
    finally:
        store.close()


async def test_nearby_devices_are_listed_from_memory_and_never_stored(tmp_path: Path) -> None:
    async with serve(tmp_path, sources=SIMULATED_BLE) as served, client() as http:
        assert await login(http, served.url) == 303
        assert "Listening" in await _page(http, served.url)
        seen: list[str] = []

        async def heard() -> bool:
            seen[:] = [await _page(http, served.url)]
            return "ATC_8D18B2" in seen[0]

        await eventually(heard, "the simulated thermometer to be listed", 15, every=0.1)
        assert BEDROOM in seen[0]
        assert "bthome" in seen[0].lower()
        store = open_readings(served.agent.data_dir, read_only=True)
        try:
            devices = [name for (name,) in store.conn.execute("SELECT name FROM devices")]
        finally:
            store.close()
        assert devices == ["tank"], "nothing about unadopted devices reaches the readings file"


async def test_a_bindkey_never_appears_in_a_response_or_a_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve(tmp_path, sources=SIMULATED_BLE) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        responses = []

        status, text = await _adopt(http, served, token, address=BEDROOM, name="Bad Name", bindkey=BINDKEY)
        assert status == 400
        assert "not a usable device name" in text
        responses.append(text)

        status, text = await _adopt(
            http, served, token, address=BEDROOM, name="bedroom", bindkey=BINDKEY[:-2]
        )
        assert status == 400
        assert "the bindkey must be 24 or 32 hex digits" in text
        responses.append(text)

        status, text = await _adopt(http, served, token, address=BEDROOM, name="bedroom", bindkey=BINDKEY)
        assert status == 303, text
        responses.append(text)
        responses.append(await _page(http, served.url))
        assert "encrypted" in responses[-1]

        status, text = await _adopt(http, served, token, address=BEDROOM, name="bedroom2", bindkey=BINDKEY)
        assert status == 400
        assert f"{BEDROOM} is already adopted as &#39;bedroom&#39;" in text
        responses.append(text)

        adoptions = _adoptions(served)
        assert adoptions == [f"Adoption(address='{BEDROOM}', name='bedroom', bindkey=set)"]
    for text in responses:
        assert BINDKEY not in text.lower()
        assert BINDKEY[:-2] not in text.lower()
    assert BINDKEY[:-2] not in caplog.text.lower()


async def test_adopting_records_the_device_and_forgetting_erases_it(tmp_path: Path) -> None:
    async with serve(tmp_path, sources=SIMULATED_BLE) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        assert (await _adopt(http, served, token, address=BEDROOM.lower(), name="bedroom"))[0] == 303

        async def recorded() -> bool:
            async with http.get(f"{served.url}/streams/bedroom.temperature") as r:
                return r.status == 200

        await eventually(recorded, "the adopted thermometer's temperature stream", 15, every=0.1)
        assert "bedroom.temperature" in await _page(http, served.url)

        async with http.get(f"{served.url}/ble/forget/bedroom") as r:
            assert r.status == 200
            assert "erases everything it recorded as bedroom" in await r.text()
        async with http.post(
            f"{served.url}/ble/forget/bedroom", data={"csrf": token}, allow_redirects=False
        ) as r:
            assert r.status == 303
            assert r.headers["Location"].startswith("/ble?forgot=bedroom&erased=")
        text = await _page(http, served.url)
        assert "No BLE devices adopted yet." in text
        async with http.get(f"{served.url}/streams/bedroom.temperature") as r:
            assert r.status == 404
        assert _adoptions(served) == []

        async with http.post(
            f"{served.url}/ble/forget/bedroom", data={"csrf": token}, allow_redirects=False
        ) as r:
            assert r.status == 404
            assert "no adopted BLE device is named &#39;bedroom&#39;" in await r.text()


async def test_without_a_ble_source_the_page_says_so_and_adopting_is_refused(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        assert "No BLE source is configured" in await _page(http, served.url)
        token = await csrf_of(http, served.url)
        status, text = await _adopt(http, served, token, address=BEDROOM, name="bedroom")
        assert status == 400
        assert "no BLE source is configured" in text
