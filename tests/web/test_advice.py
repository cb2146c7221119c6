"""Advice on the dashboard: an error that sends the owner somewhere links the dashboard's page for it and
never gives command-line advice (the same errors name ``hearth ...`` commands on the command line)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import aiohttp

from agent.errors import AgentError, See
from agent.web.app import error_text, form_error
from tests.web.test_ble import BEDROOM, SIMULATED_BLE
from tests.web.test_labels import ACTIVITY, WRIST
from tests.web.web_support import client, csrf_of, login, serve

NO_GRANT = "g-000000000000"


def alert(page: str) -> str:
    """The page's error as it is sent (HTML), checked to give no command-line advice."""
    match = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', page, re.S)
    assert match is not None, page
    shown = match.group(1)
    assert "hearth " not in shown, shown
    assert "--" not in shown, shown
    return shown


def test_only_the_link_is_markup_and_the_thing_it_names_is_quoted_in_its_path() -> None:
    exc = AgentError(
        "<b>x</b> is adopted", hint="{see} first (<i>really</i>)", see=See("forget_device", "a b/<c>")
    )
    path = "/ble/forget/a%20b%2F%3Cc%3E"
    assert form_error(exc, {}) == (
        f'&lt;b&gt;x&lt;/b&gt; is adopted (<a href="{path}">forget a b/&lt;c&gt; on the BLE page</a>'
        " first (&lt;i&gt;really&lt;/i&gt;))"
    )
    assert error_text(exc, {}) == (
        f"<b>x</b> is adopted (forget a b/<c> on the BLE page ({path}) first (<i>really</i>))"
    )
    # In a log, the place in words.
    assert str(exc) == "<b>x</b> is adopted\n  hint: forgetting a b/<c> first (<i>really</i>)"


async def post(http: aiohttp.ClientSession, url: str, **form: str) -> tuple[int, str]:
    async with http.post(url, data=form, allow_redirects=False) as response:
        return response.status, await response.text()


async def test_a_grant_that_is_not_there_links_the_consent_page(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)

        status, page = await post(http, f"{served.url}/consent/{NO_GRANT}/revoke", csrf=token)
        assert status == 400
        assert alert(page) == (
            f'no grant &#39;{NO_GRANT}&#39; (<a href="/consent">the Consent page</a> shows every grant)'
        )

        async with http.get(f"{served.url}/consent/{NO_GRANT}/receipt") as response:
            assert response.status == 404
            text = await response.text()
        assert text == f"no receipt for '{NO_GRANT}' (the Consent page (/consent) shows every grant)"


async def test_label_mistakes_link_the_context_page_and_name_the_class_field(tmp_path: Path) -> None:
    async with serve(tmp_path, sources=[WRIST], sections={"models": [ACTIVITY]}) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)

        status, page = await post(http, f"{served.url}/context/labels/7/remove", csrf=token)
        assert status == 404
        assert alert(page) == 'no label 7 (<a href="/context">the Context page</a> shows their ids)'

        form = {"csrf": token, "model": "activity", "class": "Heat Pump", "window": "day",
                "from": "2026-12-01T08:00:00", "to": "2026-12-01T08:30:00"}  # fmt: skip
        status, page = await post(http, f"{served.url}/context/labels", **form)
        assert status == 400
        assert unescape(alert(page)) == (
            "invalid class name 'Heat Pump' (“Class” takes lower-case letters, digits, _ and -, up to 40"
            " characters (for example heat_pump))"
        )
        # The Class field is outlined too, and only it.
        assert re.search(r'name="class"[^>]*aria-invalid="true"', page), page
        assert page.count('aria-invalid="true"') == 1


async def test_adoption_mistakes_link_the_ble_pages_not_the_commands(tmp_path: Path) -> None:
    async with serve(tmp_path, sources=SIMULATED_BLE) as served, client() as http:
        assert await login(http, served.url) == 303
        token = await csrf_of(http, served.url)
        adopt = f"{served.url}/ble/adopt"
        assert (await post(http, adopt, csrf=token, address=BEDROOM, name="bedroom"))[0] == 303

        # The same device under another name: forget it first, on its own forget page.
        status, page = await post(http, adopt, csrf=token, address=BEDROOM, name="guest_room")
        assert status == 400
        assert alert(page) == (
            f'{BEDROOM} is already adopted as &#39;bedroom&#39; (<a href="/ble/forget/bedroom">forget'
            " bedroom on the BLE page</a> first (that erases its readings))"
        )
        async with http.get(f"{served.url}/ble/forget/bedroom") as response:
            assert response.status == 200  # the link leads where it says

        status, page = await post(http, f"{served.url}/ble/forget/attic", csrf=token)
        assert status == 404
        assert alert(page) == (
            "no adopted BLE device is named &#39;attic&#39;"
            ' (<a href="/ble">the BLE page</a> shows adopted devices)'
        )


async def test_an_intent_that_is_not_there_names_the_intents_page(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        async with http.get(f"{served.url}/intents/deadbeef") as response:
            assert response.status == 404
            text = await response.text()
        assert text == "no intent 'deadbeef' (the Intents page (/intents) shows every intent)"
