"""Checks on ``[[rules]]`` and ``[local_mqtt]`` that need the whole config: strands, boards, templates.

Every error names the rule (or switch) and the key path, and is a ``ConfigError`` (exit 2).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.config.schema import ActionConfig, BoardAction, Condition, Config, LogAction, PublishAction
from agent.errors import ConfigError
from agent.rules.engine import parse_window
from agent.sources.strands import is_known, known_boards, known_strands

TEMPLATE_FIELDS = ("rule", "stream", "value", "label", "ts")
_SAMPLE: dict[str, Any] = {"rule": "r", "stream": "s.q", "value": 1.5, "label": "x", "ts": 0.0}


def render(template: str, fields: dict[str, Any]) -> str:
    """Fill ``{rule} {stream} {value} {label} {ts}`` in an action's template."""
    return template.format_map(fields)


def template_error(template: str) -> str | None:
    """Why ``template`` cannot be rendered, or None if it can."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        for name in names:
            if name.split(".")[0].split("[")[0] not in TEMPLATE_FIELDS:
                return f"unknown field {{{name}}} (use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})"
        render(template, _SAMPLE)
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        return f"bad template {template!r}: {exc}"
    return None


def check_config(config: Config, source: str, base_dir: Path | None) -> None:
    """The registry's cross-check for rules and the local broker (see ``agent.config.features``)."""
    check_rules(config, source)


def check_rules(config: Config, source: str = "config") -> None:
    """Raise ``ConfigError`` naming the rule if any rule or switch refers to what does not exist."""
    if not config.rules and config.local_mqtt is None:
        return
    strands = known_strands(config) if config.rules else frozenset()
    boards = known_boards(config)
    seen: set[str] = set()
    for index, rule in enumerate(config.rules):
        where = f"rules[{index}]"

        def fail(message: str, key: str, *, hint: str | None = None, _name: str = rule.name) -> ConfigError:
            return ConfigError(f"rule {_name!r}: {message}", source=source, key_path=key, hint=hint)

        if rule.name in seen:
            raise fail("another rule has this name", f"{where}.name")
        seen.add(rule.name)
        if not rule.actions:
            raise fail("has no actions", f"{where}.actions")
        _check_condition(rule.when, f"{where}.when", strands, fail)
        _check_actions(config, rule.actions, where, boards, fail)
    _check_switches(config, boards, source)


def _known_hint(what: str, names: frozenset[str]) -> str:
    if not names:
        return f"no {what} are configured"
    shown = sorted(names)
    more = f" and {len(shown) - 10} more" if len(shown) > 10 else ""
    return f"configured {what}: {', '.join(shown[:10])}{more}"


def _check_template(template: str, key: str, fail: Any) -> None:
    problem = template_error(template)
    if problem is not None:
        raise fail(problem, key)


def _check_condition(cond: Condition, key: str, strands: frozenset[str], fail: Any) -> None:
    kinds = [
        name
        for name, present in (
            ("stream", cond.stream is not None),
            ("during", cond.during is not None),
            ("all", cond.all is not None),
            ("any", cond.any is not None),
            ("not", cond.not_ is not None),
        )
        if present
    ]
    if not kinds and cond.stream is None:
        _check_stream_test(cond, key, strands, fail)
    if len(kinds) != 1:
        found = ", ".join(kinds) or "none of them"
        raise fail(f"a condition needs exactly one of stream, during, all, any, not (found {found})", key)
    _check_stream_test(cond, key, strands, fail)
    if cond.during is not None:
        try:
            parse_window(cond.during)
        except ValueError as exc:
            raise fail(str(exc), f"{key}.during") from None
    for name, children in (("all", cond.all), ("any", cond.any)):
        if children is not None:
            if not children:
                raise fail(f"'{name}' needs at least one condition", f"{key}.{name}")
            for index, child in enumerate(children):
                _check_condition(child, f"{key}.{name}[{index}]", strands, fail)
    if cond.not_ is not None:
        _check_condition(cond.not_, f"{key}.not", strands, fail)


def _check_actions(
    config: Config, actions: Sequence[ActionConfig], where: str, boards: frozenset[str], fail: Any
) -> None:
    for a_index, action in enumerate(actions):
        key = f"{where}.actions[{a_index}]"
        if isinstance(action, LogAction):
            _check_template(action.message, f"{key}.message", fail)
        elif isinstance(action, PublishAction):
            if config.local_mqtt is None:
                raise fail("publishes, but there is no [local_mqtt] section", key)
            if not action.topic or any(c in action.topic for c in "#+"):
                raise fail(f"topic {action.topic!r} must be a plain topic (no wildcards)", f"{key}.topic")
            _check_template(action.topic, f"{key}.topic", fail)
            _check_template(action.payload, f"{key}.payload", fail)
        elif isinstance(action, BoardAction) and action.board not in boards:
            raise fail(
                f"unknown board {action.board!r}",
                f"{key}.board",
                hint=_known_hint("boards", boards),
            )


def _check_switches(config: Config, boards: frozenset[str], source: str) -> None:
    if config.local_mqtt is None:
        return
    names: set[str] = set()
    for index, switch in enumerate(config.local_mqtt.switches):
        key = f"local_mqtt.switches[{index}]"
        if switch.name in names:
            raise ConfigError(
                f"switch {switch.name!r}: another switch has this name", source=source, key_path=key
            )
        names.add(switch.name)
        if switch.board not in boards:
            raise ConfigError(
                f"switch {switch.name!r}: unknown board {switch.board!r}",
                source=source,
                key_path=f"{key}.board",
                hint=_known_hint("boards", boards),
            )


def _check_stream_test(cond: Condition, key: str, strands: frozenset[str], fail: Any) -> None:
    tests = [
        name
        for name, value in (
            ("above", cond.above),
            ("below", cond.below),
            ("equals", cond.equals),
            ("changes_to", cond.changes_to),
        )
        if value is not None
    ]
    if cond.stream is None:
        if tests or cond.hysteresis or cond.min_confidence:
            used = ", ".join(tests) or "hysteresis/min_confidence"
            raise fail(f"{used} needs a stream", key)
    else:
        if len(tests) != 1:
            found = ", ".join(tests) or "none of them"
            raise fail(
                f"a stream test needs exactly one of above, below, equals, changes_to (found {found})", key
            )
        if not is_known(cond.stream, strands):
            raise fail(
                f"unknown strand {cond.stream!r}",
                f"{key}.stream",
                hint="name a stream of a configured source or a model's context strand "
                + f"({_known_hint('strands', strands)})",
            )
        if cond.hysteresis and tests[0] not in ("above", "below"):
            raise fail("hysteresis applies only to above/below", f"{key}.hysteresis")
        target = cond.equals if cond.equals is not None else cond.changes_to
        if cond.min_confidence and not isinstance(target, str):
            raise fail("min_confidence applies only to a label (a string)", f"{key}.min_confidence")
        if tests[0] == "changes_to" and cond.for_ is not None:
            raise fail("changes_to is a moment; it cannot hold 'for' a duration (use equals)", f"{key}.for")
