"""``hearth fleet``: make a fleet key, sign and push configs, see every hub's report; a hub's own history."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.aio import run_until_stopped
from agent.cli.options import config_option
from agent.config import seconds
from agent.errors import AgentError, ConfigError
from agent.fleet.overview import STATES

if TYPE_CHECKING:
    from rich.table import Table

    from agent.fleet.overview import Overview
    from agent.fleet.report import Status

_BROKER_HELP = "mqtt://host:port, or mqtts://host:port with --ca-file."


def _tls_options(fn: click.decorators.FC) -> click.decorators.FC:
    for option in (
        click.option("--ca-file", default="", help="CA file to verify the broker (mqtts)."),
        click.option("--cert-file", default="", help="Client certificate (mutual TLS)."),
        click.option("--key-file", default="", help="Client certificate's key (mutual TLS)."),
        click.option("--password-file", default="", help="File holding the broker password."),
        click.option("--topic-prefix", default="hearth/v1", show_default=True, help="Topic namespace."),
    ):
        fn = option(fn)
    return fn


def _seconds(value: str, option: str, example: str) -> float:
    """``value`` (``30s``, ``7d``...) in seconds, or a ConfigError naming ``option``."""
    try:
        return seconds(value)
    except ValueError:
        raise ConfigError(f"expected a duration such as {example}, got {value!r}", key_path=option) from None


@click.group()
def fleet() -> None:
    """Signed config push to many hubs at once."""


@fleet.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
def keygen(out_dir: Path) -> None:
    """Make a fleet Ed25519 key pair: fleet.key (private, 0600) and fleet.pub.

    Example: hearth fleet keygen --out ~/.hearth-fleet
    """
    from agent.fleet.manager import make_key

    made = make_key(out_dir)
    click.echo(f"private key: {made.private_path} (keep it off the hubs)")
    click.echo(f"public key:  {made.public_path} (key id {made.key_id})")
    click.echo("pin it on each hub:")
    click.echo(f'  [fleet]\n  public_key = "{made.public}"')


@fleet.command()
@click.argument("config_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "key_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--version", "version", type=click.IntRange(min=1), required=True, help="Above every earlier.")
@click.option("--target", required=True, help="hub:ID or group:NAME.")
@click.option("--expires", default="7d", show_default=True, help="How long hubs may apply it.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
def sign(
    *, config_file: Path, key_path: Path, version: int, target: str, expires: str, out_path: Path | None
) -> None:
    """Sign a config (TOML or JSON, without [hub] id/data_dir or [fleet]) for a hub or a group.

    Example: hearth fleet sign kitchen.toml --key fleet.key --version 7 --target group:kitchens
    """
    from agent.fleet.document import encode, load_private_key
    from agent.fleet.document import sign as sign_envelope
    from agent.fleet.manager import envelope_for

    if not re.match(r"^(hub|group):[a-z0-9][a-z0-9_-]{0,62}$", target):
        raise ConfigError(f"expected hub:ID or group:NAME, got {target!r}", key_path="--target")
    lifetime = _seconds(expires, "--expires", "12h or 7d")
    key = load_private_key(key_path)
    now = int(time.time())
    envelope = envelope_for(
        config_file.read_text(encoding="utf-8"),
        "json" if config_file.suffix == ".json" else "toml",
        key=key,
        version=version,
        target=target,
        issued_at=now,
        expires_at=now + max(1, int(lifetime)),
        base_dir=config_file.parent,
    )
    document = sign_envelope(envelope, key)
    out = out_path or config_file.with_name(f"{config_file.stem}.v{version}.signed.json")
    out.write_bytes(encode(document) + b"\n")
    click.echo(f"signed v{version} for {target}, expires in {expires}: {out}")


@fleet.command()
@click.argument("signed", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--broker", required=True, help=_BROKER_HELP)
@click.option(
    "--wait",
    default=None,
    help="Then follow the hubs' reports for this long (e.g. 2m): one line per hub; exit 1 if any "
    "rejected or rolled it back. A hub target stops waiting once that hub has reported.",
)
@_tls_options
def push(
    *,
    signed: Path,
    broker: str,
    wait: str | None,
    ca_file: str,
    cert_file: str,
    key_file: str,
    password_file: str,
    topic_prefix: str,
) -> None:
    """Publish a signed document, retained (QoS 1), where its hub or group picks it up.

    Example: hearth fleet push kitchen.v7.signed.json --broker mqtts://broker.example:8883 --ca-file ca.pem
    """
    from agent.fleet.document import DocumentError, decode
    from agent.fleet.manager import FINAL, Follow
    from agent.fleet.manager import push as push_document
    from agent.fleet.mqtt import document_topic, endpoint_from_url

    wait_s = _seconds(wait, "--wait", "2m") if wait is not None else None
    endpoint = endpoint_from_url(
        broker, ca_file=ca_file, cert_file=cert_file, key_file=key_file, password_file=password_file
    )
    payload = signed.read_bytes().strip()
    try:
        document = decode(payload)
    except DocumentError as exc:
        raise ConfigError(str(exc), source=str(signed)) from None
    envelope = document.envelope
    topic = document_topic(topic_prefix, envelope.target)
    follow = Follow(topic_prefix, envelope.version, envelope.target, wait_s) if wait_s is not None else None
    outcomes = asyncio.run(push_document(endpoint, topic, payload, follow, _echo_outcome))
    click.echo(f"pushed v{envelope.version} to {topic} (retained)")
    if follow is None:
        return
    counts = {state: sum(1 for s in outcomes.values() if s == state) for state in FINAL}
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    hubs = f"{len(outcomes)} hub{'' if len(outcomes) == 1 else 's'}"
    click.echo(f"{hubs} reported v{envelope.version}: {summary}")
    if counts["rejected"] or counts["rolled_back"] or not outcomes:
        click.get_current_context().exit(1)


def _echo_outcome(report: Status) -> None:
    reason = f": {report.reason}" if report.reason else ""
    click.echo(f"{report.hub}: {report.state}{reason}")


@fleet.command()
@click.option("--broker", required=True, help=_BROKER_HELP)
@click.option("--wait", default="2s", show_default=True, help="How long to collect reports.")
@click.option("--group", default=None, help="Only the hubs of this group.")
@click.option(
    "--state",
    type=click.Choice(STATES),
    default=None,
    help="Only the hubs in this state (offline: the broker says their link is down).",
)
@click.option(
    "--version", type=click.IntRange(min=0), default=None, help="Only the hubs running this version."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.option("--live", is_flag=True, help="Stay connected and redraw as hubs report, until Ctrl-C.")
@_tls_options
def status(
    *,
    broker: str,
    wait: str,
    group: str | None,
    state: str | None,
    version: int | None,
    as_json: bool,
    live: bool,
    ca_file: str,
    cert_file: str,
    key_file: str,
    password_file: str,
    topic_prefix: str,
) -> None:
    """The fleet: versions and how many hubs run each, hubs per state, and every hub's link and last document.

    Example: hearth fleet status --broker mqtt://localhost:1883 --group kitchens --state rolled_back
    """
    import json

    from rich.console import Console

    from agent.fleet.manager import FleetView, collect, watch
    from agent.fleet.mqtt import endpoint_from_url
    from agent.fleet.overview import overview

    wait_s = _seconds(wait, "--wait", "2s")
    endpoint = endpoint_from_url(
        broker, ca_file=ca_file, cert_file=cert_file, key_file=key_file, password_file=password_file
    )

    def shown(view: FleetView) -> Overview:
        return overview(view.reports, view.links, group=group, state=state, version=version)

    if not live:
        found = shown(asyncio.run(collect(endpoint, topic_prefix, wait_s)))
        if as_json:
            click.echo(json.dumps(found.as_json()))
        else:
            Console().print(_fleet_table(found))
        return
    if as_json:
        raise ConfigError("--live draws a table; use --json without it", key_path="--json")
    from rich.live import Live

    async def follow() -> None:
        if not Console().is_terminal:  # piped: one summary line per change
            async for view in watch(endpoint, topic_prefix, 1.0):
                click.echo(_summary(shown(view)))
            return
        with Live(_fleet_table(shown(FleetView())), auto_refresh=False) as screen:
            async for view in watch(endpoint, topic_prefix, 1.0):
                screen.update(_fleet_table(shown(view)), refresh=True)

    run_until_stopped(follow())


def _summary(found: Overview) -> str:
    versions = ", ".join(f"v{v}: {n}" for v, n in found.versions.items()) or "-"
    states = ", ".join(f"{s}: {n}" for s, n in found.states.items()) or "-"
    count = f"{len(found.rows)} hub{'' if len(found.rows) == 1 else 's'}"
    return f"{count}; running {versions}; {states}; offline: {found.offline}"


def _fleet_table(found: Overview) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=_summary(found))
    for column in (
        "hub",
        "link",
        "groups",
        "running",
        "last document",
        "state",
        "reason",
        "reported",
        "last seen",
    ):
        table.add_column(column)

    def when(at: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "-"

    for row in found.rows:
        table.add_row(
            row.hub,
            row.link,
            ",".join(row.groups),
            f"v{row.running_version}",
            f"v{row.version}" if row.version is not None else "-",
            row.state,
            escape(row.reason),
            when(row.at),
            "now" if row.link == "online" else when(row.seen),
        )
    return table


@fleet.command()
@click.argument("name")
@click.option("--group", "groups", multiple=True, help="A group the hub follows (repeat for each).")
@click.option("--manager", is_flag=True, help="Enrol a fleet manager (may publish documents), not a hub.")
@click.option(
    "--broker",
    required=True,
    help="The broker as its dynsec admin: mqtt://ADMIN@host:port, with --password-file.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where to write NAME.password (0600), for the hub's password_file.",
)
@click.option("--print-only", is_flag=True, help="Print the dynsec commands (JSON) instead of sending them.")
@_tls_options
def enroll(
    *,
    name: str,
    groups: tuple[str, ...],
    manager: bool,
    broker: str,
    out_dir: Path,
    print_only: bool,
    ca_file: str,
    cert_file: str,
    key_file: str,
    password_file: str,
    topic_prefix: str,
) -> None:
    """Give a hub (or a manager) its own broker user and ACL, through Mosquitto's dynamic security plugin.

    A hub may publish only under its own topics and read only the documents addressed to it or its
    groups; only a manager may publish fleet documents. Enrolling again rotates the password.

    Example: hearth fleet enroll hub-7 --group kitchens --broker mqtts://admin@broker:8883
    --password-file admin.pw --ca-file ca.pem --out /srv/hearth/credentials
    """
    import json

    from agent.connection import port_of
    from agent.fleet import enroll as dynsec
    from agent.fleet.mqtt import endpoint_from_url

    if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", name):
        raise ConfigError(f"expected a hub id (a-z, 0-9, - and _), got {name!r}", key_path="NAME")
    for group in groups:
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", group):
            raise ConfigError(f"expected a group name (a-z, 0-9, - and _), got {group!r}", key_path="--group")
    if manager and groups:
        raise ConfigError("a manager reads every hub: it has no groups", key_path="--group")
    admin = endpoint_from_url(
        broker, ca_file=ca_file, cert_file=cert_file, key_file=key_file, password_file=password_file
    )
    password = dynsec.new_password()
    if manager:
        role, acls = dynsec.MANAGER_ROLE + f"-{name}", dynsec.manager_acls(topic_prefix)
    else:
        role, acls = dynsec.hub_role(name), dynsec.hub_acls(topic_prefix, name, groups)
    commands = dynsec.enrol_commands(name, password, role, acls)
    if not print_only:
        asyncio.run(dynsec.apply(admin, commands))
    secret = _write_secret(out_dir, f"{name}.password", password)
    if print_only:
        click.echo(json.dumps({"commands": commands}, indent=2))
        return
    who = "manager" if manager else "hub"
    click.echo(f"enrolled {who} {name} on {admin.host}; its password is in {secret}")
    if not manager:
        tls = f", tls = true, ca_file = {json.dumps(ca_file)}" if admin.tls else ", tls = false"
        click.echo("on the hub:")
        click.echo(
            f"  [fleet]\n  broker = {{ host = {json.dumps(admin.host)}, port = {port_of(admin)}{tls}, "
            f"username = {json.dumps(name)}, password_file = {json.dumps(str(secret))} }}"
        )


def _write_secret(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``folder/name``, readable by the owner only, replacing what was there."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / name
    part = folder / f".{name}.part"
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text + "\n")
    part.replace(path)
    return path.resolve()


@fleet.command()
@config_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="How many to show.")
def history(config_path: Path, limit: int) -> None:
    """On a hub: every fleet document it received and what became of it, newest first.

    Example: hearth fleet history -c /etc/hearth/hearth.toml
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from agent.cli.consent_cmd import ask, clock_of

    found = ask(config_path, "fleet.history", limit=limit)
    clock = clock_of(config_path)
    rows, running = found["rows"], found["running"]
    if not rows:
        Console().print("no fleet documents received: the hub runs its provisioned config")
        return
    table = Table(title=f"Fleet documents (running v{running}; times in {clock.name})")
    for column in ("received", "version", "outcome", "reason"):
        table.add_column(column)
    for at, version, outcome, reason in rows:
        # A reason quotes config sections ("[local_mqtt] added"), which rich would take for markup.
        table.add_row(clock.when(at), "-" if version is None else f"v{version}", outcome, escape(reason))
    Console().print(table)


_DEFAULT_STATE = Path("~/.hearth-fleet/rollouts.sqlite")  # the manager's own file, opened by rollout_state


def _state_option(fn: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--state",
        "state_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=str(_DEFAULT_STATE),
        show_default=True,
        help="The manager's rollout state file (created 0600).",
    )(fn)


@fleet.group()
def rollout() -> None:
    """Send a config to a group in waves (canary first), each gated on the hubs' health."""


@rollout.command("start")
@click.argument("config_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "key_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--version", "version", type=click.IntRange(min=1), required=True, help="Above every earlier.")
@click.option("--target", required=True, help="group:NAME, or all (the hubs that report to the broker).")
@click.option("--broker", required=True, help=_BROKER_HELP)
@click.option(
    "--revert-to",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The config to put back if the rollout halts (default: the last finished rollout's).",
)
@click.option(
    "--canary", default="1", show_default=True, help="Hubs in the first wave: a number, or a share (5%)."
)
@click.option("--waves", default="10%,50%,100%", show_default=True, help="Where the later waves end.")
@click.option(
    "--seed", type=int, default=None, help="Draw the same canary and order again (default: random)."
)
@click.option("--success", default="90%", show_default=True, help="Share of a wave that must apply to go on.")
@click.option(
    "--halt-at", default="10%", show_default=True, help="Share of a wave failing above which it reverts."
)
@click.option("--window", default="5m", show_default=True, help="How long a wave has to reach --success.")
@click.option(
    "--bake",
    default="10s",
    show_default=True,
    help="How long a wave that reached --success is still watched (failures halt it) before the next.",
)
@click.option("--expires", default="7d", show_default=True, help="How long hubs may apply the documents.")
@click.option(
    "--discover", default="2s", show_default=True, help="How long to gather the hubs' reports first."
)
@_state_option
@_tls_options
def start(
    *,
    config_file: Path,
    key_path: Path,
    version: int,
    target: str,
    broker: str,
    revert_to: Path | None,
    canary: str,
    waves: str,
    seed: int | None,
    success: str,
    halt_at: str,
    window: str,
    bake: str,
    expires: str,
    discover: str,
    state_path: Path,
    ca_file: str,
    cert_file: str,
    key_file: str,
    password_file: str,
    topic_prefix: str,
) -> None:
    """Start a rollout and follow it until it is done, reverted or paused.

    Example: hearth fleet rollout start kitchen.toml --key fleet.key --version 8 --target group:kitchens
    --broker mqtts://broker.example:8883 --ca-file ca.pem --canary 5% --waves 10%,50%,100%
    """
    import secrets

    from agent.fleet import rollout_run, rollout_state
    from agent.fleet.document import load_private_key
    from agent.fleet.manager import collect
    from agent.fleet.mqtt import endpoint_from_url
    from agent.fleet.rollout import share

    endpoint = endpoint_from_url(
        broker, ca_file=ca_file, cert_file=cert_file, key_file=key_file, password_file=password_file
    )
    key = load_private_key(key_path)
    gates = {
        "success": share(success, "--success"),
        "halt_at": share(halt_at, "--halt-at"),
        "window": _seconds(window, "--window", "5m"),
        "bake": _seconds(bake, "--bake", "10s"),
    }
    lifetime = _seconds(expires, "--expires", "12h or 7d")
    state_path = state_path.expanduser()
    db = rollout_state.open_state(state_path)
    if revert_to is not None:
        previous, previous_format = revert_to.read_text(encoding="utf-8"), _format_of(revert_to)
    elif (last := rollout_state.last_done(db, target)) is not None:
        previous, previous_format = last.terms.config, last.terms.config_format
    else:
        raise ConfigError(
            f"no earlier rollout to {target} finished here: nothing known to revert to",
            key_path="--revert-to",
            hint="give the config the hubs run now with --revert-to FILE",
        )
    now = int(time.time())
    terms = rollout_state.Terms(
        target=target,
        config=config_file.read_text(encoding="utf-8"),
        config_format=_format_of(config_file),
        previous=previous,
        previous_format=previous_format,
        issued_at=now,
        expires_at=now + max(1, int(lifetime)),
    )
    settings = {
        "broker": broker,
        "ca_file": ca_file,
        "cert_file": cert_file,
        "key_file": key_file,
        "password_file": password_file,
        "topic_prefix": topic_prefix,
        "key": str(key_path.resolve()),
    }
    with rollout_run.driving(state_path) as mine:
        if not mine:
            raise AgentError(f"another manager is driving the rollouts of {state_path}")
        view = asyncio.run(collect(endpoint, topic_prefix, _seconds(discover, "--discover", "2s")))
        rollout_id = rollout_run.plan(
            db,
            view,
            terms=terms,
            key=key,
            version=version,
            canary=canary,
            waves=[w.strip() for w in waves.split(",") if w.strip()],
            seed=secrets.randbits(32) if seed is None else seed,
            base_dir=config_file.parent,
            settings=settings,
            now=time.time(),
            **gates,
        )
        click.echo(rollout_state.decisions(db, rollout_id)[-1].message)
        _drive(db, rollout_id)


def _format_of(path: Path) -> str:
    return "json" if path.suffix == ".json" else "toml"


def _drive(db: sqlite3.Connection, rollout_id: int) -> None:
    """Run the rollout from its stored settings (the caller holds the driving lock); exit 1 if reverted."""
    from agent.fleet import rollout_run, rollout_state
    from agent.fleet.document import load_private_key
    from agent.fleet.mqtt import endpoint_from_url
    from agent.fleet.rollout import Phase

    stored = rollout_state.load(db, rollout_id)
    s = stored.settings
    endpoint = endpoint_from_url(
        s["broker"],
        ca_file=s["ca_file"],
        cert_file=s["cert_file"],
        key_file=s["key_file"],
        password_file=s["password_file"],
    )
    key = load_private_key(Path(s["key"]))
    ended = run_until_stopped(
        rollout_run.drive(
            db,
            rollout_id,
            key=key,
            endpoint=endpoint,
            prefix=s["topic_prefix"],
            say=lambda note: click.echo(note.message),
        )
    )
    if ended is None:  # Ctrl-C or SIGTERM
        click.echo(
            f"rollout {rollout_id}: stopped here; `hearth fleet rollout resume` goes on from where it was"
        )
        click.get_current_context().exit(130)
    click.echo(f"rollout {rollout_id}: {ended.state.phase}")
    if ended.state.phase == Phase.PAUSED:
        click.echo(
            "resume it with `hearth fleet rollout resume`, or put it back with `hearth fleet rollout abort`"
        )
    if ended.state.phase == Phase.REVERTED:
        click.get_current_context().exit(1)


def _current(db: sqlite3.Connection) -> int:
    from agent.fleet import rollout_state

    found = rollout_state.active(db)
    if found is None:
        raise AgentError("no rollout in progress", hint="start one with `hearth fleet rollout start`")
    return found.id


def _request(state_path: Path, request: str) -> None:
    """Leave ``request`` for the manager driving the rollout, or carry it out here if none is."""
    from agent.fleet import rollout_run, rollout_state
    from agent.fleet.rollout import Note, Phase, Request, State

    state_path = state_path.expanduser()
    if not state_path.exists():
        raise AgentError(
            f"no rollout state file at {state_path}", hint="give the one `rollout start` used: --state"
        )
    db = rollout_state.open_state(state_path)
    rollout_id = _current(db)
    asked = Request(request)
    with rollout_run.driving(state_path) as mine:
        rollout_state.ask(db, rollout_id, asked)
        if not mine:
            click.echo(f"rollout {rollout_id}: {request} asked; the manager driving it takes it up")
            return
        stored = rollout_state.load(db, rollout_id)
        if asked == Request.PAUSE:
            if stored.state.phase == Phase.PAUSED:
                rollout_state.save(db, rollout_id, stored.state, time.time(), None, took=asked)
                click.echo(f"rollout {rollout_id}: already paused")
                return
            if stored.state.phase != Phase.GATING:
                # A wave (or a revert) may be half published: the next manager finishes it, then pauses.
                click.echo(
                    f"rollout {rollout_id}: pause asked; it takes effect once the wave being sent is out"
                )
                return
            # Nobody drives it: nothing goes out until it is resumed.
            k = stored.state.wave
            paused = State(Phase.PAUSED, k, stored.state.wave_started, "paused by the operator")
            note = Note(k, "pause", f"paused by the operator in wave {k} (no manager was running)", {})
            rollout_state.save(db, rollout_id, paused, time.time(), note, took=asked)
            click.echo(f"rollout {rollout_id}: paused")
            return
        _drive(db, rollout_id)


@rollout.command()
@_state_option
def pause(state_path: Path) -> None:
    """Send no further wave until resumed (the wave out keeps being followed).

    Example: hearth fleet rollout pause
    """
    _request(state_path, "pause")


@rollout.command()
@_state_option
def resume(state_path: Path) -> None:
    """Go on with a paused rollout, or one whose manager stopped or crashed, where it was.

    Example: hearth fleet rollout resume
    """
    _request(state_path, "resume")


@rollout.command()
@_state_option
def abort(state_path: Path) -> None:
    """Stop the rollout and put the previous config back on every hub it reached.

    Example: hearth fleet rollout abort
    """
    _request(state_path, "abort")


@rollout.command("status")
@_state_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def rollout_status(state_path: Path, as_json: bool) -> None:
    """The latest rollout: phase, wave, hubs reached, and every decision with its figures.

    Example: hearth fleet rollout status --json
    """
    import json

    from agent.fleet import rollout_state

    state_path = state_path.expanduser()
    if not state_path.exists():
        raise AgentError(
            f"no rollout state file at {state_path}", hint="give the one `rollout start` used: --state"
        )
    db = rollout_state.open_state(state_path)
    found = rollout_state.latest(db)
    if found is None:
        raise AgentError("no rollout in the state file")
    plan, state = found.plan, found.state
    logged = rollout_state.decisions(db, found.id)
    summary = {
        "id": found.id,
        "target": found.terms.target,
        "version": plan.version,
        "revert_version": plan.revert_version,
        "phase": state.phase.value,
        "wave": state.wave,
        "waves": [len(plan.wave(k)) for k in range(len(plan.ends))],
        "reached": plan.ends[state.wave],
        "hubs": len(plan.order),
        "seed": plan.seed,
        "request": found.request.value,
        "reason": state.reason,
        "decisions": [
            {"at": d.at, "wave": d.wave, "decision": d.decision, "message": d.message, "figures": d.figures}
            for d in logged
        ],
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(
        f"rollout {found.id}: v{plan.version} to {found.terms.target}, {state.phase} in wave {state.wave} "
        f"of {len(plan.ends)} ({plan.ends[state.wave]}/{len(plan.order)} hubs reached)"
        + (f"; {found.request.value} asked" if found.request.value else "")
    )
    for d in logged:
        click.echo(f"  {time.strftime('%H:%M:%S', time.localtime(d.at))} {d.message}")
