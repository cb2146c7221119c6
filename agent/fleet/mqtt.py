"""MQTT plumbing shared by the hub's fleet service and the fleet CLI: endpoints, clients, topics."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt

from agent.config.schema import MqttEndpoint
from agent.errors import ConfigError

DEFAULT_PREFIX = "hearth/v1"


def document_topic(prefix: str, target: str) -> str:
    """Where documents for ``hub:ID`` / ``group:NAME`` are retained."""
    kind, _, name = target.partition(":")
    return f"{prefix}/fleet/{kind}/{name}"


def status_topic(prefix: str, hub_id: str) -> str:
    """Where a hub reports (retained) what became of the last document."""
    return f"{prefix}/{hub_id}/fleet"


def endpoint_from_url(
    url: str, *, ca_file: str = "", cert_file: str = "", key_file: str = "", password_file: str = ""
) -> MqttEndpoint:
    """``mqtt://[user@]host[:port]`` or ``mqtts://...`` (TLS; then ``ca_file`` is required) as an endpoint."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(f"expected mqtt://host:port or mqtts://host:port, got {url!r}", key_path="--broker")
    if parts.password:
        raise ConfigError("give the password with --password-file, not in the URL", key_path="--broker")
    tls = parts.scheme == "mqtts"
    if tls and not ca_file:
        raise ConfigError("mqtts needs --ca-file to verify the broker", key_path="--broker")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ConfigError(str(exc), key_path="--broker") from None
    return MqttEndpoint(
        host=parts.hostname,
        port=port,
        tls_ca_file=ca_file if tls else "",
        tls_cert_file=cert_file,
        tls_key_file=key_file,
        username=parts.username or "",
        password_file=password_file,
    )


def client(endpoint: MqttEndpoint, *, identifier: str | None, base_dir: Path | None = None) -> aiomqtt.Client:
    """An aiomqtt client for ``endpoint`` (TLS with verification when a CA file is set)."""

    def path(value: str) -> str | None:
        if not value:
            return None
        p = Path(value)
        return str(base_dir / p) if base_dir is not None and not p.is_absolute() else str(p)

    password = None
    if endpoint.password_file:
        file = Path(path(endpoint.password_file) or "")
        try:
            password = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the broker password: {exc.strerror}", source=str(file)) from None
    tls = None
    if endpoint.tls_ca_file:
        tls = aiomqtt.TLSParameters(
            ca_certs=path(endpoint.tls_ca_file),
            certfile=path(endpoint.tls_cert_file),
            keyfile=path(endpoint.tls_key_file),
        )
    return aiomqtt.Client(
        endpoint.host,
        endpoint.port,
        identifier=identifier,
        username=endpoint.username or None,
        password=password,
        tls_params=tls,
        timeout=10,
    )
