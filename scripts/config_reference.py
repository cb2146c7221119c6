"""Write docs/configuration.md from ``hearth config schema``: every section and key, its type and default.

    python scripts/config_reference.py [OUTPUT]     # default: docs/configuration.md

``scripts/config-reference`` runs this in the project's virtual env; tests/docs checks that the committed
file is what this writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "configuration.md"

Schema = dict[str, Any]

INTRO = """\
# Configuration reference

Every section and key of a hub's config file, with its type, default and allowed values. This file is
generated from `hearth config schema` by `scripts/config-reference`; do not edit it by hand. For what the
parts do, read [the home owner's guide](home-owner.md#configuration), [the hobbyist's](hobbyist.md) and
[the fleet manager's](fleet-manager.md); [`config/hearth.toml`](../config/hearth.toml) is the documented
default file with a comment on each key.

One TOML file; unknown keys are errors. A key marked required must be given; an optional one is unset
unless given. A *duration* is a string such as `"100ms"`, `"30s"`, `"5m"`, `"2h"` or `"7d"`; a *size* one
such as `"500MB"` or `"2GB"` (1 MB = 10^6 bytes). Relative paths are taken from the config file's folder.
A mistake stops `hearth config check` and `hearth run` with exit 2, naming the file and the key.
"""


def schema_document() -> Schema:
    """The JSON Schema exactly as ``hearth config schema`` prints it."""
    out = subprocess.run(
        [sys.executable, "-m", "agent", "config", "schema"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    document: Schema = json.loads(out)
    return document


class Reference:
    """Renders the schema's sections depth first, each struct once."""

    def __init__(self, document: Schema) -> None:
        self.defs: dict[str, Schema] = document["$defs"]
        self.root = document["$ref"].rsplit("/", 1)[1]
        self.done: dict[str, str] = {}  # struct name -> the heading it was rendered under
        self.sections: list[str] = []

    def render(self) -> str:
        self.section(self.root, "Top level", None)
        return INTRO + "".join(self.sections)

    def section(self, name: str, heading: str, prefix: str | None) -> None:
        """One struct as a table of its keys, then the structs its keys hold."""
        self.done[name] = heading
        struct = self.defs[name]
        lines = [f"\n## {heading}\n\n"]
        if "description" in struct:
            lines.append(_paragraphs(struct["description"]) + "\n\n")
        lines.append("| key | type | default | allowed |\n|---|---|---|---|\n")
        nested: list[tuple[str, str, str]] = []  # (struct, heading, prefix)
        required = set(struct.get("required", ()))
        for key, prop in struct.get("properties", {}).items():
            path = f"{prefix}.{key}" if prefix else key
            kind, allowed, children = self.describe(prop, path)
            nested.extend(children)
            if "default" in prop:
                default = _toml(prop["default"]) if not _is_table(prop) else "(table)"
            else:
                default = "**required**" if key in required else "(has a default)"
            lines.append(f"| `{key}` | {kind} | {default} | {allowed} |\n")
        self.sections.append("".join(lines))
        for child, child_heading, child_prefix in nested:
            if child not in self.done:
                self.section(child, child_heading, child_prefix)

    def describe(self, prop: Schema, path: str) -> tuple[str, str, list[tuple[str, str, str]]]:
        """(type, allowed values, structs to render below) of one key."""
        options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
        optional = len(options) < len(prop.get("anyOf", [prop]))
        kinds: list[str] = []
        allowed: list[str] = []
        children: list[tuple[str, str, str]] = []
        for option in options:
            kind, more, nested = self.one(option, path)
            kinds.append(kind)
            if more:
                allowed.append(more)
            children.extend(nested)
        if "enum" in prop:
            kinds = kinds if any(kinds) else [_enum_type(prop["enum"])]
            allowed.append(" \\| ".join(f"`{_toml(v)}`" for v in prop["enum"]))
        text = " or ".join(kinds)
        return (f"{text}, optional" if optional else text), "; ".join(allowed), children

    def one(self, option: Schema, path: str) -> tuple[str, str, list[tuple[str, str, str]]]:
        """(type, allowed values, structs to render below) of one alternative of a key's type."""
        if "$ref" in option:
            name = option["$ref"].rsplit("/", 1)[1]
            heading = self.done.get(name, f"`[{path}]`")
            return f"table, see {heading}", "", [(name, f"`[{path}]`", path)]
        if option.get("type") == "array":
            return self.array(option["items"], path)
        if option.get("type") == "object":
            values = option.get("additionalProperties")
            if isinstance(values, dict) and values.get("type"):
                return f"table of {values['type']}s", "", []
            return "table", "", []
        description = option.get("description", "")
        for kind in ("duration", "size"):
            if description.startswith(f"a {kind} such as"):
                return kind, "", []
        return option.get("type", ""), _constraints(option), []

    def array(self, items: Schema, path: str) -> tuple[str, str, list[tuple[str, str, str]]]:
        """(type, allowed values, structs to render below) of a list whose elements are ``items``."""
        if "anyOf" in items and "discriminator" in items:
            tag = items["discriminator"]["propertyName"]
            children = []
            for value, ref in sorted(items["discriminator"]["mapping"].items()):
                name = ref.rsplit("/", 1)[1]
                children.append((name, f'`[[{path}]]` {tag} = "{value}"', path))
            kinds = ", ".join(f'`{tag} = "{v}"`' for v in sorted(items["discriminator"]["mapping"]))
            return f"list of tables, one per {tag} ({kinds}), see below", "", children
        if "$ref" in items:
            name = items["$ref"].rsplit("/", 1)[1]
            heading = self.done.get(name, f"`[[{path}]]`")
            return f"list of tables, see {heading}", "", [(name, f"`[[{path}]]`", path)]
        kind, allowed, children = self.one(items, path)
        if "enum" in items:
            kind = _enum_type(items["enum"])
            allowed = "each one of " + " \\| ".join(f"`{_toml(v)}`" for v in items["enum"])
        return f"list of {kind}s", allowed, children


def _enum_type(values: list[object]) -> str:
    return "integer" if all(isinstance(v, int) for v in values) else "string"


def _constraints(option: Schema) -> str:
    parts: list[str] = []
    if "description" in option:
        parts.append(option["description"])
    elif "pattern" in option:
        parts.append(f"matches `{option['pattern']}`")
    low = option.get("minimum", option.get("exclusiveMinimum"))
    high = option.get("maximum")
    if low is not None or high is not None:
        above = "> " if "exclusiveMinimum" in option else "≥ "
        bounds = [f"{above}{low}" if low is not None else "", f"≤ {high}" if high is not None else ""]
        parts.append(", ".join(b for b in bounds if b))
    if option.get("minLength") == 1:
        parts.append("not empty")
    return "; ".join(parts)


def _is_table(prop: Schema) -> bool:
    return isinstance(prop.get("default"), dict) and "$ref" in prop


def _toml(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | dict):
        return "[]" if value == [] else "{}" if value == {} else json.dumps(value)
    return str(value)


def _paragraphs(text: str) -> str:
    """A docstring's paragraphs, each joined onto one line."""
    text = text.replace("``", "`")
    return "\n\n".join(" ".join(p.split()) for p in text.split("\n\n") if p.strip())


def render(document: Schema) -> str:
    """docs/configuration.md for ``document``, the output of ``hearth config schema``."""
    return Reference(document).render()


def main(argv: list[str]) -> int:
    output = Path(argv[1]) if len(argv) > 1 else OUTPUT
    output.write_text(render(schema_document()))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
