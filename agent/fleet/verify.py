"""Deciding whether a pushed document may be applied: a pure function of the document and the hub's state.

Checks run cheapest-to-forge last: nothing past the signature is looked at unless the pinned fleet key
signed it. A document must name this hub or one of its groups, be unexpired, carry a version above the
last one this hub accepted, and hold a config that validates. The pushed config replaces the hub's
config, except that the hub keeps its identity (``hub.id``, ``hub.data_dir``), any ``[hub]`` key the push
leaves out (its groups, say) and its trust anchor (``[fleet]``). A push can never touch consent: any key
naming a grant or consent anywhere in the pushed config rejects the whole document.
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
from agent.errors import ConfigError
from agent.fleet.document import DocumentError, Envelope, SignedDocument, decode, key_id, signature_valid

CONSENT_WORDS = ("grant", "consent")


class Accepted(NamedTuple):
    """The document may be applied: ``config`` is the hub's full new configuration."""

    version: int
    config: Config
    sha256: str
    envelope: Envelope


class Rejected(NamedTuple):
    """The document must not be applied, for ``reason`` (``version`` when the envelope was readable)."""

    reason: str
    version: int | None
    sha256: str


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
    return Accepted(version, config, sha, envelope)


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
