"""Labelling on the context page over HTTP: the typed from/to fallback, refusals, what a link may say."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from pathlib import Path

from agent.learning import labels
from agent.store.ledger import open_ledger
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
    async with serve(tmp_path, sources=[WRIST], sections={"models": [ACTIVITY]}) as served, client() as http:
        url = served.url
        assert await login(http, url) == 303
        csrf = await csrf_of(http, url)
        form = {"csrf": csrf, "model": "activity", "class": "cycling", "window": "day"}
        typed = {"from": "2026-12-01T08:00:00", "to": "2026-12-01T08:30:00"}

        # The hub reads typed times as its local time, as ``hearth label add`` does.
        async with http.post(f"{url}/context/labels", data=form | typed, allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/context?window=day&labelled=1&model=activity"
        start, end = (datetime.fromisoformat(typed[k]).timestamp() for k in ("from", "to"))
        assert stored(served.agent.data_dir) == [("activity", start, end, "cycling")]
        async with http.get(f"{url}/context?labelled=1&model=activity") as response:
            page = await response.text()
        assert (
            "Saved label 1. activity: kept version 0 (as shipped): the labelled spans hold no complete window"
            in page
        )
        assert re.search(r'data-f="class">cycling<', page)

        refusals = [
            (typed | {"from": "yesterday"}, "from &#39;yesterday&#39; is not a time"),
            (typed | {"to": "2026-12-01T07:00:00"}, "a label&#39;s --to must come after its --from"),
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
