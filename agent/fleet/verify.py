"""Deciding whether a pushed document may be applied: a pure function of the document and the hub's state.

Checks run cheapest-to-forge last: nothing past the signature is looked at unless the pinned fleet key
signed it. A document must name this hub or one of its groups, be unexpired, carry a version above the
last one this hub accepted, and hold a config that validates. The pushed config replaces the hub's
config, except that the hub keeps its identity (``hub.id``, ``hub.data_dir``), any ``[hub]`` key the push
leaves out (its groups, say) and its trust anchor (``[fleet]``). A push can never touch consent: any key
naming a grant or consent anywhere in the pushed config rejects the whole document.

Nor can a push change where data goes. The new config is compared key by key with the running one, and
every difference must be on ``MAY_CHANGE``, an allow-list of what shapes the hub's work (sources, models,
rules, store, pacing); anything else — a broker's host, port, TLS, trust anchors or credentials, a topic
prefix, Home Assistant discovery, a new ``[local_mqtt]`` or ``[upstream]``, who may reach the dashboard —
is a destination. A destination changes only to exactly the value the owner wrote in ``[fleet.allow]``,
which a push cannot touch; every such change is returned with the acceptance so it can be audited.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.config import Config, config_from_mapping
from agent.config.schema import LocalMqttConfig, MarketConfig, UpstreamConfig, WebConfig
from agent.errors import ConfigError
from agent.fleet.document import (
    DocumentError,
    Envelope,
    SignedDocument,
    decode,
    key_id,
    load_public_key,
    signature_valid,
)

CONSENT_WORDS = ("grant", "consent")

# What a push may change: how the hub works, never where its data goes. An entry names a key or a whole
# table ("store" covers store.retention.raw); a list (sources, rules, switches) is one value; "[web]" is
# the section being there at all. Every other key is a destination (see the module docstring).
MAY_CHANGE = frozenset(
    {
        "config_version",
        "hub.name",
        "hub.timezone",
        "hub.groups",
        "store",
        "log",
        "daemon",
        "sources",
        "models",
        "rules",
        # The home broker's pacing and the board switches it shows, not its address, topics or discovery.
        "local_mqtt.protocol",
        "local_mqtt.state_interval",
        "local_mqtt.discovery_every",
        "local_mqtt.switches",
        # Upstream pacing and buffering, not its address, TLS, credentials or topics.
        "upstream.protocol",
        "upstream.keepalive",
        "upstream.session_expiry",
        "upstream.max_inflight",
        "upstream.outbox_cap",
        "upstream.message_ttl",
        "upstream.summarise_interval",
        "upstream.summary_lag",
        # The owner's dashboard behind the owner's password, not who can reach it or its certificate.
        "[web]",
        "web.enabled",
        "web.port",
        "web.session_idle",
        "web.session_max",
        "web.live_interval",
        "web.sparkline_window",
    }
)

# Optional sections that hold destinations; an absent one compares as its defaults, plus "[name]": False.
SECTIONS: dict[str, type[msgspec.Struct]] = {
    "upstream": UpstreamConfig,
    "market": MarketConfig,
    "local_mqtt": LocalMqttConfig,
    "web": WebConfig,
}
_FILE_KEYS = ("ca_file", "cert_file", "key_file", "password_file")
_UNSET: Any = object()


class Change(NamedTuple):
    """One key a push changes: its path (``upstream.host``, ``[local_mqtt]`` for the section itself)."""

    key: str
    before: Any  # None when unset; for a section, whether it is there
    after: Any


class Accepted(NamedTuple):
    """The document may be applied: ``config`` is the hub's full new configuration.

    ``destinations`` are the changes of where data goes that the owner allowed (to be audited).
    """

    version: int
    config: Config
    sha256: str
    envelope: Envelope
    destinations: tuple[Change, ...] = ()


class Rejected(NamedTuple):
    """The document must not be applied, for ``reason`` (``version`` when the envelope was readable).

    ``destinations`` are the changes of where data goes that the fleet key signed and the owner did not
    allow: worth the owner's audit log, unlike unsigned noise.
    """

    reason: str
    version: int | None
    sha256: str
    destinations: tuple[Change, ...] = ()


def digest(payload: bytes) -> str:
    """The sha256 of a wire payload, by which the ledger remembers documents."""
    return hashlib.sha256(payload).hexdigest()


def verify(  # noqa: PLR0911 - one return per check reads as the list of rules
    payload: bytes,
    pinned_key: Ed25519PublicKey,
    *,
    local: Config,
    running_version: int,
    now: float,
    base_dir: Path | None = None,
) -> Accepted | Rejected:
    """Check ``payload`` against the pinned key, this hub (``local``), the last accepted version, ``now``."""
    sha = digest(payload)
    try:
        document = decode(payload)
    except DocumentError as exc:
        return Rejected(str(exc), None, sha)
    envelope = document.envelope
    version = envelope.version

    def reject(reason: str) -> Rejected:
        return Rejected(reason, version, sha)

    reason = _authentic(document, pinned_key)
    if reason:
        return reject(reason)
    hub = local.hub
    kind, _, name = envelope.target.partition(":")
    if not ((kind == "hub" and name == hub.id) or (kind == "group" and name in hub.groups)):
        return reject(f"addressed to {envelope.target}, not to this hub or its groups")
    if envelope.expires_at <= envelope.issued_at:
        return reject("expires before it was issued")
    if now >= envelope.expires_at:
        return reject(f"expired at {_when(envelope.expires_at)}")
    if version <= running_version:
        return reject(
            f"version {version} is not above the last accepted version {running_version} "
            "(replay or downgrade)"
        )
    try:
        grants = list(consent_keys(parse_text(envelope.config, envelope.config_format, source="config")))
    except ConfigError as exc:
        return reject(f"invalid config: {exc.message}")
    if grants:
        return reject(f"consent grants are the owner's alone and cannot be pushed (at {', '.join(grants)})")
    try:
        config = pushed_config(envelope, local, base_dir=base_dir)
    except ConfigError as exc:
        return reject(f"invalid config: {exc.message}")
    moved = [c for c in changes(local, config) if not may_change(c.key)]
    owner = allowance(local.fleet.allow if local.fleet else {}, base_dir=base_dir)
    refused = _not_allowed(moved, owner, _flat(msgspec.to_builtins(config)))
    if refused:
        why = f"a push cannot change where data goes: {_describe(refused)}"
        return Rejected(
            f"{why} (only the hub's owner can allow that, in [fleet.allow])", version, sha, tuple(refused)
        )
    return Accepted(version, config, sha, envelope, tuple(moved))


def _authentic(document: SignedDocument, pinned_key: Ed25519PublicKey) -> str:
    pinned_id = key_id(pinned_key)
    if document.envelope.key_id != pinned_id:
        return f"signed by key {document.envelope.key_id}, this hub trusts only {pinned_id}"
    if not signature_valid(document, pinned_key):
        return "bad signature"
    return ""


def pushed_config(envelope: Envelope, local: Config, *, base_dir: Path | None = None) -> Config:
    """The hub's new config: the pushed one with this hub's identity and fleet section kept.

    Raises ``ConfigError`` when the text does not parse, touches consent, identity or the fleet
    section, or does not validate.
    """
    source = f"fleet document v{envelope.version}"
    raw = parse_text(envelope.config, envelope.config_format, source=source)
    for path in consent_keys(raw):
        raise ConfigError(
            "consent grants are the owner's alone and cannot be pushed", source=source, key_path=path
        )
    if "fleet" in raw:
        raise ConfigError("set at provisioning; a push cannot change it", source=source, key_path="fleet")
    hub = raw.get("hub", {})
    if not isinstance(hub, dict):
        raise ConfigError("expected a table", source=source, key_path="hub")
    for key in ("id", "data_dir"):
        if key in hub and hub[key] != getattr(local.hub, key):
            raise ConfigError("a push cannot change the hub's identity", source=source, key_path=f"hub.{key}")
    # The pushed config replaces every section but [hub], whose unmentioned keys (groups...) stay.
    merged = {**raw, "hub": {**msgspec.to_builtins(local.hub), **hub}}
    if local.fleet is not None:
        merged["fleet"] = msgspec.to_builtins(local.fleet)
    return config_from_mapping(merged, source=source, base_dir=base_dir)


def may_change(key: str) -> bool:
    """True when a push may change ``key`` without the owner's leave (it is on ``MAY_CHANGE``)."""
    return any(key == entry or key.startswith(f"{entry}.") for entry in MAY_CHANGE)


def changes(old: Config, new: Config) -> list[Change]:
    """Every key whose value differs between ``old`` and ``new``, sorted by path."""
    before = _flat(msgspec.to_builtins(old))
    after = _flat(msgspec.to_builtins(new))
    return [
        Change(key, before.get(key), after.get(key))
        for key in sorted(before.keys() | after.keys())
        if before.get(key, _UNSET) != after.get(key, _UNSET)
    ]


def allowance(allow: Mapping[str, Any], *, base_dir: Path | None = None) -> dict[str, Any]:
    """The owner's ``[fleet.allow]`` as key paths and the exact values a push may set them to."""
    out: dict[str, Any] = {}
    for section, value in allow.items():
        out[f"[{section}]"] = value is not False
        if isinstance(value, Mapping):
            _leaves(value, section, out)
    if base_dir is not None:
        for key, value in out.items():
            relative = isinstance(value, str) and not Path(value).is_absolute()
            if relative and key.rpartition(".")[2] in _FILE_KEYS:
                out[key] = str((base_dir / value).resolve())
    return out


def check_allowance(allow: Mapping[str, Any], *, source: str) -> None:
    """Raise ``ConfigError`` naming the key if ``[fleet.allow]`` names what no push could change."""
    from agent.config.loader import convert

    for section, value in allow.items():
        where = f"fleet.allow.{section}"
        kind = SECTIONS.get(section)
        if kind is None:
            raise ConfigError(
                f"not a section that holds a destination (one of {', '.join(SECTIONS)})",
                source=source,
                key_path=where,
            )
        if value is False:
            continue
        if not isinstance(value, Mapping):
            raise ConfigError("expected a table of keys, or false", source=source, key_path=where)
        # Type-check the keys given, with a stand-in for a required one left out (a broker's host).
        required = {f.encode_name: "-" for f in msgspec.structs.fields(kind) if f.required}
        convert({**required, **value}, kind, source=source, prefix=where)


def _not_allowed(moved: list[Change], owner: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """The changes in ``moved`` that the owner's ``allowance`` does not cover exactly."""
    removed = {c.key for c in moved if c.key.startswith("[") and c.after is False}

    def allowed(change: Change) -> bool:
        section = change.key.strip("[]").partition(".")[0]
        if change.key == f"[{section}]" and change.after is True:
            # A section added must be exactly the owner's: every key the owner gave, with that value.
            pins = [k for k in owner if k.startswith(f"{section}.")]
            return owner.get(change.key) is True and all(after.get(k, _UNSET) == owner[k] for k in pins)
        if owner.get(change.key, _UNSET) == change.after:
            return True
        # A section the owner lets a push remove takes its keys with it.
        return f"[{section}]" in removed and owner.get(f"[{section}]", _UNSET) is False

    return [c for c in moved if not allowed(c)]


def _describe(refused: list[Change]) -> str:
    sections = {c.key.strip("[]"): c.after for c in refused if c.key.startswith("[")}
    words = [f"[{name}] {'added' if there else 'removed'}" for name, there in sections.items()]
    words += [c.key for c in refused if not c.key.startswith("[") and c.key.partition(".")[0] not in sections]
    return ", ".join(words)


def _flat(tree: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if key in SECTIONS:
            out[f"[{key}]"] = value is not None
        _leaves(_defaults(SECTIONS[key]) if value is None and key in SECTIONS else value, key, out)
    return out


def _leaves(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _leaves(item, f"{path}.{key}", out)
    else:
        out[path] = value


def _defaults(kind: type[msgspec.Struct]) -> dict[str, Any]:
    """A section's default values (a required key, such as a broker's host, has none)."""
    out: dict[str, Any] = {}
    for field in msgspec.structs.fields(kind):
        if field.default is not msgspec.NODEFAULT:
            out[field.encode_name] = msgspec.to_builtins(field.default)
        elif field.default_factory is not msgspec.NODEFAULT:
            out[field.encode_name] = msgspec.to_builtins(field.default_factory())
    return out


def parse_text(text: str, config_format: str, *, source: str) -> dict[str, Any]:
    """Parse config text as TOML or JSON into a mapping."""
    try:
        raw = tomllib.loads(text) if config_format == "toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"invalid {config_format.upper()}: {exc}", source=source) from None
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a table of sections", source=source)
    return raw


def consent_keys(value: Any, path: str = "") -> Iterator[str]:
    """Key paths anywhere in ``value`` whose name mentions a grant or consent."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if any(word in str(key).lower() for word in CONSENT_WORDS):
                yield here
            yield from consent_keys(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from consent_keys(item, f"{path}[{index}]")


def _when(ts: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_config(config: Config, source: str, base_dir: Path | None) -> None:
    """The registry's cross-check for ``[fleet]``: its allow-list, and a pinned key that loads."""
    if config.fleet is None:
        return
    check_allowance(config.fleet.allow, source=source)
    try:
        load_public_key(config.fleet.public_key, base_dir=base_dir)
    except ConfigError as exc:
        raise ConfigError(exc.message.removeprefix("config: "), source=source, hint=exc.hint) from None
