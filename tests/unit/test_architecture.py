"""The architecture, checked from the source: imports point down (`.importlinter`'s contracts, run here and by
`make lint`), and what import-linter does not check: no import cycle between any two of the project's modules, and no
environment read below where the app is assembled."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import ROOT

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))

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


@pytest.mark.smoke
def test_the_import_contracts_hold() -> None:
    """.importlinter's layers and forbidden imports (import-linter), which `make lint` runs too."""
    result = subprocess.run([LINT_IMPORTS], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_import_contracts_can_fail(tmp_path: Path) -> None:
    """A copy of the tree in which the core imports the HTTP layer breaks the layers contract, by name."""
    for package in ("service", "model_export"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path)
    with open(tmp_path / "service" / "core" / "errors.py", "a") as errors:
        errors.write("\nfrom ..http import front_door  # noqa\n")
    result = subprocess.run([LINT_IMPORTS], capture_output=True, text=True, cwd=tmp_path, env=_only(tmp_path))
    assert result.returncode != 0
    assert "service.core.errors -> service.http.front_door" in result.stdout


def test_neither_the_contract_nor_the_core_reads_the_environment() -> None:
    """Settings are read where the app is assembled (service/app.py, service/server/): never below."""
    readers = [
        f"{name}: {node.attr}"
        for name, path in project_modules().items()
        if name.startswith(("service.core", "service.contract", "service.protocols"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv")
    ]
    assert readers == []


def _only(root: Path) -> dict[str, str]:
    """The environment with `root` first on the import path, so the copy is what import-linter reads."""
    return {**os.environ, "PYTHONPATH": str(root)}
