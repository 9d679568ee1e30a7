"""The architecture, checked from the source: imports point down. No cycles among the project's modules, and
`service/core/` imports nothing of the project outside itself (it knows no HTTP, gRPC, metrics or settings)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.server import ROOT

PACKAGES = ("service", "model_export")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules this module imports, at any level of the file (function-level and TYPE_CHECKING too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` names a module when `pkg.sub` is one; otherwise it names something in `pkg`.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a package: the deepest module that exists
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_sees_cycles_and_relative_imports() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "service.core.registry" in graph["service.core.dataplane"]  # `from .registry import ...`
    assert "service.core.errors" in graph["service.protocols.http_adapter"]  # `from ..core.errors import ...`


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_core_imports_nothing_outside_it() -> None:
    outside = {
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if name.startswith("service.core")
        for target in targets
        if not target.startswith("service.core")
    }
    assert outside == set()


def test_no_protocol_adapter_reaches_past_the_data_plane() -> None:
    reaching = {
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if name.startswith("service.protocols")
        for target in targets
        if target in ("service.core.registry", "service.core.watcher", "service.core.batcher")
    }
    assert reaching == set()
