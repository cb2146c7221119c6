"""Who may change what: sessions, CSRF on every change route, the login rate limit, expiry, listening."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from agent.web.app import SAFE_METHODS, SESSION_COOKIE
from tests.web.web_support import PASSWORD, Served, client, csrf_of, login, self_signed, serve, set_password


def change_routes(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, path) of the app that may change something, path parameters filled in."""
    routes = []
    for route in app.router.routes():
        if route.method in SAFE_METHODS or route.resource is None:
            continue
        path = re.sub(r"\{[^}]+\}", "x", route.resource.canonical)
        routes.append((route.method, path))
    return routes


def _app(served: Served) -> web.Application:
    assert served.server.app is not None
    return served.server.app


async def test_every_change_route_needs_a_session_and_its_csrf_token(tmp_path: Path) -> None:
    async with serve(tmp_path) as served:
        app = _app(served)
        routes = change_routes(app)
        assert ("POST", "/logout") in routes
        assert {("POST", "/ble/adopt"), ("POST", "/ble/forget/x")} <= set(routes)
        assert {
            ("POST", "/consent/preview"),
            ("POST", "/consent/grants"),
            ("POST", "/consent/x/revoke"),
            ("POST", "/passport/export"),
        } <= set(routes)
        assert {("POST", "/context/labels"), ("POST", "/context/labels/x/remove")} <= set(routes)
        assert served.server.ctx is not None
        public = [r for r in routes if r in served.server.ctx.public]
        assert public == [("POST", "/login")], "only the login form may change state without a session"
        guarded = [r for r in routes if r not in public]
        async with client() as anonymous, client() as owner:
            assert await login(owner, served.url) == 303
            token = await csrf_of(owner, served.url)
            for method, path in guarded:
                url = served.url + path
                async with anonymous.request(method, url, data={"csrf": token}, allow_redirects=False) as r:
                    assert r.status == 403, f"{method} {path} without a session"
                async with owner.request(method, url, allow_redirects=False) as r:
                    assert r.status == 403, f"{method} {path} without a CSRF token"
                async with owner.request(method, url, data={"csrf": token[::-1]}, allow_redirects=False) as r:
                    assert r.status == 403, f"{method} {path} with a wrong CSRF token (form)"
                headers = {"X-CSRF-Token": "not-the-token"}
                async with owner.request(method, url, headers=headers, allow_redirects=False) as r:
                    assert r.status == 403, f"{method} {path} with a wrong CSRF token (header)"
            # The owner's own token does pass the guard: logging out works and ends the session.
            async with owner.post(f"{served.url}/logout", data={"csrf": token}, allow_redirects=False) as r:
                assert r.status == 303
            async with owner.get(f"{served.url}/", allow_redirects=False) as r:
                assert r.status == 403


async def test_login_form_needs_its_own_token(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        async with http.post(f"{served.url}/login", data={"password": PASSWORD}, allow_redirects=False) as r:
            assert r.status == 403
            assert SESSION_COOKIE not in r.cookies
        assert await login(http, served.url) == 303


async def test_pages_and_events_need_a_session(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        for path in ("/", "/streams", "/streams/tank.level", "/context", "/ble", "/ble/forget/x"):
            async with http.get(
                served.url + path, headers={"Accept": "text/html"}, allow_redirects=False
            ) as r:
                assert r.status == 303
                assert r.headers["Location"] == "/login"
        async with http.get(f"{served.url}/events", allow_redirects=False) as r:
            assert r.status == 403
        async with http.get(f"{served.url}/login") as r:
            assert r.status == 200
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
            assert r.headers["X-Frame-Options"] == "DENY"


async def test_wrong_passwords_lock_the_address_out_with_growing_delays(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        for _ in range(5):
            assert await login(http, served.url, "wrong password!") == 401
        # Locked out: even the right password is not checked.
        assert await login(http, served.url) == 429
        served.clock.advance(31)
        for _ in range(5):
            assert await login(http, served.url, "wrong password!") == 401
        served.clock.advance(31)
        assert await login(http, served.url) == 429, "the second lockout lasts longer than the first"
        served.clock.advance(30)
        assert await login(http, served.url) == 303


async def test_sessions_expire_when_idle_and_after_their_lifetime(tmp_path: Path) -> None:
    async with serve(tmp_path, session_idle="10m", session_max="1h") as served:
        async with client() as http:
            assert await login(http, served.url) == 303
            served.clock.advance(9 * 60)
            async with http.get(f"{served.url}/", allow_redirects=False) as r:
                assert r.status == 200, "use within the idle time keeps the session"
            served.clock.advance(10 * 60 + 1)
            async with http.get(f"{served.url}/", allow_redirects=False) as r:
                assert r.status == 403, "idle too long"
        async with client() as http:
            assert await login(http, served.url) == 303
            for _ in range(7):
                served.clock.advance(9 * 60)
                async with http.get(f"{served.url}/", allow_redirects=False) as r:
                    last = r.status
                if last != 200:
                    break
            assert last == 403, "a session in constant use still ends after session_max"


async def test_a_new_password_logs_out_every_browser(tmp_path: Path) -> None:
    async with serve(tmp_path) as served, client() as http:
        assert await login(http, served.url) == 303
        async with http.get(f"{served.url}/", allow_redirects=False) as r:
            assert r.status == 200
        set_password(served.agent.data_dir, "a brand new password")
        async with http.get(f"{served.url}/", allow_redirects=False) as r:
            assert r.status == 403
        assert await login(http, served.url) == 401
        assert await login(http, served.url, "a brand new password") == 303


async def test_over_tls_the_session_cookie_is_secure(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    async with serve(tmp_path, tls_cert=str(cert), tls_key=str(key)) as served, client() as http:
        assert served.url.startswith("https://127.0.0.1:")
        async with http.get(f"{served.url}/login") as r:
            assert r.cookies["hearth_login"]["secure"]
        assert await login(http, served.url) == 303
        session = next(c for c in http.cookie_jar if c.key == SESSION_COOKIE)
        assert session["secure"]
        assert session["httponly"]
        assert session["samesite"] == "Strict"
        async with http.get(f"{served.url}/", allow_redirects=False) as r:
            assert r.status == 200
