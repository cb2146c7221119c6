"""MQTT plumbing shared by the hub's fleet service and the fleet CLI: endpoints, clients, topics."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiomqtt

from agent.config.schema import BrokerConfig
from agent.connection import connection
from agent.errors import ConfigError

DEFAULT_PREFIX = "hearth/v1"


def document_topic(prefix: str, target: str) -> str:
    """Where documents for ``hub:ID`` / ``group:NAME`` are retained."""
    kind, _, name = target.partition(":")
    return f"{prefix}/fleet/{kind}/{name}"


def status_topic(prefix: str, hub_id: str) -> str:
    """Where a hub reports (retained) what became of the last document."""
    return f"{prefix}/{hub_id}/fleet"


def presence_topic(prefix: str, hub_id: str) -> str:
    """Where a hub's link to the fleet broker is retained: ``online``, or ``offline`` (its will)."""
    return f"{prefix}/{hub_id}/online"


def endpoint_from_url(
    url: str, *, ca_file: str = "", cert_file: str = "", key_file: str = "", password_file: str = ""
) -> BrokerConfig:
    """``mqtt://[user@]host[:port]`` or ``mqtts://...`` (TLS; then ``ca_file`` is required) as a broker."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(f"expected mqtt://host:port or mqtts://host:port, got {url!r}", key_path="--broker")
    if parts.password:
        raise ConfigError("give the password with --password-file, not in the URL", key_path="--broker")
    tls = parts.scheme == "mqtts"
    if tls and not ca_file:
        raise ConfigError("mqtts needs --ca-file to verify the broker", key_path="--broker")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(str(exc), key_path="--broker") from None
    return BrokerConfig(
        host=parts.hostname,
        port=port,
        tls=tls,
        ca_file=ca_file if tls else None,
        cert_file=cert_file or None,
        key_file=key_file or None,
        username=parts.username or None,
        password_file=password_file or None,
    )


def client(
    broker: BrokerConfig,
    *,
    identifier: str | None,
    section: str = "--broker",
    will: aiomqtt.Will | None = None,
) -> aiomqtt.Client:
    """An aiomqtt client for ``broker`` (TLS with verification when on); errors name ``section``."""
    args = connection(broker, section).client_args()
    return aiomqtt.Client(**args, identifier=identifier, timeout=10, will=will)
