"""Every `python -m MODULE` the project's own files run (Dockerfile, compose files, Kubernetes manifests, Makefile,
CI scripts, docs) names a module of the project that exists: a module moved without its callers fails here, not
in a container's health check."""

from __future__ import annotations

import importlib.util
import re

import pytest

from tests.support.server import ROOT

CALLERS = [
    "Dockerfile",
    "Makefile",
    *(str(p.relative_to(ROOT)) for p in ROOT.glob("docker-compose*.yml")),
    *(str(p.relative_to(ROOT)) for p in (ROOT / "deploy").rglob("*") if p.suffix in (".yml", ".yaml", ".cfg")),
    *(str(p.relative_to(ROOT)) for p in (ROOT / ".ci").iterdir()),
    *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md")),
]
# `-m NAME` as a shell word or a JSON/YAML list item ("-m", "NAME"), for the project's own packages.
MODULE = re.compile(r"""-m["',\s]+((?:service|model_export|bench)(?:\.\w+)*)""")


def modules_called() -> list[tuple[str, str]]:
    found = []
    for caller in CALLERS:
        text = (ROOT / caller).read_text()
        found += [(caller, module) for module in sorted(set(MODULE.findall(text)))]
    return found


def test_callers_are_found() -> None:
    called = {module for _, module in modules_called()}
    assert {"service", "service.server.healthcheck", "model_export"} <= called


@pytest.mark.parametrize(("caller", "module"), modules_called())
def test_the_module_exists(caller: str, module: str) -> None:
    assert importlib.util.find_spec(module) is not None, f"{caller} runs python -m {module}, which does not exist"
