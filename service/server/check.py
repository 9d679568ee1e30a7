"""`python -m service check [REPOSITORY]`: what the server would say of a model repository, before deploying it.

The same code as the server's (the registry loads and warms up every model, the data plane judges readiness),
without a server: each model's state, the version it would serve and why not, every misplaced or unreadable
entry with what was expected, and readiness. Exit status 0 when the server would be ready, 2 when not.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ..core.dataplane import DataPlane
from ..core.model_state import RepositoryConfig
from ..core.registry import ModelRegistry

EXIT_NOT_READY = 2


async def check(root: Path) -> tuple[list[str], bool]:
    registry = ModelRegistry(RepositoryConfig(root))
    await registry.load_all()
    plane = DataPlane(registry)
    lines = []
    for model in sorted(plane.describe_all(), key=lambda m: m.name):
        served = f"would serve version {model.version}" if model.ready else "would serve nothing"
        on_disk = ", ".join(map(str, model.versions)) or "none"
        lines.append(f"{model.name}: {served} (versions on disk: {on_disk})")
        if model.reason:
            lines.append(f"  {model.reason}")
        lines += [f"  ignored: {entry}" for entry in model.ignored]
    lines += [f"ignored: {entry}" for entry in registry.ignored]
    readiness = plane.ready()
    if readiness.ready:
        lines.append(
            "the server would be ready" + (" (what is listed above does not stop it)" if len(lines) > 1 else "")
        )
    else:
        lines.append(f"the server would not be ready: {'; '.join(readiness.reasons)}")
    await registry.close()
    return lines, readiness.ready


def main(arguments: list[str], default_root: Path) -> int:
    if len(arguments) > 1 or (arguments and arguments[0].startswith("-")):
        print("usage: python -m service check [REPOSITORY]  (default: MODEL_REPOSITORY)", file=sys.stderr)
        return EXIT_NOT_READY
    root = Path(arguments[0]) if arguments else default_root
    lines, ready = asyncio.run(check(root))
    print("\n".join(lines))
    return 0 if ready else EXIT_NOT_READY
