"""Reading the repository folder: which NAME/VERSION/model.onnx files exist, and a cheap change fingerprint.

Only a `model.onnx` that exists counts: writers (the exporter, the tests) write a temporary file and rename
it, so a VERSION folder seen before its model.onnx is complete is simply skipped until the next poll.
"""

from __future__ import annotations

import re
from pathlib import Path

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # also what a URL may name: no path can escape
Fingerprint = tuple[int, int]  # (mtime in ns, size in bytes)


def is_decimal(text: str) -> bool:
    """Plain ASCII digits only: str.isdigit() also accepts characters such as '²' that int() refuses."""
    return text.isascii() and text.isdigit()


def model_path(root: Path, name: str, version: int) -> Path:
    return root / name / str(version) / "model.onnx"


def fingerprint(path: Path) -> Fingerprint | None:
    """(mtime, size) of a regular file, None when it is missing."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size) if path.is_file() else None


def scan_repository(root: Path, only: str | None = None) -> dict[str, list[int]]:
    """Model name -> versions (ascending) that have a model.onnx. `only` restricts the scan to one name."""
    found: dict[str, list[int]] = {}
    if not root.is_dir():
        return found
    model_dirs = [root / only] if only is not None else sorted(root.iterdir())
    for model_dir in model_dirs:
        if not model_dir.is_dir() or not MODEL_NAME.match(model_dir.name):
            continue
        versions = sorted(
            int(v.name) for v in model_dir.iterdir() if is_decimal(v.name) and (v / "model.onnx").is_file()
        )
        if versions:
            found[model_dir.name] = versions
    return found
