"""Logging in and out with the owner's password; wrong passwords are rate limited per client address.

The login form is the one public change route. It carries its own CSRF token, tied to a short-lived
cookie set with the form (double submit), so another site cannot log a browser into this hub.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from agent.web.app import CTX, SESSION_COOKIE, WebContext, session_of
from agent.web.auth import new_token, same_token, verify_password

log = logging.getLogger(__name__)

LOGIN_COOKIE = "hearth_login"


def setup(app: web.Application, ctx: WebContext) -> None:
    """Add ``/login`` (public) and ``/logout``."""
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    ctx.public.update({("GET", "/login"), ("HEAD", "/login"), ("POST", "/login")})


async def login_form(request: web.Request) -> web.StreamResponse:
    """The login form (or the overview, for a browser that is logged in already)."""
    if session_of(request) is not None:
        raise web.HTTPSeeOther("/")
    return _form(request, request.app[CTX], message="")


async def login(request: web.Request) -> web.StreamResponse:
    """Check the password; on success start a session and go to the overview."""
    ctx = request.app[CTX]
    addr = request.remote or "unknown"
    wait = ctx.limiter.locked_for(addr)
    if wait > 0:
        response = _form(
            request, ctx, message=f"Too many wrong passwords. Try again in {wait:.0f} s.", status=429
        )
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    form = await request.post()
    token = form.get("csrf")
    if not isinstance(token, str) or not same_token(token, request.cookies.get(LOGIN_COOKIE, "")):
        return _form(request, ctx, message="The form had expired. Please try again.", status=403)
    encoded = ctx.password_hash()
    if encoded is None:
        return _form(request, ctx, message="", status=403)
    password = form.get("password")
    async with ctx.login_gate:
        ok = isinstance(password, str) and await asyncio.to_thread(verify_password, password, encoded)
    if not ok:
        ctx.limiter.failed(addr)
        log.warning("wrong dashboard password from %s", addr)
        return _form(request, ctx, message="Wrong password.", status=401)
    ctx.limiter.succeeded(addr)
    session = ctx.sessions.create(encoded)
    response = web.Response(status=303, headers={"Location": "/"})
    response.set_cookie(
        SESSION_COOKIE, session.id, httponly=True, samesite="Strict", path="/", secure=ctx.secure
    )
    response.del_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session and return to the login form."""
    ctx = request.app[CTX]
    ctx.sessions.end(request.cookies.get(SESSION_COOKIE))
    response = web.Response(status=303, headers={"Location": "/login"})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def _form(request: web.Request, ctx: WebContext, *, message: str, status: int = 200) -> web.Response:
    token = new_token()
    response = ctx.render(
        request,
        "login.html",
        status=status,
        login_token=token,
        message=message,
        password_set=ctx.password_hash() is not None,
        title="Log in",
    )
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="Strict", path="/login", max_age=900, secure=ctx.secure
    )
    return response
