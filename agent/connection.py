"""One way from a ``BrokerConfig`` (upstream, local or fleet) to an MQTT client's connection arguments.

TLS always verifies the broker (the CA file if given, else the system's CAs); the password is read
from its file or environment variable here and nowhere else, and never appears in a ``repr`` or log.
Errors are ``ConfigError``s naming the section's key (``upstream.ca_file``, ``fleet.broker.password_file``).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent.config.schema import BrokerConfig
from agent.errors import ConfigError

if TYPE_CHECKING:
    # Imported where a client is made: aiomqtt brings paho, http.client and email (about 4 MB), and
    # this module is also read for port_of() by layers that never connect.
    import aiomqtt


class TlsFields(Protocol):
    """The TLS keys of a broker section (``BrokerConfig`` or the upstream publisher's settings)."""

    @property
    def tls(self) -> bool: ...
    @property
    def ca_file(self) -> str | None: ...
    @property
    def cert_file(self) -> str | None: ...
    @property
    def key_file(self) -> str | None: ...


@dataclass(frozen=True)
class Connection:
    """Where and how to connect; ``client_args()`` feeds ``aiomqtt.Client``."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_context: ssl.SSLContext | None = field(default=None, repr=False)
    # None leaves the choice to the caller (the upstream publisher tries 5, then 3.1.1).
    protocol: aiomqtt.ProtocolVersion | None = None

    def client_args(self) -> dict[str, Any]:
        """Keyword arguments for ``aiomqtt.Client`` (add identifier, will, keepalive...)."""
        args: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "tls_context": self.tls_context,
        }
        if self.protocol is not None:
            args["protocol"] = self.protocol
        return args


def default_port(tls: bool) -> int:
    """MQTT's registered port: 8883 with TLS, 1883 without."""
    return 8883 if tls else 1883


def port_of(broker: BrokerConfig) -> int:
    """The configured port, or the default for the section's TLS setting."""
    return broker.port if broker.port is not None else default_port(broker.tls)


def read_password(broker: BrokerConfig, section: str) -> str | None:
    """The password from ``password_file`` or ``password_env``; None when neither is set."""
    if broker.password_file:
        try:
            return Path(broker.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the password file: {exc.strerror}", key_path=f"{section}.password_file"
            ) from exc
    if broker.password_env:
        password = os.environ.get(broker.password_env)
        if password is None:
            raise ConfigError(
                f"environment variable {broker.password_env} is not set", key_path=f"{section}.password_env"
            )
        return password
    return None


def tls_context(broker: TlsFields, section: str) -> ssl.SSLContext | None:
    """A verifying TLS context for ``broker``; None when its TLS is off."""
    if not broker.tls:
        return None
    try:
        context = ssl.create_default_context(cafile=broker.ca_file)
        if broker.cert_file:
            context.load_cert_chain(broker.cert_file, broker.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load TLS files for {section}: {exc}",
            hint=f"check {section}.ca_file, {section}.cert_file and {section}.key_file",
        ) from exc
    return context


def connection(broker: BrokerConfig, section: str) -> Connection:
    """Resolve ``broker`` (the config section called ``section``) into connection arguments."""
    import aiomqtt

    protocol = {"5": aiomqtt.ProtocolVersion.V5, "3.1.1": aiomqtt.ProtocolVersion.V311}.get(broker.protocol)
    return Connection(
        host=broker.host,
        port=port_of(broker),
        username=broker.username,
        password=read_password(broker, section),
        tls_context=tls_context(broker, section),
        protocol=protocol,
    )
