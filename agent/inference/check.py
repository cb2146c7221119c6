"""Config-time checks of ``[[models]]``: every model loads, fits its card, and reads streams that exist.

Run by ``hearth config check`` and at agent start, so a bad model or mapping stops the hub with a clear
``ConfigError`` (exit 2) naming the model and key, instead of failing at the first window.
"""

from __future__ import annotations

from agent.config.schema import Config, SimulatedSourceConfig
from agent.errors import ConfigError, ModelError
from agent.inference.runtime import Model
from agent.sources.simulated import load_table


def declared_streams(config: Config) -> tuple[set[str], set[str]]:
    """Streams the configured sources will declare: exact names, and device prefixes for live sources.

    A simulated source's streams are known from its file's header; a live source (BLE, serial) names
    its streams ``<source name>.<quantity>`` only once devices speak, so any stream under its name counts.
    """
    exact = {
        info.name
        for source in config.sources
        if isinstance(source, SimulatedSourceConfig)
        for info in load_table(source.name, source.file).streams
    }
    prefixes = {f"{s.name}." for s in config.sources if not isinstance(s, SimulatedSourceConfig)}
    return exact, prefixes


def load_models(config: Config, *, source: str = "config") -> list[Model]:
    """Load every ``[[models]]`` entry and check its input mapping; raise ``ConfigError`` naming the key."""
    models: list[Model] = []
    exact, prefixes = declared_streams(config)
    seen: dict[str, int] = {}
    for index, entry in enumerate(config.models):
        where = f"models[{index}]"
        if entry.name in seen:
            raise ConfigError(
                f"model name {entry.name!r} is already used by models[{seen[entry.name]}]",
                source=source,
                key_path=f"{where}.name",
            )
        seen[entry.name] = index
        try:
            model = Model.load(entry.model, num_threads=entry.num_threads)
        except ModelError as exc:
            raise ConfigError(
                f"model {entry.name!r}: {exc.message}",
                source=source,
                key_path=f"{where}.model",
                hint=exc.hint,
            ) from exc
        wanted = [i.name for i in model.card.inputs]
        for key in entry.inputs:
            if key not in wanted:
                raise ConfigError(
                    f"model {entry.name!r} has no input {key!r}",
                    source=source,
                    key_path=f"{where}.inputs.{key}",
                    hint=f"its inputs are {', '.join(wanted)}",
                )
        for key in wanted:
            stream = entry.inputs.get(key)
            if stream is None:
                raise ConfigError(
                    f"model {entry.name!r}: input {key!r} is not mapped to a stream",
                    source=source,
                    key_path=f"{where}.inputs.{key}",
                    hint=f"map every input: {', '.join(wanted)}",
                )
            if stream not in exact and not any(stream.startswith(p) for p in prefixes):
                known = ", ".join(sorted(exact)) or "none"
                raise ConfigError(
                    f"model {entry.name!r}: input {key!r} reads stream {stream!r}, which no configured "
                    "source declares",
                    source=source,
                    key_path=f"{where}.inputs.{key}",
                    hint=f"streams of simulated sources: {known}",
                )
        models.append(model)
    return models
