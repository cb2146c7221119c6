"""The configuration schema: frozen msgspec Structs, unknown keys rejected.

One section a Struct; a new source kind adds its Struct to ``SourceConfig``. ``hearth config schema``
prints this as JSON Schema for editors and fleet tooling.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from agent.config.durations import Duration
from agent.config.sizes import Size

CONFIG_VERSION = 1

Name = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="lower-case letters, digits, '_' and '-'; starts with a letter or digit",
    ),
]
Overflow = Literal["block", "drop_oldest", "drop_newest"]
Scalar = str | int | float | bool
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # Subclasses restate frozen=True so type checkers see it; msgspec inherits the rest.
    """Base of every config section."""


class HubConfig(_Section, frozen=True):
    """Who this hub is and where it keeps its data."""

    id: Name
    name: str = ""
    data_dir: str = "/var/lib/hearth"
    timezone: Annotated[
        str,
        msgspec.Meta(
            description="IANA zone (Europe/Berlin) of every time the hub shows or reads: rules, forecasts,"
            " the command line and the dashboard"
        ),
    ] = "UTC"
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
    # A power cut costs at most this much of the readings (plus one flush_interval): the first commit
    # this long after the last synced one syncs the WAL. 10 s costs ~6 % more bytes written than never
    # syncing and ~380 fsyncs an hour at 20 sensors x 1 Hz (benchmarks/sd_wear.py); "0s" syncs every commit.
    sync_interval: Duration = "10s"
    # The readings file's budget: past it, retention rolls up and deletes the oldest raw readings early.
    max_size: Size | None = None
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


class ModelConfig(_Section, frozen=True):
    """One on-device model: which file, which streams feed its inputs, how its context is debounced."""

    name: Name
    model: str  # "builtin:NAME", a model folder, or its card.json
    inputs: dict[str, str]  # model input name (from the card) -> stream name ("wrist.acc_x")
    num_threads: Annotated[int, msgspec.Meta(ge=1, le=8)] = 1
    debounce: Annotated[int, msgspec.Meta(ge=1, le=100)] = 2
    min_confidence: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    # Sample rate the streams are read at; only a replay faster than real time sets it (default: the card's).
    input_rate: Annotated[float, msgspec.Meta(gt=0, le=100_000)] | None = None


BleAddress = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$",
        description="a Bluetooth address such as A4:C1:38:8D:18:B2",
    ),
]
GattService = Literal["heart_rate", "environmental", "battery", "nus"]


class GattDeviceConfig(_Section, frozen=True):
    """A BLE device the hub connects to (GATT) rather than only listening to its adverts."""

    name: Name
    address: BleAddress
    services: list[GattService] = msgspec.field(default_factory=lambda: ["battery"])
    poll_interval: Duration = "60s"
    nus_mode: Literal["framed", "text"] = "framed"  # what the board speaks over the Nordic UART Service
    command_timeout: Duration = "1s"  # a framed NUS board's ACK wait, as a serial board's
    command_retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2


class BleSourceConfig(_Section, frozen=True, tag="ble", tag_field="kind"):
    """Adverts of adopted BLE sensors (BTHome, Xiaomi, Ruuvi) and configured GATT devices."""

    name: Name = "ble"
    adapter: Annotated[str, msgspec.Meta(pattern=r"^hci[0-9]{1,2}$")] = "hci0"
    scanning: Literal["auto", "passive", "active"] = "auto"
    silence_timeout: Duration = "90s"
    reset_after: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    dedup_cap: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 4096
    max_connections: Annotated[int, msgspec.Meta(ge=1, le=16)] = 3
    adoption_refresh: Duration = "5s"
    gatt: list[GattDeviceConfig] = []
    overflow: Overflow = "drop_oldest"
    simulate: bool = False  # replay recorded adverts of demo devices instead of using an adapter


SourceConfig = SimulatedSourceConfig | SerialSourceConfig | BleSourceConfig


class SwitchConfig(_Section, frozen=True):
    """A board actuator shown in Home Assistant as a switch; ON/OFF become a COMMAND to the board."""

    name: Name
    board: Name
    command: str = "set"
    arg_on: Scalar = 1
    arg_off: Scalar = 0


class BrokerConfig(_Section, frozen=True):
    """How to reach an MQTT broker; the same keys in ``[upstream]``, ``[local_mqtt]`` and ``[fleet.broker]``.

    TLS verifies the broker against ``ca_file`` (or the system's CAs); ``cert_file`` + ``key_file``
    add a client certificate. The password comes from a file (0600) or an environment variable, so it
    never sits in a config that is shared or pushed.
    """

    host: Annotated[str, msgspec.Meta(min_length=1)]
    # Unset: 8883 with TLS, 1883 without.
    port: Port | None = None
    # "auto": MQTT 5 with a 3.1.1 fallback upstream; 3.1.1 for the fleet and local brokers.
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    tls: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None


class LocalMqttConfig(BrokerConfig, frozen=True):
    """The broker inside the home (Home Assistant's); separate from anything upstream."""

    host: Annotated[str, msgspec.Meta(min_length=1)] = "localhost"
    # Inside the home; set ``tls = true`` (and ``ca_file``) where the local broker offers it.
    tls: bool = False
    client_id: str | None = None
    base_topic: str | None = None  # default: hearth/<hub id>
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    discovery_every: Duration = "10s"
    state_interval: Duration = "1s"
    switches: list[SwitchConfig] = []


class Condition(_Section, frozen=True):
    """One condition of a rule: exactly one of a stream test, a time window, or all/any/not.

    A stream test names ``stream`` and one of ``above``/``below`` (with ``hysteresis``), ``equals``
    or ``changes_to``; strings compare a context strand's label, numbers a reading's value.
    ``for`` holds the condition back until it has been true that long without a break.
    """

    stream: str | None = None
    # A forecast test: ``forecast = "bedroom.temperature"``, ``below = 18``, ``within = "2h"`` is true while
    # any of that stream's forecasts up to 2 h ahead is below 18 (see docs/prediction.md).
    forecast: str | None = None
    within: Duration | None = None
    above: float | None = None
    below: float | None = None
    hysteresis: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    equals: str | float | None = None
    changes_to: str | float | None = None
    min_confidence: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    during: str | None = None  # "HH:MM-HH:MM" in the hub's time zone; may wrap midnight
    all: list[Condition] | None = None
    any: list[Condition] | None = None
    not_: Condition | None = msgspec.field(default=None, name="not")
    for_: Duration | None = msgspec.field(default=None, name="for")


class LogAction(_Section, frozen=True, tag="log", tag_field="kind"):
    """Write a line to the agent's log."""

    message: str
    level: Literal["debug", "info", "warning", "error"] = "info"


class PublishAction(_Section, frozen=True, tag="publish", tag_field="kind"):
    """Publish to the local broker; ``payload`` may use {rule} {stream} {value} {label} {ts}."""

    topic: str
    payload: str = "{value}"
    qos: Literal[0, 1] = 0
    retain: bool = False


class BoardAction(_Section, frozen=True, tag="board", tag_field="kind"):
    """Send a COMMAND (with an optional argument) to a board; retry until it ACKs, ``attempts`` times."""

    board: Name
    command: str
    arg: Scalar | None = None
    attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 2


ActionConfig = LogAction | PublishAction | BoardAction


class RuleConfig(_Section, frozen=True):
    """When ``when`` becomes true, run ``actions`` in order (once per rising edge)."""

    name: Name
    when: Condition
    actions: list[ActionConfig]
    enabled: bool = True


class PredictionConfig(_Section, frozen=True):
    """Forecasts, anomalies and battery life from each stream's own history (docs/prediction.md)."""

    # Stream names or globs (``*.temperature``) to forecast; each also gets anomaly detection.
    streams: list[str] = []
    # How far ahead, each a whole number of ``step``s; one ``forecast.<stream>.<horizon>`` strand each.
    horizons: list[Duration] = msgspec.field(default_factory=lambda: ["1h", "2h", "6h"])
    # The forecaster's grid: the mean of each step is one value (its season is the local day).
    step: Duration = "1h"
    level: Annotated[float, msgspec.Meta(ge=0.5, le=0.99)] = 0.8
    # How long a value must stay outside the expected range before it is an anomaly.
    anomaly_min_duration: Duration = "2h"
    # Each part of the day (night, morning, afternoon, evening) is compared with the same part on this
    # many days before it; an ``anomaly.<stream>`` event when it is far out of their usual range.
    anomaly_days: Annotated[int, msgspec.Meta(ge=7, le=366)] = 28
    # How much history the forecasters learn from when they have no saved state.
    history: Duration = "28d"
    # Battery estimates for every stream whose quantity is ``battery``; a warning under this many days.
    battery: bool = True
    battery_warning_days: Annotated[float, msgspec.Meta(gt=0, le=3650)] = 14.0


class WebConfig(_Section, frozen=True):
    """The local web dashboard. Loopback only unless the owner has set a password (``hearth web``)."""

    enabled: bool = True
    listen: str = "127.0.0.1"
    # 0 picks a free port (tests); ``hearth web url`` then cannot know it.
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8750
    session_idle: Duration = "30m"
    session_max: Duration = "12h"
    # Each stream's live value reaches a browser at most once per live_interval.
    live_interval: Duration = "1s"
    sparkline_window: Duration = "10m"
    # HTTPS with this certificate chain and key (absolute PEM paths); the password then never
    # crosses the home network in the clear and the session cookie is marked Secure.
    tls_cert: str = ""
    tls_key: str = ""


class UpstreamConfig(BrokerConfig, frozen=True):
    """The upstream MQTT broker that consented summaries go to (grants are never config)."""

    topic_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")] = "hearth/v1"
    keepalive: Duration = "60s"
    session_expiry: Duration = "7d"
    max_inflight: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 32
    outbox_cap: Annotated[int, msgspec.Meta(ge=10, le=10_000_000)] = 100_000
    message_ttl: Duration = "7d"
    summarise_interval: Duration = "10s"
    summary_lag: Duration = "2s"


class MarketConfig(BrokerConfig, frozen=True):
    """The broker the owner's intents are published on (``hearth intent``); nothing about the hub goes there.

    Each intent connects on its own, with a random client id and no will; leave ``username`` and the
    client certificate unset (or use credentials shared by many homes), since they would name the hub.
    Offers larger than ``offer_max_size`` or beyond ``offers_per_period`` per intent and ``offer_period``
    are counted and dropped; an intent keeps at most ``inbox_cap`` offers.
    """

    topic_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")] = "intents/v1"
    offer_max_size: Annotated[int, msgspec.Meta(ge=256, le=65536)] = 4096
    offers_per_period: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 20
    offer_period: Duration = "1h"
    inbox_cap: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 200
    check_every: Duration = "30s"


class FleetConfig(_Section, frozen=True):
    """Signed config push: the pinned fleet key, the broker, and how long a new config must prove itself.

    Without ``broker`` the fleet comes through the ``[upstream]`` broker (client id ``<hub id>-fleet``).

    ``public_key`` is the fleet's Ed25519 public key as base64 of its 32 bytes, or a PEM file path.
    Set at provisioning only: a pushed config may not change this section, so ``allow`` stays the owner's.
    """

    public_key: str
    broker: BrokerConfig | None = None
    confirm_window: Duration = "30s"
    topic_prefix: str = "hearth/v1"
    # The owner's leave for a push to change where data goes, each key to exactly the value given, as
    # tables shaped like the config: ``allow.upstream = { host = "b.example.org" }`` lets a push move
    # upstream to that host and nowhere else; ``allow.local_mqtt = false`` lets it remove [local_mqtt].
    allow: dict[str, Any] = {}


class Config(_Section, frozen=True):
    """A whole hub configuration file."""

    hub: HubConfig
    config_version: int = CONFIG_VERSION
    store: StoreConfig = StoreConfig()
    log: LogConfig = LogConfig()
    daemon: DaemonConfig = DaemonConfig()
    sources: list[SourceConfig] = []
    models: list[ModelConfig] = []
    local_mqtt: LocalMqttConfig | None = None
    rules: list[RuleConfig] = []
    prediction: PredictionConfig | None = None
    web: WebConfig | None = None
    upstream: UpstreamConfig | None = None
    market: MarketConfig | None = None
    fleet: FleetConfig | None = None
