"""The scale test's results as Markdown: the machine and date, one table row per case and protocol, then what each
case measured and whether it met its criteria."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from .fleet import CaseResult


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{platform.node()}: {os.cpu_count()} CPUs ({model}), Linux {platform.release()}, load average {load}"


def render(cases: list[CaseResult], placement: str, settings: str, load: str, elapsed: float, started_load: str) -> str:
    lines = [
        "# `make scale-test`: 3 replicas behind haproxy",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()} (load average at the start: {started_load})",
        f"- Replicas: {placement}",
        f"- Settings: {settings}",
        f"- Load, at once through haproxy: {load}",
        f"- Whole run: {elapsed:.0f} s",
        "",
        "| Case | Protocol | Sent | Failed | Retried | p99 (ms) | Notes |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for case in cases:
        for row in case.rows:
            lines.append(
                f"| {row.case} | {row.protocol} | {row.sent} | {row.failed} | {row.retried} | {row.p99_ms:.1f} | "
                f"{row.detail.replace('|', '/')} |"
            )
    lines.append("")
    for case in cases:
        verdict = "passed" if case.passed else "FAILED"
        if not case.gated:
            verdict = "reported" if case.passed else "reported, with findings"
        lines.append(f"**{case.name}** ({verdict})")
        lines.append("")
        lines += [f"- {fact}" for fact in case.facts]
        lines += [f"- problem: {problem}" for problem in case.problems]
        lines.append("")
    return "\n".join(lines)
