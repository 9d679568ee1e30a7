"""PromQL helpers for the monitoring tests: which metrics the service exports (read from its code), which metric
names an expression selects, and promtool's parser as the judge of an expression."""

from __future__ import annotations

import importlib
import pkgutil
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

import service

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
_SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
# What an identifier outside {...} and [...] may be besides a metric name (aggregations may be followed by `by`).
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
_KEYWORDS |= {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk"}
_KEYWORDS |= {"quantile"}


def exported_metric_names() -> set[str]:
    """Every sample name the service's own metrics produce: each module of the `service` package is imported,
    so a metric is found wherever it is defined, then prometheus_client's registry is read."""
    from prometheus_client import REGISTRY

    for module in pkgutil.walk_packages(service.__path__, "service."):
        # The gRPC modules define no metric (they record through telemetry/metrics.py), and their protobuf messages
        # cannot share a process with tritonclient.grpc's copy, which other tests in this process import.
        if not module.name.endswith("__main__") and "grpc" not in module.name and ".messages" not in module.name:
            importlib.import_module(module.name)
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("sigmoid_serve_"):
            names |= {family.name + suffix for suffix in _SAMPLE_SUFFIXES[family.type]}
    return names


def selected_metrics(expression: str) -> set[str]:
    """Metric names an expression selects (identifiers that are neither functions, keywords nor labels)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)  # strings first: they may hold braces
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "[]", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w:.])[A-Za-z_:][\w:]*", text):
        rest = text[match.end() :].lstrip()
        if match.group() not in _KEYWORDS and not rest.startswith("("):
            names.add(match.group())
    return names


def promtool_parse_errors(expressions: dict[str, str]) -> str:
    """promtool's complaints about these expressions ('' when every one parses), checked as recording rules."""
    rules = {"groups": [{"name": "parse", "rules": [{"record": name, "expr": e} for name, e in expressions.items()]}]}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "expressions.yml"
        path.write_text(yaml.safe_dump(rules))
        done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    return "" if done.returncode == 0 else done.stdout + done.stderr
