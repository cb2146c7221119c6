"""The sync feature: the summariser and the publisher of a running hub, from its ``[upstream]`` section."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import seconds
from agent.config.schema import Config
from agent.connection import port_of, read_password
from agent.consent.gate import status_topic
from agent.errors import ConfigError
from agent.store.readings import open_readings
from agent.store.sqlite import Refusals
from agent.store.worker import LedgerWorker
from agent.sync.mqtt import MqttConnector, MqttSettings
from agent.sync.publisher import Publisher
from agent.sync.summariser import Summariser

if TYPE_CHECKING:
    from agent.hub import Hub

log = logging.getLogger(__name__)


def mqtt_settings(config: Config) -> MqttSettings:
    """Broker settings from ``config.upstream``, with the password read from its file or variable."""
    up = config.upstream
    if up is None:
        raise ConfigError("no [upstream] section", key_path="upstream")
    return MqttSettings(
        host=up.host,
        port=port_of(up),
        client_id=config.hub.id,
        status_topic=status_topic(up.topic_prefix, config.hub.id),
        protocol=up.protocol,
        tls=up.tls,
        ca_file=up.ca_file,
        cert_file=up.cert_file,
        key_file=up.key_file,
        username=up.username,
        password=read_password(up, "upstream"),
        keepalive=int(seconds(up.keepalive)),
        session_expiry_s=int(seconds(up.session_expiry)),
        max_inflight=up.max_inflight,
    )


class SyncService:
    """The summariser loop and the publisher, sharing one ledger thread."""

    def __init__(
        self, config: Config, data_dir: Path, worker: LedgerWorker, *, clock: Callable[[], float] = time.time
    ) -> None:
        up = config.upstream
        assert up is not None
        self.interval = seconds(up.summarise_interval)
        self.worker = worker
        self.data_dir = data_dir
        self._readings = open_readings(data_dir, read_only=True)
        self.summariser = Summariser(
            self.worker.conn,
            self._readings.conn,
            hub_id=config.hub.id,
            prefix=up.topic_prefix,
            ttl_s=seconds(up.message_ttl),
            cap=up.outbox_cap,
            lag_s=seconds(up.summary_lag),
        )
        self.settings = mqtt_settings(config)
        self.publisher = Publisher(
            self.worker,
            MqttConnector(self.settings),
            max_inflight=up.max_inflight,
            clock=clock,
            data_dir=self.data_dir,
        )
        # Wall-clock time for summary windows, grant expiry and message TTLs (the publisher's too).
        self.clock = clock

    async def health(self) -> str | None:
        """None when the publisher has its CONNACK from the upstream broker, else why not."""
        publisher = self.publisher
        if publisher.connected.is_set():
            return None
        settings = self.settings
        why = publisher.last_error or "no CONNACK yet"
        return f"broker {settings.host}:{settings.port} not connected: {why}"

    async def summarise_forever(self) -> None:
        """Summarise every ``summarise_interval``, waking the publisher when rows were queued."""
        refusals = Refusals(self.data_dir, "a data file is busy")
        while True:
            try:
                result = await self.worker.run(lambda _conn: self.summariser.step(self.clock()))
            except sqlite3.OperationalError as exc:
                # Locked past the busy timeout, or a disk that refuses writes: the watermarks did not move,
                # so the first pass that can write catches up.
                problem, new = refusals.refused(exc)
                if new:
                    log.error("summaries paused: %s; they catch up once the hub can write", problem)
            else:
                if refusals.cleared():
                    log.warning("summarising again")
                if result.queued:
                    self.publisher.notify()
                if result.dropped_cap:
                    log.warning("outbox over its cap: dropped the %d oldest summaries", result.dropped_cap)
            await asyncio.sleep(self.interval)

    async def publish_forever(self) -> None:
        """Run the publisher until cancelled."""
        await self.publisher.run()

    def close(self) -> None:
        """Close the readings connection (the ledger thread is the hub's); a close hook of the hub."""
        self._readings.close()

    def live(self) -> dict[str, Any]:
        """The link as the publisher sees it now (``hearth sync status`` on a running hub)."""
        publisher = self.publisher
        return {"state": publisher.state, "since": publisher.state_since, "error": publisher.last_error}


def setup(hub: Hub) -> SyncService | None:
    """Add the summariser and the publisher to ``hub`` when ``[upstream]`` is configured."""
    if hub.config.upstream is None:
        return None
    service = SyncService(hub.config, hub.data_dir, hub.ledger)
    hub.on_close.append(service.close)
    hub.services["sync:summariser"] = service.summarise_forever
    hub.services["sync:publisher"] = service.publish_forever
    hub.health_checks["upstream connects"] = service.health
    return service
