"""The dashboard's aiohttp application: the guard every request passes, rendering, and the page registry.

The guard (one middleware) is the only place access is decided, so a new page cannot forget it:
- a route is public only if its page module lists it in ``ctx.public`` (the login form and static files);
- any other request needs a live session: a browser asking for a page is sent to the login form,
  anything else gets 403;
- any request that may change something (every method but GET/HEAD/OPTIONS) must also carry the
  session's CSRF token, in the ``X-CSRF-Token`` header or a ``csrf`` form field.

Pages live in ``agent.web.pages``: each module has ``setup(app, ctx)`` adding its routes and, if it
wants one, a navigation entry. ``PAGE_MODULES`` lists them in navigation order.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from agent import __version__
from agent.config import HubClock
from agent.consent.granularity import rounding
from agent.errors import SEE, AgentError, See
from agent.web.auth import LoginLimiter, Session, Sessions, same_token
from agent.web.live import LiveFeed

if TYPE_CHECKING:
    from agent.hub import Hub

T = TypeVar("T")

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
SESSION_COOKIE = "hearth_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

PAGE_MODULES: tuple[str, ...] = (
    "agent.web.pages.login",
    "agent.web.pages.overview",
    "agent.web.pages.streams",
    "agent.web.pages.context",
    "agent.web.pages.ble",
    "agent.web.pages.consent",
    "agent.web.pages.intents",
    "agent.web.pages.audit",
    "agent.web.pages.events",
)

# Browsers run only what this app serves: no inline script or style, no framing, no foreign hosts.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class WebContext:
    """What every page handler may use: the running hub, auth state, the live feed, store readers.

    ``reader`` and ``ledger`` are read-only connections to the readings and ledger files, used on the
    dashboard's own thread through ``read`` and ``read_ledger``; changes go through the hub.
    """

    hub: Hub
    sessions: Sessions
    limiter: LoginLimiter
    feed: LiveFeed
    reader: sqlite3.Connection
    ledger: sqlite3.Connection
    password_hash: Callable[[], str | None]
    sparkline_window: float
    secure: bool = False  # served over TLS: cookies are marked Secure
    started: float = field(default_factory=time.monotonic)
    nav: list[tuple[str, str]] = field(default_factory=list)
    public: set[tuple[str, str]] = field(default_factory=set)
    login_gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    # What the latest label actions came to, by (model, label id), for the page each redirects to: an
    # adaptation that changed nothing leaves nothing in the ledger to read it from.
    adaptations: dict[tuple[str, int], str] = field(default_factory=dict)
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-web")
    )
    templates: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("agent.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.globals.update(
            spark=sparkline_points, asset=_asset_url(), version=__version__, nav=self.nav, rounding=rounding
        )
        self.templates.filters["duration"] = duration

    @property
    def clock(self) -> HubClock:
        """The hub's clock: pages show and forms read times in ``hub.timezone``, not the browser's zone."""
        return HubClock.of(self.hub.config)

    async def read(self, fn: Callable[..., T], **kwargs: Any) -> T:
        """Run ``fn(self.reader, **kwargs)`` on the dashboard's reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, self.reader, **kwargs))

    async def read_ledger(self, fn: Callable[..., T], **kwargs: Any) -> T:
        """Run ``fn(self.ledger, **kwargs)`` on the dashboard's reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, self.ledger, **kwargs))

    def render(
        self, request: web.Request, template: str, *, status: int = 200, **values: Any
    ) -> web.Response:
        """Render ``template`` as the response, with the session's CSRF token, the current path and the
        hub's clock (``clock.stamp(ts)`` in a template; app.js formats live times in ``clock.name``)."""
        session = session_of(request)
        html = self.templates.get_template(template).render(
            csrf=session.csrf if session else "",
            path=request.path,
            hub=self.hub.config.hub,
            clock=self.clock,
            **values,
        )
        return web.Response(text=html, content_type="text/html", status=status)

    def close(self) -> None:
        """Release the reader thread and connections; safe to call twice."""
        self._executor.shutdown(wait=True)
        self.reader.close()
        self.ledger.close()


CTX = web.AppKey("ctx", WebContext)


class FormFields:
    """The owner's inputs named by the labels of a page's form (``bounds`` → “Bounds”) in an error's advice,
    where the command line would name its options, and the places it sends the owner to as the dashboard's
    pages (``agent.errors.Naming``)."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = labels

    def name(self, field: str) -> str:
        """The field's label as the form shows it, in quotes."""
        return f"“{self.labels.get(field, field)}”"

    def example(self, field: str, value: str) -> str:
        """“Label”: for example ``value``."""
        return f"{self.name(field)}: for example {value}"

    def where(self, see: See) -> str:
        """The page's words and, in brackets, its path (a link where the advice is shown as HTML)."""
        words, path = page_of(see)
        return f"{words} ({path})"


def page_of(see: See) -> tuple[str, str]:
    """The words that name the dashboard page ``see`` sends the owner to, and its path."""
    thing = quote(see.thing or "", safe="")
    return {
        "grants": ("the Consent page", "/consent"),
        "labels": ("the Context page", "/context"),
        "devices": ("the BLE page", "/ble"),
        "forget_device": (f"forget {see.thing} on the BLE page", f"/ble/forget/{thing}"),
        "intents": ("the Intents page", "/intents"),
        "intent": ("the intent's page", f"/intents/{thing}"),
        "streams": ("the Streams page", "/streams"),
    }[see.place]


class _Linked(FormFields):
    """Form fields whose places are left as ``{see}``, for ``form_error`` to link once the rest is escaped."""

    def where(self, see: See) -> str:
        return SEE


def form_error(exc: AgentError, labels: Mapping[str, str]) -> Markup:
    """``exc`` as a page shows it: its message, then its advice in brackets, naming fields by ``labels``
    and linking the page the advice sends the owner to."""
    advice = exc.advice(_Linked(labels))
    if not advice:
        return escape(exc.message)
    shown = escape(advice)
    if exc.see is not None:
        words, path = page_of(exc.see)
        shown = shown.replace(SEE, Markup('<a href="{}">{}</a>').format(path, words))
    return escape(exc.message) + Markup(" (") + shown + Markup(")")


def error_text(exc: AgentError, labels: Mapping[str, str]) -> str:
    """``exc`` as a plain-text answer shows it: as ``form_error``, with each page's path in brackets."""
    advice = exc.advice(FormFields(labels))
    return exc.message + (f" ({advice})" if advice else "")


def build_app(ctx: WebContext) -> web.Application:
    """The dashboard application with every page module in ``PAGE_MODULES`` set up."""
    app = web.Application(middlewares=[_guard], client_max_size=64 * 1024)
    app[CTX] = ctx
    app.router.add_static("/static", STATIC_DIR)
    ctx.public.add(("GET", "/static"))
    ctx.public.add(("HEAD", "/static"))
    for name in PAGE_MODULES:
        importlib.import_module(name).setup(app, ctx)
    app.on_response_prepare.append(_add_headers)
    return app


def session_of(request: web.Request) -> Session | None:
    """The request's live session (looked up again without counting as use), or None."""
    return request.app[CTX].sessions.get(request.cookies.get(SESSION_COOKIE), touch=False)


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    ctx = request.app[CTX]
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    # Live streams must not keep an idle session alive forever: only pages and actions count as use.
    session = ctx.sessions.get(
        request.cookies.get(SESSION_COOKIE),
        touch=canonical != "/events",
        password=ctx.password_hash() or "",
    )
    if (request.method, canonical) in ctx.public:
        return await handler(request)
    if session is None:
        if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            raise web.HTTPSeeOther("/login")
        raise web.HTTPForbidden(text="not logged in")
    if request.method not in SAFE_METHODS:
        token = request.headers.get("X-CSRF-Token")
        if token is None and request.content_type in {
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        }:
            field_value = (await request.post()).get("csrf")
            token = field_value if isinstance(field_value, str) else None
        if not same_token(token, session.csrf):
            raise web.HTTPForbidden(text="missing or wrong CSRF token")
    return await handler(request)


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(_SECURITY_HEADERS)
    if request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "public, max-age=86400"
    else:
        response.headers["Cache-Control"] = "no-store"


def _asset_url() -> Callable[[str], str]:
    """``asset("app.css")`` → ``/static/app.css?v=<hash>``, so browsers may cache assets for a day."""
    versions = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:10] for path in STATIC_DIR.iterdir()
    }

    def asset(name: str) -> str:
        return f"/static/{name}?v={versions[name]}"

    return asset


def sparkline_points(values: list[float], width: float = 120, height: float = 28) -> str:
    """SVG polyline points drawing ``values`` across ``width`` x ``height`` (min at the bottom)."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return ""
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    step = width / (len(finite) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 1 - (v - low) / span * (height - 2):.1f}" for i, v in enumerate(finite)
    )


def duration(seconds: float) -> str:
    """``1d 2h 3m 4s`` as the page's script writes a duration, so it reads the same before the script runs."""
    s = int(seconds)
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return (f"{d}d " if d else "") + (f"{h}h " if d or h else "") + f"{m}m {s % 60}s"
