"""The consent centre over HTTP: the preview is what the summariser sends, revoking purges, edits show."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from html import unescape
from pathlib import Path

import aiohttp
import msgspec
import pytest

from agent.consent import ledger as consent_ledger
from agent.consent import outbox
from agent.consent.grants import new_grant
from agent.consent.receipts import receipt_for
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from agent.sync.summariser import Summariser
from agent.web.consent_preview import preview, preview_window
from tests.consent.conftest import T0, LocalHub
from tests.testbed.wait import eventually
from tests.web.web_support import Served, client, csrf_of, login, serve

GRANTED = re.compile(r"granted=(g-[0-9a-f]+)")


async def _give(http: aiohttp.ClientSession, served: Served, token: str, **fields: str) -> tuple[str, str]:
    """Preview and then give a grant through the forms; return (preview page, grant id)."""
    form = {
        "csrf": token,
        "recipient": "energy-coop",
        "purpose": "heating advice",
        "strands": "tank.level",
        "granularity": "summary:1s",
        **fields,
    }
    async with http.post(f"{served.url}/consent/preview", data=form) as response:
        assert response.status == 200, await response.text()
        page = await response.text()
    async with http.post(f"{served.url}/consent/grants", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        match = GRANTED.search(response.headers["Location"])
    assert match is not None
    return page, match.group(1)


async def _readings_span(data_dir: Path) -> float:
    def span() -> float:
        store = open_readings(data_dir, read_only=True)
        try:
            low, high = store.conn.execute("SELECT min(ts), max(ts) FROM readings").fetchone()
        finally:
            store.close()
        return 0.0 if low is None else float(high - low)

    return await asyncio.to_thread(span)


async def test_revoking_purges_the_grants_queued_messages_at_once(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        data_dir = served.agent.data_dir
        _, grant_id = await _give(http, served, token, granularity="raw", allow_raw="yes")

        def queue_some() -> int:
            ledger = open_ledger(data_dir)
            store = open_readings(data_dir, read_only=True)
            try:
                Summariser(
                    ledger, store.conn, hub_id="web-hub", prefix="p", ttl_s=60, cap=1000, lag_s=0
                ).step(time.time())
                return outbox.depth(ledger)
            finally:
                store.close()
                ledger.close()

        async def queued() -> bool:
            return await asyncio.to_thread(queue_some) > 0

        await eventually(queued, "raw readings to be queued under the grant", 15, every=0.1)
        ledger = open_ledger(data_dir, read_only=True)
        try:
            depth = outbox.depth(ledger)
        finally:
            ledger.close()

        url = f"{served.url}/consent/{grant_id}/revoke"
        async with http.post(url, data={"csrf": token}) as response:
            assert response.status == 200
            page = unescape(await response.text())
        assert f"Revoked {grant_id}" in page
        assert f"{depth} queued messages were deleted unsent" in page

        ledger = open_ledger(data_dir, read_only=True)
        try:
            assert outbox.depth(ledger) == 0
            state = consent_ledger.get_grant(ledger, grant_id, now=time.time())
            assert state.status == "revoked"
            kinds = [e.kind for e in consent_ledger.audit_entries(ledger)]
        finally:
            ledger.close()
        assert kinds == ["grant", "revoke"]
        # Revoking twice is refused on the page, not with a traceback.
        async with http.post(url, data={"csrf": token}) as response:
            assert response.status == 400
            assert "already revoked" in await response.text()


async def test_the_preview_is_what_the_summariser_queues_for_that_window(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        data_dir = served.agent.data_dir

        async def enough() -> bool:
            return await _readings_span(data_dir) > 3.0

        await eventually(enough, "three seconds of readings", 15, every=0.1)
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        async with http.post(
            f"{served.url}/consent/preview",
            data={
                "csrf": token,
                "recipient": "energy-coop",
                "purpose": "heating advice",
                "strands": "tank.level",
                "granularity": "summary:1s",
                "precision": "1",
            },
        ) as response:
            page = unescape(await response.text())
        assert "energy-coop" in page
        assert "tank.level" in page
        assert "one message per strand every 1s" in page
        assert "values rounded to 1 decimal place," in page
        assert re.search(r'"mean": \d+(\.\d)?,', page), "the example carries a real, rounded mean"

        now = time.time()
        grant = new_grant(
            recipient="energy-coop",
            purpose="heating advice",
            strands=["tank.level"],
            granularity="summary:1s",
            precision=1,
            now=now,
        )
        store = open_readings(data_dir, read_only=True)
        try:
            shown = preview(store.conn, grant, hub_id="web-hub", prefix="hearth/v1", now=now, lag_s=2.0)
            start, end = preview_window(grant, now=now, lag_s=2.0)
            # The real thing: the same grant given at the window's start, one summariser pass at its end.
            ledger = open_ledger(tmp_path / "real")
            try:
                given = msgspec.structs.replace(grant, created_at=start)
                consent_ledger.add_grant(ledger, given, receipt_for(given, hub_id="web-hub"))
                Summariser(
                    ledger, store.conn, hub_id="web-hub", prefix="hearth/v1", ttl_s=60, cap=1000, lag_s=0
                ).step(end)
                real = outbox.next_batch(ledger, after=0, limit=100, now=end)
            finally:
                ledger.close()
        finally:
            store.close()
        assert len(real) == 1
        assert shown.messages
        sent = json.loads(real[0].payload)
        assert {**shown.messages[0], "seq": 0} == {**sent, "seq": 0}
        assert shown.topics == [real[0].topic] == ["hearth/v1/web-hub/energy-coop/tank.level"]
        assert sent["count"] > 0
        assert sent["start"] == start
        assert sent["end"] == end


def test_the_preview_names_each_strands_topic_when_its_window_held_no_data(tmp_path: Path) -> None:
    hub = LocalHub(tmp_path / "data")
    hub.record("tank.level", [(T0 + i, 1.0) for i in range(5)])  # long before any preview window
    hub.close()
    now = time.time()
    store = open_readings(tmp_path / "data", read_only=True)
    try:
        shown = {
            recipient: preview(
                store.conn,
                new_grant(
                    recipient=recipient,
                    purpose="heating advice",
                    strands=["tank.*"],
                    granularity="summary:1h",
                    precision=None,
                    now=now,
                ),
                hub_id="web-hub",
                prefix="hearth/v1",
                now=now,
                lag_s=2.0,
            )
            for recipient in ("energy-coop", "market")
        }
    finally:
        store.close()
    assert shown["energy-coop"].messages == []
    assert shown["energy-coop"].topics == ["hearth/v1/web-hub/energy-coop/tank.level"]
    assert shown["market"].topics == []  # shown inside intents, never sent upstream


async def test_an_edited_audit_entry_shows_where_the_chain_breaks(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        _, grant_id = await _give(http, served, token)
        async with http.post(f"{served.url}/consent/{grant_id}/revoke", data={"csrf": token}) as response:
            assert response.status == 200
        async with http.get(f"{served.url}/audit") as response:
            page = unescape(await response.text())
        assert "Verified: all 2 entries of the audit log are intact." in page
        assert 'data-kind="grant"' in page
        assert 'data-kind="revoke"' in page

        ledger = open_ledger(served.agent.data_dir)
        try:
            ledger.execute(
                "UPDATE audit_log SET detail = replace(detail, 'energy-coop', 'nobody') WHERE seq = 1"
            )
        finally:
            ledger.close()
        async with http.get(f"{served.url}/audit") as response:
            page = unescape(await response.text())
        assert "Broken: entry 1 (grant) was edited" in page
        assert "Verified" not in page

        # Filters: by kind, by recipient (which finds the revocation by its grant), and paging stays sane.
        async with http.get(f"{served.url}/audit", params={"kind": "revoke"}) as response:
            page = await response.text()
        assert 'data-kind="revoke"' in page
        assert 'data-kind="grant"' not in page
        async with http.get(f"{served.url}/audit", params={"who": "energy-coop", "page": "x"}) as response:
            page = await response.text()
        assert 'data-kind="grant"' in page
        assert 'data-kind="revoke"' in page


async def test_a_grant_form_mistake_is_named_on_the_page(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        form = {"csrf": token, "recipient": "Energy Coop!", "purpose": "x", "strands": "tank.level"}
        async with http.post(
            f"{served.url}/consent/preview", data={**form, "granularity": "summary:1h"}
        ) as r:
            assert r.status == 400
            assert "invalid recipient" in unescape(await r.text())
        form["recipient"] = "coop"
        # Raw without the explicit confirmation is refused even when posted directly.
        async with http.post(f"{served.url}/consent/grants", data={**form, "granularity": "raw"}) as r:
            assert r.status == 400
            assert "raw readings leave the home only when chosen explicitly" in unescape(await r.text())
        async with http.get(f"{served.url}/consent/g-000000000000/receipt") as r:
            assert r.status == 404


async def test_the_audit_page_filters_intent_entries_by_kind(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        await _give(http, served, token)
        cleared = {"intent": "0" * 32, "topic": "intents/v1/intents/repairs/" + "0" * 32}
        await served.agent.ledger.run(consent_ledger.append_audit, [(time.time(), "intent clear", cleared)])
        async with http.get(f"{served.url}/audit") as response:
            page = unescape(await response.text())
        assert '<option value="intent clear">' in page
        async with http.get(f"{served.url}/audit", params={"kind": "intent clear"}) as response:
            page = unescape(await response.text())
        assert '<option value="intent clear" selected>' in page
        assert 'data-kind="intent clear"' in page
        assert 'data-kind="grant"' not in page


async def test_an_audit_time_filter_that_is_not_a_time_is_named_not_ignored(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        # A date as many owners write it: read as nothing, the page would list every entry as matching.
        async with http.get(f"{served.url}/audit", params={"since": "03.12.2026"}) as response:
            assert response.status == 400
            page = unescape(await response.text())
        assert (
            "“From” '03.12.2026' is not a time, so no entries were left out by it"
            " (type 2026-11-01 or 2026-11-01T18:00, in UTC)"
        ) in page
        assert 'name="since" value="03.12.2026" aria-invalid="true"' in page
        async with http.get(f"{served.url}/audit", params={"since": "2026-11-01"}) as response:
            assert response.status == 200
            assert 'role="alert"' not in await response.text()


async def test_a_noised_grant_previews_a_noisy_example_and_its_expected_error(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        data_dir = served.agent.data_dir

        async def enough() -> bool:
            return await _readings_span(data_dir) > 3.0

        await eventually(enough, "three seconds of readings", 15, every=0.1)
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        noise = {"dp": "laplace", "dp_loss": "0.5", "dp_bounds": "0..100", "dp_budget": "500/day"}
        page, grant_id = await _give(http, served, token, **noise)
        page = unescape(page)
        assert "a noised count and mean (laplace noise, epsilon 0.5 per message" in page
        match = re.search(r"typically off by about\s+<strong>([0-9.e+]+)", page)
        assert match is not None, page
        assert float(match.group(1)) > 10  # one or two readings a window: the noise dominates
        examples = re.findall(r"<pre data-example>(.*?)</pre>", page, re.S)
        assert examples
        example = json.loads(examples[0])
        assert "min" not in example
        assert example["dp"]["epsilon"] == 0.5
        assert example["dp"]["bounds"] == [0.0, 100.0]
        assert example["mean"] is None or 0.0 <= example["mean"] <= 100.0

        def given() -> consent_ledger.GrantState:
            ledger = open_ledger(data_dir, read_only=True)
            try:
                return consent_ledger.get_grant(ledger, grant_id, now=time.time())
            finally:
                ledger.close()

        async with http.get(f"{served.url}/consent") as r:
            listed = unescape(await r.text())
        spent = r"noised \(laplace, epsilon 0.5 a message\): [0-9.e+-]+ of 500 spent this period"
        assert re.search(spent, listed)
        state = await asyncio.to_thread(given)
        assert state.grant.dp is not None
        assert (state.grant.dp.cap, state.grant.dp.lower, state.grant.dp.upper) == (500.0, 0.0, 100.0)
        async with http.post(
            f"{served.url}/consent/preview",
            data={**noise, "csrf": token, "recipient": "coop", "purpose": "x", "strands": "tank.level",
                  "granularity": "summary:1s", "dp_bounds": "100..0"},
        ) as r:  # fmt: skip
            assert r.status == 400
            assert "lower below upper" in unescape(await r.text())


async def test_the_consent_page_says_a_noised_grant_is_held_where_opendp_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A noised grant given where OpenDP was installed, looked at where it is not: held, as the CLI says."""
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        noise = {"dp": "laplace", "dp_loss": "0.5", "dp_bounds": "0..100", "dp_budget": "500/day"}
        _, noised_id = await _give(http, served, token, **noise)
        _, exact_id = await _give(http, served, token, recipient="utility")
        held_here = "held: OpenDP is not installed (pip install 'hearth-agent[dp]'), nothing of it leaves"
        async with http.get(f"{served.url}/consent") as r:
            assert "OpenDP is not installed" not in unescape(await r.text())
        # A None entry in sys.modules makes ``import opendp`` fail as it does where the package is absent.
        monkeypatch.setitem(sys.modules, "opendp", None)
        async with http.get(f"{served.url}/consent") as r:
            page = unescape(await r.text())
        rows = dict(re.findall(r'<tr data-grant="(g-[0-9a-f]+)">(.*?)</tr>', page, re.S))
        assert f'<span class="warn" data-f="held">{held_here}</span>' in rows[noised_id]
        assert "held" not in rows[exact_id]


def _form_error(page: str) -> str:
    match = re.search(r'<p class="error" role="alert" id="form-error">(.*?)</p>', page, re.S)
    assert match is not None, page
    return unescape(match.group(1))


async def test_a_grant_of_a_strand_this_hub_lacks_is_refused_on_the_form(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        form = {"csrf": token, "recipient": "coop", "purpose": "advice", "granularity": "summary:1h"}
        for route in ("preview", "grants"):
            async with http.post(
                f"{served.url}/consent/{route}", data={**form, "strands": "tank.level, nosuch.stream"}
            ) as r:
                assert r.status == 400
                page = await r.text()
            error = _form_error(page)
            assert error.startswith("no strand 'nosuch.stream' on this hub")
            assert "strands on this hub: tank.level" in error
            assert 'name="strands" value="tank.level, nosuch.stream" aria-invalid="true"' in page
        ledger = open_ledger(served.agent.data_dir, read_only=True)
        try:
            assert consent_ledger.grants(ledger, now=time.time()) == []
        finally:
            ledger.close()
        # A glob for a device adopted later is previewed with a warning that it names nothing yet.
        async with http.post(f"{served.url}/consent/preview", data={**form, "strands": "climate.*"}) as r:
            assert r.status == 200
            page = unescape(await r.text())
        assert '<p class="warn" role="status" data-warning>climate.* names no strand on this hub yet' in page
        async with http.post(f"{served.url}/consent/preview", data={**form, "strands": "tank.*"}) as r:
            assert "data-warning" not in await r.text()


@pytest.mark.parametrize(
    ("fields", "said", "invalid"),
    [
        ({"purpose": " "}, "a grant needs a purpose in plain words (“Purpose”: for example heating advice)",
         "purpose"),
        ({"dp": "laplace", "dp_loss": "0.5", "dp_budget": "8/day"},
         "noise needs bounds LO..HI: values are clamped to them (“Bounds”: for example 10..35)", "dp_bounds"),
        ({"dp": "laplace", "dp_loss": "0.5", "dp_bounds": "10..35", "dp_budget": "8/fortnight"},
         "invalid budget '8/fortnight' (a cap and a period: 8/day, 2/hour, 20/week or 4/12h;"
         " “Privacy budget”: for example 8/day)", "dp_budget"),
        ({"dp": "laplace", "dp_loss": "0.5", "dp_bounds": "10..35", "dp_budget": "8/day",
          "granularity": "raw"},
         "differential privacy noises window summaries, not raw (“Granularity”: for example summary:1h)",
         "granularity"),
    ],
    ids=["purpose", "bounds", "budget", "granularity"],
)  # fmt: skip
async def test_a_form_mistake_names_the_forms_field_not_a_command_option(
    tmp_path: Path, fields: dict[str, str], said: str, invalid: str
) -> None:
    """The consent layer words a mistake once; the form names its own field where the CLI names a flag."""
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        form = {"csrf": token, "recipient": "coop", "purpose": "advice", "strands": "tank.level",
                "granularity": "summary:1h", **fields}  # fmt: skip
        async with http.post(f"{served.url}/consent/preview", data=form) as r:
            assert r.status == 400
            page = await r.text()
        error = _form_error(page)
        assert error == said
        assert "--" not in error
        assert re.search(rf'name="{invalid}"[^>]*aria-invalid="true"', page), page
        assert page.count('aria-invalid="true"') == 1


async def test_giving_raw_without_the_tick_box_names_the_tick_box(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        form = {"csrf": token, "recipient": "coop", "purpose": "advice", "strands": "tank.level",
                "granularity": "raw"}  # fmt: skip
        async with http.post(f"{served.url}/consent/grants", data=form) as r:
            assert r.status == 400
            error = _form_error(await r.text())
        assert error == (
            "raw readings leave the home only when chosen explicitly (confirm with “I understand that every"
            " raw reading will be sent” if you really mean to share every reading)"
        )


async def test_a_crafted_link_cannot_say_a_grant_was_revoked_or_given(tmp_path: Path) -> None:
    """The notices follow the page's own redirects; the address alone must not tell the owner that a grant
    still active was revoked, nor that one that does not exist was given."""
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        _, grant_id = await _give(http, served, token, granularity="raw", allow_raw="yes")
        for query in (f"revoked={grant_id}&purged=5", "granted=g-000000000000", "revoked=g-000000000000"):
            async with http.get(f"{served.url}/consent?{query}") as response:
                assert response.status == 200
                page = unescape(await response.text())
            assert "Revoked" not in page, query
            assert "Granted g-" not in page, query
        async with http.get(f"{served.url}/consent?granted={grant_id}") as response:
            assert f"Granted {grant_id}. Its receipt is below." in unescape(await response.text())
