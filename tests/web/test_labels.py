"""Labelling on the context page over HTTP: the typed from/to fallback, refusals, what a link may say."""

from __future__ import annotations

import contextlib
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.learning import labels
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from tests.web.web_support import client, csrf_of, login, serve

INPUTS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
WRIST = {"kind": "simulated", "name": "wrist", "file": "builtin:wrist_imu_test.csv", "rate": 10}
ACTIVITY = {
    "name": "activity",
    "model": "builtin:activity",
    "inputs": {name: f"wrist.{name}" for name in INPUTS},
}


def stored(data_dir: Path) -> list[tuple[str, float, float, str]]:
    with contextlib.closing(open_ledger(data_dir, read_only=True)) as conn:
        return [(x.model, x.start_ts, x.end_ts, x.cls) for x in labels.listed(conn)]


async def test_a_span_typed_without_the_timeline_is_labelled_and_refusals_name_the_field(
    tmp_path: Path,
) -> None:
    # The hub's clock is not the test process's: typed times are the hub's, whatever the process's zone.
    hub = {"id": "web-hub", "data_dir": str(tmp_path / "data"), "timezone": "Pacific/Auckland"}
    sections = {"hub": hub, "models": [ACTIVITY]}
    async with serve(tmp_path, sources=[WRIST], sections=sections) as served, client() as http:
        url = served.url
        assert await login(http, url) == 303
        csrf = await csrf_of(http, url)
        form = {"csrf": csrf, "model": "activity", "class": "cycling", "window": "day"}
        typed = {"from": "2026-12-01T08:00:00", "to": "2026-12-01T08:30:00"}

        # The hub reads typed times on its clock (hub.timezone), as ``hearth label add`` does.
        async with http.post(f"{url}/context/labels", data=form | typed, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/context?window=day&labelled=1&model=activity"
        auckland = ZoneInfo("Pacific/Auckland")
        start, end = (
            datetime.fromisoformat(typed[k]).replace(tzinfo=auckland).timestamp() for k in ("from", "to")
        )
        assert stored(served.agent.data_dir) == [("activity", start, end, "cycling")]
        async with http.get(f"{url}/context?labelled=1&model=activity") as response:
            page = await response.text()
        assert (
            "Saved label 1. activity: kept version 0 (as shipped): the labelled spans hold no complete window"
            in page
        )
        assert re.search(r'data-f="class">cycling<', page)
        # Listed as typed, on the hub's clock, and the fields say whose clock that is.
        assert 'data-f="from">2026-12-01T08:00:00<' in page
        assert "From (Pacific/Auckland)" in page

        # The audit filter reads typed times on the hub's clock too: from half an hour ago finds the label.
        since = (datetime.now(auckland) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
        async with http.get(f"{url}/audit", params={"kind": "label", "since": since}) as response:
            audit = await response.text()
        assert "1 matching entries" in audit
        assert "To (Pacific/Auckland)" in audit
        assert re.search(r'data-label="When">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d NZDT<', audit)

        refusals = [
            (typed | {"from": "yesterday"}, "from &#39;yesterday&#39; is not a time"),
            (
                typed | {"to": "2026-12-01T07:00:00"},
                "a label must end after it starts (give “To” a time after the start)",
            ),
            (typed | {"model": "kettle"}, "no model &#39;kettle&#39; on this hub"),
        ]
        for fields, message in refusals:
            async with http.post(f"{url}/context/labels", data=form | fields) as response:
                assert response.status == 400
                text = await response.text()
            assert message in text, message
            # The typed fields come back as typed, to correct them.
            assert f'value="{fields["from"]}"' in text or fields.get("model") == "kettle"
        assert len(stored(served.agent.data_dir)) == 1

        # A link can say only what the ledger says: no text of its own reaches the page.
        spoof = f"{url}/context?labelled=1&model=activity&adapted=Send+your+password"
        async with http.get(spoof) as response:
            assert "Send your password" not in await response.text()

        async with http.post(f"{url}/context/labels/7/remove", data={"csrf": csrf}) as response:
            assert response.status == 404
            assert "no label 7" in await response.text()
        async with http.post(
            f"{url}/context/labels/1/remove", data={"csrf": csrf}, allow_redirects=False
        ) as response:
            assert response.status == 303
        assert stored(served.agent.data_dir) == []


async def test_the_streams_pages_show_a_labels_span_on_the_hubs_clock(tmp_path: Path) -> None:
    """The ``labels.<model>`` reading keeps its span in UTC (what leaves under a grant); the pages show it on
    the hub's clock, as every other time on them."""
    hub = {"id": "web-hub", "data_dir": str(tmp_path / "data"), "timezone": "Pacific/Auckland"}
    async with serve(tmp_path, sources=[WRIST], sections={"hub": hub, "models": [ACTIVITY]}) as served:
        async with client() as http:
            url = served.url
            assert await login(http, url) == 303
            token = await csrf_of(http, url)
            form = {"csrf": token, "model": "activity", "class": "cycling", "window": "day",
                    "from": "2026-12-01T08:00:00", "to": "2026-12-01T08:30:00"}  # fmt: skip
            async with http.post(f"{url}/context/labels", data=form, allow_redirects=False) as response:
                assert response.status == 303
            shown = "cycling 2026-12-01 08:00:00..08:30:00 NZDT"
            for page in ("/streams", "/streams/labels.activity"):
                async with http.get(f"{url}{page}") as response:
                    text = await response.text()
                assert re.search(rf'data-live="value">{shown}<', text), page
                assert "Z.." not in text, page
        store = open_readings(served.agent.data_dir, read_only=True)
        try:
            (reading,) = store.readings_between(["labels.activity"], 0, time.time() + 60)
        finally:
            store.close()
        assert reading.label == "cycling 2026-11-30T19:00:00Z..2026-11-30T19:30:00Z"
