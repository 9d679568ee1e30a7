"""Reading the repository folder: which NAME/VERSION/model.onnx files exist, what else is there, and why.

The layout is Triton's: MODEL_REPOSITORY/NAME/VERSION/model.onnx, VERSION a positive integer. Everything else is
reported, not silently skipped, so a misplaced file explains itself before anyone meets a 404: a model file
directly in the model folder, a version folder named `v4`, `5/mymodel.onnx`, a folder the server may not read.
A model folder may also hold `examples.json` (example requests). Entries whose names start with a dot are skipped
quietly: writers' temporary files (the exporter writes `.model.onnx.XXXX.tmp` and renames it) and the `..data`
links of Kubernetes volumes.

Only a `model.onnx` that exists counts: a VERSION folder seen before its model.onnx is complete is reported as
waiting for it until the next poll finds the file.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # also what a URL may name: no path can escape
MODEL_FILE = "model.onnx"
EXAMPLES_FILE = "examples.json"  # NAME/examples.json: example requests shipped beside the versions (the demos have one)
MAX_VERSION = 2**63 - 1  # versions travel as int64 (v2 gRPC, JSON readers in other languages)
Fingerprint = tuple[int, int]  # (mtime in ns, size in bytes)
LAYOUT = "NAME/VERSION/model.onnx, VERSION a positive integer"


def model_name_problem(name: str) -> str | None:
    """Why `name` cannot name a model (it becomes a folder name and a URL path), or None when it can."""
    if MODEL_NAME.match(name) and name not in {".", ".."}:
        return None
    return "use letters, digits, '_', '-' and '.', starting with a letter or digit"


def is_decimal(text: str) -> bool:
    """Plain ASCII digits only: str.isdigit() also accepts characters such as '²' that int() refuses."""
    return text.isascii() and text.isdigit()


def parse_version_name(text: str) -> int | None:
    """The version a folder name stands for, or None: ASCII digits, no leading zero, 1 .. 2**63-1."""
    if not is_decimal(text) or text.startswith("0") or len(text) > len(str(MAX_VERSION)):
        return None
    version = int(text)
    return version if version <= MAX_VERSION else None


def model_path(root: Path, name: str, version: int) -> Path:
    return root / name / str(version) / MODEL_FILE


def fingerprint(path: Path) -> Fingerprint | None:
    """(mtime, size) of a regular file, None when it is missing or cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size) if path.is_file() else None


@dataclass
class ModelFolder:
    """One NAME folder: its versions, the ones that cannot be read, and whatever else it holds."""

    name: str
    versions: list[int] = field(default_factory=list)  # ascending, with a model.onnx (readable or not)
    unreadable: dict[int, str] = field(default_factory=dict)  # version -> why its model.onnx cannot be read
    ignored: list[str] = field(default_factory=list)  # "what: why, and what was expected"
    error: str | None = None  # the folder itself cannot be listed


@dataclass
class RepositoryScan:
    models: dict[str, ModelFolder] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # entries at the top that are not model folders
    error: str | None = None  # the repository itself cannot be listed


def scan_repository(root: Path, only: str | None = None) -> RepositoryScan:
    """What the repository holds (restricted to one model name with `only`). Never raises for what it finds."""
    scan = RepositoryScan()
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name) if only is None else None
    except OSError as exc:
        scan.error = f"cannot list the repository {root}: {describe_os_error(exc)}"
        return scan
    if entries is None:
        folder = root / only
        if folder.is_dir():
            scan.models[only] = _scan_model(folder)
        return scan
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if not _is_dir(entry):
            scan.ignored.append(f"{entry.name}: a file at the top of the repository (expected {LAYOUT})")
        elif not MODEL_NAME.match(entry.name):
            scan.ignored.append(
                f"{entry.name}/: not a model name (letters, digits, '_', '-' and '.', starting with a letter or digit)"
            )
        else:
            scan.models[entry.name] = _scan_model(Path(entry.path))
    return scan


def _scan_model(folder: Path) -> ModelFolder:
    model = ModelFolder(folder.name)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        model.error = f"cannot list {folder.name}/: {describe_os_error(exc)}"
        return model
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if not _is_dir(entry):
            if entry.name == EXAMPLES_FILE:
                continue
            if entry.name.endswith(".onnx"):
                model.ignored.append(
                    f"{entry.name}: a model file directly in {folder.name}/ (expected {folder.name}/1/{MODEL_FILE})"
                )
            else:
                model.ignored.append(f"{entry.name}: not a version folder (expected {folder.name}/VERSION/)")
            continue
        version = parse_version_name(entry.name)
        if version is None:
            model.ignored.append(
                f"{entry.name}/: not a version number (version folders are named 1, 2, 3, ... up to {MAX_VERSION}, "
                "without leading zeros)"
            )
            continue
        _scan_version(model, version, Path(entry.path))
    model.versions.sort()
    return model


def _scan_version(model: ModelFolder, version: int, folder: Path) -> None:
    where = f"{model.name}/{folder.name}/"
    try:
        names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    except OSError as exc:
        model.versions.append(version)
        model.unreadable[version] = f"cannot read {where}: {describe_os_error(exc)}"
        return
    if MODEL_FILE not in names:
        others = [n for n in names if n.endswith(".onnx")]
        hint = f" (found {', '.join(others)}: name it {MODEL_FILE})" if others else " (yet)"
        model.ignored.append(f"{folder.name}/: no {MODEL_FILE} in it{hint}")
        return
    model.versions.append(version)
    path = folder / MODEL_FILE
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        model.unreadable[version] = f"cannot read {where}{MODEL_FILE}: {describe_os_error(exc)}"
    for name in names:
        if name != MODEL_FILE:
            model.ignored.append(f"{folder.name}/{name}: not used (a version folder holds {MODEL_FILE})")


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def describe_os_error(exc: OSError) -> str:
    """An OSError in words, with the fix for the one people meet most (files written under a strict umask)."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied for the server's user (uid {os.getuid()}); make it readable, "
            "e.g. chmod -R a+rX on the model's folder"
        )
    return exc.strerror or str(exc)
