"""The hub's fleet service: receive signed configs over MQTT, verify, apply, confirm, commit or roll back.

An apply a restart left pending is confirmed first, alongside the connection (reported as
``applying`` meanwhile). A small connection state machine: connect → say ``online`` (retained; the
broker says ``offline`` for a hub that vanishes, by its will) → report the latest outcome (retained)
→ once nothing is pending, subscribe to the hub's and its groups' retained document topics → handle
documents one at a time → lost → wait with capped, jittered backoff → connect again. Because
documents are retained, a hub that was offline gets the latest one when it reconnects; documents it
already handled are recognised by their sha256 and skipped. Applying never depends on the
connection: the outcome is in the ledger first and is reported on the next connection if the broker
went away meanwhile.

A config that changes what the running layers read once (models, rules, upstream...) is applied by
restarting the agent (``agent.daemon.lifecycle``): the file is installed and the version left
``applying``; the fresh agent's service confirms it on start, or rolls it back and restarts again.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import NoReturn

import aiomqtt
import msgspec

from agent.aio import cancel_requested
from agent.backoff import Backoff
from agent.config import Config, load_config, seconds
from agent.config.schema import BrokerConfig
from agent.connection import port_of
from agent.errors import AgentError, ConfigError, RestartNeededError
from agent.fleet import files, history
from agent.fleet.document import load_public_key
from agent.fleet.health import confirm
from agent.fleet.mqtt import client, document_topic, presence_topic, status_topic
from agent.fleet.report import Status
from agent.fleet.verify import Accepted, Rejected, digest, verify
from agent.hub import Hub
from agent.mqtt_requests import UNBOUNDED, farewell, reply
from agent.reconnect import ReconnectLogic
from agent.store.ledger import open_ledger
from agent.store.sqlite import Refusals, storage_problem

log = logging.getLogger(__name__)


class FleetService:
    """Keeps one hub's config in step with what its fleet manager signed."""

    def __init__(self, hub: Hub, *, clock: Callable[[], float] = time.time) -> None:
        fleet = hub.config.fleet
        if fleet is None or hub.config_path is None:
            raise AgentError("the fleet service needs a [fleet] section and the config file's path")
        self.hub = hub
        self.path = hub.config_path
        self.base_dir = self.path.parent
        self.key = load_public_key(fleet.public_key, base_dir=self.base_dir)
        # Without a broker of its own the fleet comes through the upstream one (checked at config load).
        endpoint = fleet.broker or hub.config.upstream
        if endpoint is None:
            raise ConfigError("needed when there is no [upstream] section", key_path="fleet.broker")
        self.endpoint: BrokerConfig = endpoint
        self.section = "fleet.broker" if fleet.broker is not None else "upstream"
        self.prefix = fleet.topic_prefix
        self.window = seconds(fleet.confirm_window)
        self.clock = clock
        self.hub_id = hub.config.hub.id
        self.connected = asyncio.Event()
        # Read before the service runs, on a connection of its own: the ledger's writer is for changes.
        ledger = open_ledger(hub.data_dir, read_only=True)
        try:
            pending = history.interrupted(ledger)
            self.last: history.Outcome | None = history.latest(ledger)
        finally:
            ledger.close()
        # An apply that a restart left pending is reported as such until it is confirmed.
        if pending is not None:
            self.last = history.Outcome("applying", pending.version, "", clock())
        self._resumed = asyncio.Event()  # the pending apply is settled: documents may be handled
        self.backoff = Backoff(base=1.0, cap=60.0)
        where = f"{self.endpoint.host}:{port_of(self.endpoint)}"
        self.reconnect = ReconnectLogic(f"fleet broker {where}", self.backoff, logger=log)
        self._mqtt: aiomqtt.Client | None = None  # while connected: for the "applying" report
        # Why the ledger refuses writes now (said once, and the recovery once). Meanwhile sessions are
        # spaced out by ``_refused_backoff``: each connects, hears the retained document again and cannot
        # record it.
        self._refusals = Refusals(None, "the ledger is busy")
        self._refused_backoff = Backoff(base=1.0, cap=60.0)

    # -- the connection ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Settle a pending apply; meanwhile, and after, stay connected and handle documents."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._resume(), name="fleet:confirm")
            await self._stay_connected()

    async def _resume(self) -> None:
        try:
            await self._resume_interrupted()
        except (AgentError, OSError, sqlite3.Error):
            log.exception("fleet: cannot finish the apply a restart interrupted")
        self._resumed.set()

    async def _stay_connected(self) -> None:
        await self.reconnect.run(self._attempt, outages=(aiomqtt.MqttError,))

    async def _attempt(self) -> None:
        try:
            await self._session()
        except sqlite3.OperationalError as exc:
            problem = storage_problem(exc, self.hub.data_dir)
            new = self._refusals.note(problem)
            if problem is None:
                log.exception("fleet service failed; trying again with backoff")
            elif new:
                # Nothing of the document was recorded or applied: it comes again (retained) when the
                # service reconnects, and is handled once the ledger can take it.
                log.error(
                    "fleet: config push paused: %s; the document is handled once the hub can write", problem
                )
            if problem is not None:
                await asyncio.sleep(self._refused_backoff.next_delay())
        except (AgentError, OSError, sqlite3.Error):
            # Recording must go on whatever happens to config push: log it, retry after a pause.
            log.exception("fleet service failed; trying again with backoff")
        finally:
            self.connected.clear()

    async def _session(self) -> None:
        presence = presence_topic(self.prefix, self.hub_id)
        will = aiomqtt.Will(presence, b"offline", qos=1, retain=True)
        identifier = f"{self.hub_id}-fleet"
        async with client(self.endpoint, identifier=identifier, section=self.section, will=will) as mqtt:
            self.reconnect.connected()
            try:
                await reply(mqtt.publish(presence, b"online", qos=1, retain=True, timeout=UNBOUNDED))
                reported = await self._report(mqtt)
                # Online and "applying" while the restart confirms. The confirmation may also land while
                # that report waits for its PUBACK: whatever it settled on is reported after it.
                await self._resumed.wait()
                if self.last is not reported:
                    await self._report(mqtt)
                subscribed: set[str] = set()
                await self._subscribe(mqtt, subscribed)
                self._mqtt = mqtt
                self.connected.set()
                log.debug("fleet: connected to %s:%d", self.endpoint.host, port_of(self.endpoint))
                async for message in mqtt.messages:
                    payload = message.payload
                    if not isinstance(payload, bytes | bytearray) or not payload:
                        continue  # a cleared retained topic
                    handled = await self.handle(bytes(payload))
                    if self._refusals.cleared():
                        log.warning("fleet: handling config pushes again")
                        self._refused_backoff.reset()
                    if handled:
                        await self._report(mqtt)
                        await self._subscribe(mqtt, subscribed)
                    elif not message.retain and (again := await self._handled_before(bytes(payload))):
                        # Pushed again while this hub listens (not a retained copy on subscribe):
                        # whoever pushed it waits for a report, so say again what became of it.
                        self.last = again
                        await self._report(mqtt)
            finally:
                self._mqtt = None
                await farewell(mqtt, presence, b"offline")

    async def _subscribe(self, mqtt: aiomqtt.Client, subscribed: set[str]) -> None:
        """Follow the hub's own topic and its groups' (the groups may change with a push)."""
        hub = self.hub.config.hub
        wanted = {document_topic(self.prefix, f"hub:{hub.id}")}
        wanted |= {document_topic(self.prefix, f"group:{g}") for g in hub.groups}
        for topic in sorted(subscribed - wanted):
            await reply(mqtt.unsubscribe(topic, timeout=UNBOUNDED))
        for topic in sorted(wanted - subscribed):
            await reply(mqtt.subscribe(topic, qos=1, timeout=UNBOUNDED))
        subscribed.clear()
        subscribed.update(wanted)

    async def _report_state(self, outcome: history.Outcome) -> None:
        """Report ``outcome`` now if connected; a report lost here is superseded by the next one."""
        self.last = outcome
        if self._mqtt is None:
            return
        try:
            await self._report(self._mqtt)
        except aiomqtt.MqttError as exc:
            if cancel_requested():
                raise asyncio.CancelledError from exc
            log.debug("fleet: could not report %s: %s", outcome.state, exc)

    async def _report(self, mqtt: aiomqtt.Client) -> history.Outcome | None:
        """Publish the latest outcome (retained); return the outcome that was published."""
        last = self.last
        status = Status(
            hub=self.hub_id,
            state=last.state if last else "provisioned",
            version=last.version if last else None,
            reason=last.reason if last else "",
            running_version=await self.hub.ledger.run(history.running_version),
            at=last.at if last else self.clock(),
            groups=list(self.hub.config.hub.groups),
            sent_at=self.clock(),
        )
        topic = status_topic(self.prefix, self.hub_id)
        await reply(mqtt.publish(topic, msgspec.json.encode(status), qos=1, retain=True, timeout=UNBOUNDED))
        return last

    # -- one document ---------------------------------------------------------------------------

    async def handle(self, payload: bytes) -> history.Outcome | None:
        """Verify and apply one document; None if it was already handled before."""
        ledger = self.hub.ledger
        if await ledger.run(history.seen, digest(payload)):
            return None
        result = verify(
            payload,
            self.key,
            local=self.hub.config,
            running_version=await ledger.run(history.last_accepted),
            now=self.clock(),
            base_dir=self.base_dir,
        )
        if isinstance(result, Rejected):
            log.warning("fleet: rejected document v%s: %s", result.version, result.reason)
            outcome = await ledger.run(
                history.reject, result.sha256, result.version, result.reason, result.destinations
            )
        else:
            outcome = await self._apply(result)
        self.last = outcome
        return outcome

    async def _handled_before(self, payload: bytes) -> history.Outcome | None:
        return await self.hub.ledger.run(history.outcome_of, digest(payload))

    async def _apply(self, accepted: Accepted) -> history.Outcome:
        ledger = self.hub.ledger
        old = self.hub.config
        text = files.render(accepted.config, version=accepted.version)
        await ledger.run(history.begin, accepted.version, accepted.sha256, text, accepted.destinations)
        log.info("fleet: applying config v%d", accepted.version)
        # The fleet sees the hub at work (for the confirmation window, or a restart and then it).
        await self._report_state(history.Outcome("applying", accepted.version, "", self.clock()))
        installed = False
        try:
            await asyncio.to_thread(files.install, self.path, text)
            installed = True
            changes = await self.hub.reconfigure(accepted.config)
        except RestartNeededError as exc:
            log.info("fleet: config v%d changes %s: restarting to apply it", accepted.version, exc.key_path)
            await self._restart_hub()
        except (AgentError, OSError) as exc:
            reason = str(exc).splitlines()[0]
            installed_text = text if installed else None
            return await self._roll_back(accepted.version, accepted.sha256, old, reason, installed_text)
        reason = await confirm(self.hub, changes.started, self.window) or ""
        if reason:
            return await self._roll_back(accepted.version, accepted.sha256, old, reason, text)
        log.info("fleet: config v%d applied", accepted.version)
        return await ledger.run(history.finish, accepted.version, accepted.sha256, "applied", "")

    async def _roll_back(
        self, version: int, sha256: str, old: Config, reason: str, installed: str | None
    ) -> history.Outcome:
        """Put the previous file (if ``installed``, the pushed text, went in) and config back."""
        log.warning("fleet: rolling back config v%d: %s", version, reason)
        restart = False
        if installed is not None:
            if await asyncio.to_thread(files.read, self.path) != installed:
                # The owner edited it during the confirmation window: theirs is kept, and loaded.
                log.warning("fleet: %s changed since the push; leaving it as it is", self.path)
                restart = True
            else:
                try:
                    await asyncio.to_thread(files.restore_previous, self.path)
                except OSError as exc:
                    log.error("fleet: cannot restore the previous config file %s: %s", self.path, exc)
        if not restart:
            try:
                await self.hub.reconfigure(old)
            except RestartNeededError:
                restart = True  # the bad config ran after a restart: the previous one needs one too
            except AgentError as exc:
                log.error("fleet: the previous config does not apply live (%s); restarting with it", exc)
                restart = True
        outcome = await self.hub.ledger.run(history.finish, version, sha256, "rolled_back", reason)
        if restart:
            log.info("fleet: restarting with the previous config")
            self.last = outcome  # reported by the fresh agent once it connects
            await self._restart_hub()
        return outcome

    async def _restart_hub(self) -> NoReturn:
        """Have the hub restart from its config file; the stop cancels this service meanwhile."""
        self.hub.restart()
        # Handle nothing more in the old config's name while the agent stops.
        never: asyncio.Future[NoReturn] = asyncio.get_running_loop().create_future()
        await never

    async def _resume_interrupted(self) -> None:
        """Confirm the apply a restart left pending (a push, a crash, a power cut) or roll it back."""
        found = await self.hub.ledger.run(history.interrupted)
        if found is None:
            return
        version, sha, text = found.version, found.sha256, found.text
        if await asyncio.to_thread(files.read, self.path) != text:
            # Cut short before the new file was in place (or the owner has edited it since): the hub
            # runs the file as it is.
            why = "interrupted before install, or the file was edited since"
            self.last = await self.hub.ledger.run(history.finish, version, sha, "rolled_back", why)
            return
        log.info("fleet: confirming config v%d", version)
        old = await asyncio.to_thread(load_config, files.sibling(self.path, ".prev"))
        # Only the sources the push changed are on trial: a board unplugged before it must not fail it.
        names = [s.name for s in self.hub.config.sources if s not in old.sources]
        reason = await confirm(self.hub, names, self.window)
        if not reason:
            log.info("fleet: config v%d applied", version)
            self.last = await self.hub.ledger.run(history.finish, version, sha, "applied", "")
            return
        self.last = await self._roll_back(version, sha, old, reason, text)


def setup(hub: Hub) -> FleetService | None:
    """Signed config push, when ``[fleet]`` is configured and the config file's path is known."""
    if hub.config.fleet is None or hub.config_path is None:
        return None
    service = FleetService(hub)
    hub.services["fleet"] = service.run
    return service
