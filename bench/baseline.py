"""Another commit of this service, checked out beside the bench, so one run compares them on the same machine.

`make bench BASELINE=REF` (or `python -m bench.run --baseline REF`) serves REF from a git worktree in
bench/work/baseline/ with the same settings, measures its REST rows (JSON and v2 binary) beside the current code's,
and reports each row's ratio: a change to the request path shows its cost before and after in one run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .processes import ROOT

WORKTREES = ROOT / "bench" / "work" / "baseline"
REST_PROTOCOLS = ("json", "v2-binary")
WITHIN = 0.05  # the REST rows of a change should stay within 5% of the baseline's


def checkout(ref: str) -> tuple[str, Path]:
    """(short commit id, folder) of REF, checked out (detached) once and reused by later runs."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True, text=True
    )
    if commit.returncode:
        raise SystemExit(f"--baseline {ref}: not a commit of this repository ({commit.stderr.strip()})")
    short = commit.stdout.strip()
    folder = WORKTREES / short
    if not (folder / "service").is_dir():
        WORKTREES.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(folder), short], cwd=ROOT, check=True)
    return short, folder


def comparison(run: dict) -> list[str]:
    """Each REST row of the current service against the baseline's, and whether all stay within WITHIN."""
    baseline = run.get("baseline")
    if not baseline:
        return []
    lines, ratios = [f"REST rows against {baseline} (same run; current / baseline req/s):", ""], []
    for kind, data in run["models"].items():
        cells = {(c["server"], c["protocol"], c["c"]): c for c in data["cells"]}
        # The baseline runs with the service's settings: the default row, or in a --quick run the 1-worker one
        # (make bench-quick gives both WORKERS=1).
        current = "service" if any(server == "service" for server, _, _ in cells) else "service-1w"
        for (server, protocol, c), ours in cells.items():
            theirs = cells.get(("baseline", protocol, c))
            if server != current or protocol not in REST_PROTOCOLS or not theirs or not theirs["rps"]:
                continue
            ratio = ours["rps"] / theirs["rps"]
            ratios.append(ratio)
            lines.append(
                f"- {kind} {protocol} c={c}: {ours['rps']:,.0f} / {theirs['rps']:,.0f} = {ratio:.2f}x "
                f"(CPU {ours['cpu_us_per_request']:,.0f} vs {theirs['cpu_us_per_request']:,.0f} µs/request)"
            )
    if ratios:
        verdict = "met" if min(ratios) >= 1 - WITHIN else "NOT met"
        lines += [
            "",
            f"- {verdict}: every REST row within {WITHIN:.0%} of {baseline} or faster (lowest {min(ratios):.2f}x)",
        ]
    return ["", *lines]
