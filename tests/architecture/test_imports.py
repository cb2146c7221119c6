"""Every import inside ``agent/`` points down the layers, and no two agent modules import each other.

The layers follow the data flow of DESIGN.md, lowest first: a module may import from its own layer
and from any layer before it, never from a later one. Imports made inside functions count (a lazy
import is still a dependency); imports under ``if TYPE_CHECKING:`` do not (they never run).

- ``base``: the package itself, the error tree, ``Reading``, asyncio helpers and backoff;
- ``config``: the schema, loading, durations, and the feature registry (it names feature modules as
  strings and imports none of them);
- ``net``: what every MQTT client shares (endpoints, passwords, request helpers);
- ``store``: the two SQLite files and their owners;
- ``pipeline``: the bounded sinks sources put readings into, and the recorder that commits them;
- ``sources``: BLE, serial boards, simulators, and the runner that supervises each of them;
- ``hub``: the ``Hub`` protocol every feature receives;
- ``analysis``: inference and prediction (read the recorder's feed, write context strands);
- ``rules``, then ``local``: rules decide on readings; local actions (local broker, Home Assistant)
  carry them out;
- ``consent``, then ``sync``: grants and the gate admit summaries into the outbox, sync publishes them;
- ``fleet``: signed config push;
- ``web``: the dashboard;
- ``control``: owner actions and the control socket (the dashboard reaches them through the hub);
- ``daemon``: the running hub, which loads the features;
- ``cli``: the commands, and the demo that they run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "agent"

LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("base", frozenset({"agent", "agent.errors", "agent.readings", "agent.aio", "agent.backoff"})),
    ("config", frozenset({"agent.config"})),
    ("net", frozenset({"agent.connection", "agent.mqtt_requests", "agent.reconnect"})),
    ("store", frozenset({"agent.store"})),
    ("pipeline", frozenset({"agent.pipeline"})),
    ("sources", frozenset({"agent.sources"})),
    ("hub", frozenset({"agent.hub"})),
    ("analysis", frozenset({"agent.inference", "agent.prediction"})),
    ("rules", frozenset({"agent.rules"})),
    ("local", frozenset({"agent.local"})),
    ("consent", frozenset({"agent.consent"})),
    ("sync", frozenset({"agent.sync"})),
    ("intents", frozenset({"agent.intents"})),
    ("fleet", frozenset({"agent.fleet"})),
    ("web", frozenset({"agent.web"})),
    ("control", frozenset({"agent.control"})),
    ("daemon", frozenset({"agent.daemon"})),
    ("cli", frozenset({"agent.cli", "agent.demo", "agent.__main__"})),
)


def modules() -> dict[str, Path]:
    """Every module under ``agent/`` by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


def layer_of(module: str) -> int:
    """Index in ``LAYERS`` of ``module``: the entry naming it or its nearest enclosing package."""
    name = module
    while name:
        for index, (_, members) in enumerate(LAYERS):
            # ``agent`` is the package's own __init__, not all under it: a new package must be placed
            if name in members and (name != "agent" or module == "agent"):
                return index
        name = name.rpartition(".")[0]
    raise AssertionError(f"{module} is in no layer: add it (or its package) to LAYERS")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield from _imports_of_statement(other)
            continue
        yield from _imports_of_statement(child)


def _imports_of_statement(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    yield from _imports(node)


def _known(name: str) -> str | None:
    """The agent module ``name`` is or lives in (``agent.x.Y`` → ``agent.x``), None if not ours."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[tuple[str, int]]:
    """The agent modules ``module`` imports, with the line of each import."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[tuple[str, int]] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            # ``from agent.x import y`` imports the module agent.x.y when there is one.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names
            ]
        for target in targets:
            known = _known(target)
            if known is not None and known != module:
                found.add((known, node.lineno))
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_import_points_up_the_layers() -> None:
    upward = [
        f"{MODULES[module].relative_to(ROOT)}:{line}: {module} ({LAYERS[layer_of(module)][0]}) imports "
        f"{target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(GRAPH.items())
        for target, line in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of ``graph`` with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    graph = {module: {target for target, _ in targets} for module, targets in GRAPH.items()}
    found = cycles(graph)
    assert not found, "modules that import each other (directly or around a circle):\n" + "\n".join(
        " <-> ".join(component) for component in found
    )


def test_the_checker_sees_lazy_relative_and_type_only_imports() -> None:
    """The walk finds imports inside functions, and skips those under ``if TYPE_CHECKING:``."""
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import agent.daemon\n"
        "else:\n    import agent.errors\n"
        "def f():\n    from agent.store import readings\n"
        "    if True:\n        from . import sibling\n"
    )
    names = [
        (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name, getattr(node, "level", 0))
        for node in _imports(tree)
    ]
    assert names == [("typing", 0), ("agent.errors", 0), ("agent.store", 0), (None, 1)]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "agent.store.readings" in {target for target, _ in imports_of("agent.pipeline.recorder")}
