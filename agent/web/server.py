"""Serving the dashboard from the agent: the listen check, and the service that runs the app.

A hub that listens beyond loopback without an owner's password would hand its data to anyone on
the network, so ``check_listen`` refuses that at config check and at start (``ConfigError``, exit 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from agent.config import seconds
from agent.config.schema import WebConfig
from agent.errors import AgentError, ConfigError, SchemaVersionError, StoreError
from agent.store.ledger import open_ledger
from agent.store.readings import open_readings
from agent.web.app import WebContext, build_app
from agent.web.auth import Clock, LoginLimiter, Sessions, stored_hash
from agent.web.live import LiveFeed
from agent.web.pages.overview import hub_stats

if TYPE_CHECKING:
    from agent.hub import Hub

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """True if ``host`` is a loopback address (or ``localhost``): only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def password_is_set(data_dir: Path) -> bool:
    """True if the owner has set a dashboard password in the ledger under ``data_dir``."""
    try:
        ledger = open_ledger(data_dir, read_only=True)
    except SchemaVersionError:
        raise
    except StoreError:
        return False  # no ledger yet: the hub never ran
    try:
        return stored_hash(ledger) is not None
    finally:
        ledger.close()


def check_listen(web_config: WebConfig, *, password_set: bool, source: str = "config") -> None:
    """Refuse a non-loopback ``web.listen`` while no password is set."""
    if web_config.enabled and not is_loopback(web_config.listen) and not password_set:
        raise ConfigError(
            f"the dashboard would listen on {web_config.listen}, beyond this machine, "
            "but no dashboard password is set",
            source=source,
            key_path="web.listen",
            hint="run `hearth web set-password` first, or listen on 127.0.0.1",
        )


def tls_context(web_config: WebConfig, *, source: str = "config") -> ssl.SSLContext | None:
    """The server's TLS context when ``tls_cert`` and ``tls_key`` are set, else None."""
    if not web_config.tls_cert and not web_config.tls_key:
        return None
    for key in ("tls_cert", "tls_key"):
        value = getattr(web_config, key)
        if not value or not Path(value).is_absolute():
            raise ConfigError(
                "give both tls_cert and tls_key as absolute paths of PEM files",
                source=source,
                key_path=f"web.{key}",
            )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(web_config.tls_cert, web_config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the certificate and key: {exc}",
            source=source,
            key_path="web.tls_cert",
            hint="both files must be PEM, readable by the agent's user, and belong together",
        ) from exc
    return context


def dashboard_url(web_config: WebConfig, port: int | None = None) -> str:
    """The address a browser should open for ``web_config`` (``port`` overrides the configured one)."""
    host = web_config.listen
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - naming the wildcard, not binding to it
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    scheme = "https" if web_config.tls_cert else "http"
    return f"{scheme}://{host}:{port if port is not None else web_config.port}/"


class WebServer:
    """The dashboard as one of the hub's services: ``hub.services["web"] = server.run``."""

    def __init__(self, hub: Hub, config: WebConfig, *, clock: Clock = time.monotonic) -> None:
        self.hub = hub
        self.config = config
        self.tls = tls_context(config)
        self.clock = clock
        self.feed = LiveFeed(interval=seconds(config.live_interval))
        hub.recorder.listeners.append(self.feed.on_readings)
        self.url: str | None = None
        self.ready = asyncio.Event()
        self.ctx: WebContext | None = None
        self.app: web.Application | None = None

    async def run(self) -> None:
        """Serve until cancelled."""
        data_dir = self.hub.data_dir
        with contextlib.ExitStack() as stack:
            reader = open_readings(data_dir, read_only=True)
            stack.callback(reader.close)
            # Two ledger connections: one for the reader thread, one for the password check on the loop.
            ledger = open_ledger(data_dir, read_only=True)
            stack.callback(ledger.close)
            auth_ledger = open_ledger(data_dir, read_only=True)
            stack.callback(auth_ledger.close)
            ctx = WebContext(
                hub=self.hub,
                sessions=Sessions(
                    idle_s=seconds(self.config.session_idle),
                    max_s=seconds(self.config.session_max),
                    clock=self.clock,
                ),
                limiter=LoginLimiter(clock=self.clock),
                feed=self.feed,
                reader=reader.conn,
                ledger=ledger,
                password_hash=lambda: stored_hash(auth_ledger),
                sparkline_window=seconds(self.config.sparkline_window),
                secure=self.tls is not None,
            )
            stack.callback(ctx.close)
            self.ctx = ctx
            self.feed.stats = lambda: hub_stats(ctx)
            self.app = build_app(ctx)
            runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
            await runner.setup()
            try:
                await self._serve(runner)
            finally:
                self.feed.close()
                await runner.cleanup()

    async def _serve(self, runner: web.AppRunner) -> None:
        site = web.TCPSite(
            runner, self.config.listen, self.config.port, reuse_address=True, ssl_context=self.tls
        )
        try:
            await site.start()
        except OSError as exc:
            raise AgentError(
                f"the dashboard cannot listen on {self.config.listen}:{self.config.port}: {exc.strerror}",
                hint="another program may hold the port: set web.port to a free one",
            ) from exc
        self.url = dashboard_url(self.config, _bound_port(runner, self.config.port))
        log.info("dashboard at %s", self.url)
        self.ready.set()
        await self.feed.run()


def setup(hub: Hub) -> WebServer | None:
    """Add the dashboard to ``hub`` when its config has an enabled ``[web]`` section."""
    web_config = hub.config.web
    if web_config is None or not web_config.enabled:
        return None
    check_listen(web_config, password_set=password_is_set(hub.data_dir))
    server = WebServer(hub, web_config)
    hub.services["web"] = server.run
    return server


def _bound_port(runner: web.AppRunner, configured: int) -> int:
    """The port actually bound (differs from the configured one when that was 0)."""
    for address in runner.addresses:
        with contextlib.suppress(TypeError, IndexError):
            return int(address[1])
    return configured
