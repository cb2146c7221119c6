"""Labelling on the context page over HTTP: the typed from/to fallback, refusals, what a link may say."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from agent.learning import examples, labels, versions
from agent.store.ledger import open_ledger
from agent.web.pages.context import _outcome
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
        assert "Saved label 1. activity was not adapted" in page
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


def test_a_label_whose_span_holds_no_window_says_it_teaches_nothing_beside_others_that_do(
    tmp_path: Path,
) -> None:
    # Label 1 held windows, label 2 (a span typed in the wrong zone, say, still ahead) none; the model was
    # tried again on every label, so the attempt lists both.
    with contextlib.closing(open_ledger(tmp_path)) as conn:
        window = np.zeros((1, 4, 1), dtype=np.float32)
        examples.keep(conn, examples.Examples(1, "activity", ("wrist.acc_x",), 10.0, 4, (0.0,), window))
        card = {"labels": [1, 2], "reason": "worse on the shipped test split"}
        versions.record(conn, "activity", card, None, kept=False, now=1.0)
        taught = _outcome(conn, model="activity", label_id=1, added=True)
        empty = _outcome(conn, model="activity", label_id=2, added=True)
    assert (
        taught
        == "activity v1 rejected: worse on the shipped test split. activity runs version 0 (0: as shipped)."
    )
    assert empty == (
        "Its span holds no complete window of activity's inputs, so it teaches nothing now."
        " activity runs version 0 (0: as shipped)."
    )
