"""Load a config file: TOML → migrated mapping → validated ``Config``, with errors naming the key."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from agent.config.features import check_features
from agent.config.schema import CONFIG_VERSION, BrokerConfig, Config, SimulatedSourceConfig
from agent.errors import ConfigError

T = TypeVar("T")
B = TypeVar("B", bound=BrokerConfig)

_BROKER_FILES = ("ca_file", "cert_file", "key_file", "password_file")

# Each entry turns a mapping of version N into version N + 1, so any older file loads.
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

_AT = re.compile(r"^(?P<msg>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)


def load_config(path: str | Path) -> Config:
    """Read, migrate and validate the config file at ``path``; raise ``ConfigError`` if it is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", source=str(path)) from exc
    return parse_config(text, source=str(path), base_dir=path.parent)


def parse_config(text: str, *, source: str = "config", base_dir: Path | None = None) -> Config:
    """Validate TOML ``text`` as a config; relative paths are resolved against ``base_dir``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", source=source) from exc
    return config_from_mapping(raw, source=source, base_dir=base_dir)


def config_from_mapping(
    raw: Mapping[str, Any], *, source: str = "config", base_dir: Path | None = None
) -> Config:
    """Validate an already-parsed mapping (a TOML file or a pushed JSON document)."""
    data = migrate(dict(raw), source=source)
    config = convert(data, Config, source=source)
    _check(config, source)
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    check_features(config, source, base_dir)
    return config


def convert(data: Any, type_: type[T], *, source: str, prefix: str = "") -> T:
    """``msgspec.convert`` with errors turned into ``ConfigError`` naming the key path."""
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as exc:
        message, key_path = _split_error(str(exc))
        if prefix:
            key_path = f"{prefix}.{key_path}" if key_path else prefix
        raise ConfigError(message, source=source, key_path=key_path or None) from None


def migrate(data: dict[str, Any], *, source: str) -> dict[str, Any]:
    """Bring a config mapping of any older ``config_version`` up to the current one."""
    version = data.get("config_version", CONFIG_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(
            f"expected a positive whole number, got {version!r}",
            source=source,
            key_path="config_version",
        )
    if version > CONFIG_VERSION:
        raise ConfigError(
            f"written for config version {version}; this release reads up to {CONFIG_VERSION}",
            source=source,
            key_path="config_version",
            hint="upgrade Hearth, or rewrite the file for the older release",
        )
    while version < CONFIG_VERSION:
        data = _MIGRATIONS[version](data)
        version += 1
        data["config_version"] = version
    return data


def _split_error(text: str) -> tuple[str, str]:
    match = _AT.match(text)
    if match is None:
        return text, ""
    path = match.group("path").lstrip(".")
    return match.group("msg"), path


def _check(config: Config, source: str) -> None:
    """Checks that span several keys, which the schema alone cannot express."""
    try:
        ZoneInfo(config.hub.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {config.hub.timezone!r}",
            source=source,
            key_path="hub.timezone",
            hint="use an IANA name such as Europe/Berlin or UTC",
        ) from None
    seen: dict[str, int] = {}
    for index, src in enumerate(config.sources):
        if src.name in seen:
            raise ConfigError(
                f"source name {src.name!r} is already used by sources[{seen[src.name]}]",
                source=source,
                key_path=f"sources[{index}].name",
            )
        seen[src.name] = index
    if config.fleet is not None and config.fleet.broker is None and config.upstream is None:
        raise ConfigError(
            "no broker for the fleet: set [fleet.broker], or [upstream] for the fleet to share",
            source=source,
            key_path="fleet.broker",
        )


def _resolve_paths(config: Config, base_dir: Path) -> Config:
    """Make relative file paths absolute against the config file's folder."""

    def resolve(value: str) -> str:
        if value.startswith("builtin:") or Path(value).is_absolute():
            return value
        return str((base_dir / value).resolve())

    hub = msgspec.structs.replace(config.hub, data_dir=resolve(config.hub.data_dir))
    sources = [
        msgspec.structs.replace(s, file=resolve(s.file)) if isinstance(s, SimulatedSourceConfig) else s
        for s in config.sources
    ]
    models = [msgspec.structs.replace(m, model=resolve(m.model)) for m in config.models]
    fleet = config.fleet
    if fleet is not None and fleet.broker is not None:
        fleet = msgspec.structs.replace(fleet, broker=_resolve_broker(fleet.broker, resolve))
    return msgspec.structs.replace(
        config,
        hub=hub,
        sources=sources,
        models=models,
        local_mqtt=_resolve_broker(config.local_mqtt, resolve),
        upstream=_resolve_broker(config.upstream, resolve),
        market=_resolve_broker(config.market, resolve),
        fleet=fleet,
    )


def _resolve_broker(broker: B | None, resolve: Callable[[str], str]) -> B | None:
    """A broker section with its file keys made absolute."""
    if broker is None:
        return None
    files = {key: resolve(value) for key in _BROKER_FILES if (value := getattr(broker, key)) is not None}
    return msgspec.structs.replace(broker, **files)
