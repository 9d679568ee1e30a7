"""Where a model may be written: checked before any work starts, and write failures said in one line.

An export takes seconds to minutes (TensorFlow, tf2onnx, the parity check), so a path that cannot be written is
refused before it starts, naming what is wrong: `--output x/` (a folder, where a file is expected), `x/1/model.onnx`
when `x` is a file, a folder this user may not write (the exporter image's uid 10001 on a folder of yours).
The same words come back if the write fails anyway (a folder removed or made read-only meanwhile).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from model_export.errors import ExportError

# Docker and Podman leave these files in every container: the one place where "run it with --user" is the fix.
_CONTAINER_MARKERS = (Path("/.dockerenv"), Path("/run/.containerenv"))
_CONTAINER_HINT = (
    'run the container as the folder\'s owner: docker run --user "$(id -u):$(id -g)" ... '
    "(the image's own user is uid 10001)"
)


def check_output_file(output: str | Path, option: str = "--output") -> Path:
    """The file `output` names, refused in one line when it cannot be written as a file."""
    text = os.fspath(output)
    if not text:
        raise ExportError(f"{option} is empty: give the ONNX file to write, e.g. models/NAME/1/model.onnx")
    path = Path(text)
    if text.endswith(("/", os.sep)) or path.is_dir():
        raise ExportError(
            f"{option} {text} is a folder: give the file to write, e.g. {path / 'model.onnx'} "
            f"(or models/NAME/1/model.onnx for a model repository)"
        )
    if path.exists() and not path.is_file():
        raise ExportError(f"{option} {text} exists and is not a regular file")
    check_writable_folder(path.parent, f"cannot write {text}")
    return path


def check_writable_folder(folder: Path, what: str) -> None:
    """`folder` exists and is writable, or can be created: its nearest existing ancestor is a writable folder."""
    existing = folder
    while not _exists(existing):
        existing = existing.parent
    if not existing.is_dir():
        raise ExportError(f"{what}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ExportError(f"{what}: {_permission_problem(existing)}")


def write_error(path: Path, exc: OSError) -> ExportError:
    """An OSError met while writing `path`, as one line saying what to do."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        folder = Path(exc.filename) if exc.filename else path.parent
        return ExportError(f"cannot write {path}: {_permission_problem(folder if folder.is_dir() else folder.parent)}")
    if exc.errno == errno.ENOTDIR:
        blocking = next((p for p in path.parents if p.is_file()), None)
        if blocking is not None:
            return ExportError(f"cannot write {path}: {blocking} is a file, not a folder")
    if exc.errno == errno.EROFS:
        return ExportError(f"cannot write {path}: the file system is read-only (mount the folder writable)")
    if exc.errno == errno.ENOSPC:
        return ExportError(f"cannot write {path}: no space left on the device")
    return ExportError(f"cannot write {path}: {exc.strerror or exc}")


def _permission_problem(folder: Path) -> str:
    owner = _owner(folder)
    who = f"this user (uid {os.geteuid()})"
    problem = f"{who} may not write in {folder}" + (f", which belongs to uid {owner}" if owner is not None else "")
    if any(marker.exists() for marker in _CONTAINER_MARKERS):
        return f"{problem}; {_CONTAINER_HINT}"
    return f"{problem}; choose a folder you may write, or make this one writable for uid {os.geteuid()}"


def _owner(folder: Path) -> int | None:
    try:
        return folder.stat().st_uid
    except OSError:
        return None


def _exists(path: Path) -> bool:
    try:
        path.lstat()
    except FileNotFoundError:
        return False
    except NotADirectoryError:  # an ancestor is a file: keep walking up to it
        return False
    except OSError:
        return True  # exists but cannot be inspected; the access check below says why
    return True
