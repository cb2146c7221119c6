"""The configuration schema: frozen msgspec Structs, unknown keys rejected.

One section a Struct; a new source kind adds its Struct to ``SourceConfig``. ``hearth config schema``
prints this as JSON Schema for editors and fleet tooling.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from agent.config.durations import Duration

CONFIG_VERSION = 1

Name = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="lower-case letters, digits, '_' and '-'; starts with a letter or digit",
    ),
]
Overflow = Literal["block", "drop_oldest", "drop_newest"]


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # Subclasses restate frozen=True so type checkers see it; msgspec inherits the rest.
    """Base of every config section."""


class HubConfig(_Section, frozen=True):
    """Who this hub is and where it keeps its data."""

    id: Name
    name: str = ""
    data_dir: str = "/var/lib/hearth"
    timezone: str = "UTC"
    groups: list[Name] = []


class RetentionConfig(_Section, frozen=True):
    """How long each resolution is kept; raw readings are rolled up before deletion."""

    raw: Duration = "14d"
    minute_rollups: Duration = "90d"
    hour_rollups: Duration = "3650d"
    check_every: Duration = "10m"


class StoreConfig(_Section, frozen=True):
    """The recorder's batching and the readings file's retention."""

    # 1 s, not 100 ms: listeners get readings at once anyway, and on a 20-sensor hub each commit
    # costs about a page of writes, so 1 s commits write ~7x fewer bytes (benchmarks/ingest.py).
    flush_interval: Duration = "1s"
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5000
    queue_size: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 10_000
    retention: RetentionConfig = RetentionConfig()


class LogConfig(_Section, frozen=True):
    """Log verbosity and format (``auto``: console on a terminal, JSON otherwise)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


class DaemonConfig(_Section, frozen=True):
    """Lifecycle limits: how long a graceful stop may take, when a quiet pipeline counts as stalled."""

    stop_timeout: Duration = "10s"
    stall_limit: Duration = "5m"


class SimulatedSourceConfig(_Section, frozen=True, tag="simulated", tag_field="kind"):
    """Replays a CSV of recorded values as a device, at ``rate`` rows per second."""

    name: Name
    file: str
    # At most 1 kHz: readings are stored with millisecond timestamps.
    rate: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 1.0
    loop: bool = True
    overflow: Overflow = "block"


class SerialSourceConfig(_Section, frozen=True, tag="serial", tag_field="kind"):
    """A board on a serial port speaking the firmware bridge protocol (``framed``) or text lines.

    ``name`` is the device: its streams are ``<name>.<quantity>``. Give ``port`` as a stable path
    (``/dev/serial/by-id/...``): ``/dev/ttyUSB0`` may name another board after a replug.
    """

    name: Name
    port: str
    baud: Annotated[int, msgspec.Meta(ge=300, le=4_000_000)] = 115_200
    mode: Literal["framed", "text"] = "framed"
    board_id: str = ""
    handshake_timeout: Duration = "3s"
    command_timeout: Duration = "1s"
    command_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    reconnect_max: Duration = "30s"
    overflow: Overflow = "block"


SourceConfig = SimulatedSourceConfig | SerialSourceConfig


class MqttEndpoint(_Section, frozen=True):
    """How to reach an MQTT broker: TLS is on when ``tls_ca_file`` is set; secrets only from files."""

    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    username: str = ""
    password_file: str = ""


class FleetConfig(_Section, frozen=True):
    """Signed config push: the pinned fleet key, the broker, and how long a new config must prove itself.

    ``public_key`` is the fleet's Ed25519 public key as base64 of its 32 bytes, or a PEM file path.
    Set at provisioning only: a pushed config may not change this section.
    """

    public_key: str
    broker: MqttEndpoint
    confirm_window: Duration = "30s"
    topic_prefix: str = "hearth/v1"


class Config(_Section, frozen=True):
    """A whole hub configuration file."""

    hub: HubConfig
    config_version: int = CONFIG_VERSION
    store: StoreConfig = StoreConfig()
    log: LogConfig = LogConfig()
    daemon: DaemonConfig = DaemonConfig()
    sources: list[SourceConfig] = []
    fleet: FleetConfig | None = None
