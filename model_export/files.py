"""The exporter's files on disk: fingerprints of what it reads; where a model may be written, and writing it.

An export takes seconds to minutes (TensorFlow, tf2onnx, the parity check), so a path that cannot be written is
refused before it starts, naming what is wrong: `--output x/` (a folder, where a file is expected), `x/1/model.onnx`
when `x` is a file, a folder this user may not write (the exporter image's uid 10001 on a folder of yours).
The same words come back if the write fails anyway (a folder removed or made read-only meanwhile). Writes are
atomic: a file via a temp file and os.replace, a new version folder via a dot-named staging folder and a rename.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from model_export.errors import ExportError

_CHUNK = 1 << 20
_PUBLISHED_MODE = 0o644
# Docker and Podman leave these files in every container: the one place where "run it with --user" is the fix.
_CONTAINER_MARKERS = (Path("/.dockerenv"), Path("/run/.containerenv"))
_CONTAINER_HINT = (
    'run the container as the folder\'s owner: docker run --user "$(id -u):$(id -g)" ... '
    "(the image's own user is uid 10001)"
)


def sha256_of_source(path: Path) -> str:
    """sha256 of a file, or of a directory's files (relative path + content, sorted by path)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            # Including the relative path makes renames change the fingerprint too.
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            _update_from_file(digest, file)
    else:
        _update_from_file(digest, path)
    return digest.hexdigest()


def _update_from_file(digest: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


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


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory + os.replace: readers see old or new, never half."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        # mkstemp creates 0600; a server running as another user must be able to read the model.
        os.chmod(tmp_name, _PUBLISHED_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise write_error(path, exc) from None
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def choose_output(model: Path, output: str | Path | None, output_version: bool, verb: str) -> Path:
    """The new model's path: `output`, or models/NAME/<highest+1>/model.onnx beside `model`; never `model` itself."""
    if (output is None) == (not output_version):
        raise ExportError("give exactly one of --output NEW.onnx or --output-version")
    if output is not None:
        if Path(output).resolve() == model.resolve() or (Path(output).exists() and Path(output).samefile(model)):
            raise ExportError(f"--output {output} is the input model; {verb} never edits a model in place")
        return check_output_file(output)
    version_dir = model.parent if model.parent.name else model.resolve().parent
    if not version_dir.resolve().name.isdigit():
        raise ExportError(
            f"--output-version needs the model at models/NAME/VERSION/model.onnx; {model} is not in a version folder"
        )
    versions = [int(p.name) for p in version_dir.parent.iterdir() if p.is_dir() and p.name.isdigit()]
    check_writable_folder(version_dir.parent, f"cannot add a version folder to {version_dir.parent}")
    return version_dir.parent / str(max(versions) + 1) / model.name


def publish_model(output: Path, data: bytes, new_version: bool) -> None:
    """Write a model file atomically; a new version folder appears complete or not at all."""
    if not new_version:
        write_atomically(output, data)
        return
    # Build the version folder under a dot-name (registries only read digit folders), then rename it
    # into place in one step.
    staging = make_staging_folder(output.parent.parent, output.parent.name)
    try:
        write_atomically(staging / output.name, data)
        move_into_place(staging, output.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def make_staging_folder(parent: Path, name: str) -> Path:
    """A dot-named folder in `parent`: a server scanning the repository skips it until it is renamed."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}."))
    except OSError as exc:
        raise write_error(parent / name, exc) from None


def move_into_place(staging: Path, version_folder: Path) -> None:
    """Rename a complete staging folder to its version folder, never onto one that exists."""
    # rename(2) would silently replace an existing empty folder: look first (another writer is the only race).
    if version_folder.exists():
        raise ExportError(f"{version_folder} appeared while this version was written (another writer?); run again")
    try:
        os.chmod(staging, 0o755)
        os.rename(staging, version_folder)
    except OSError as exc:
        raise write_error(version_folder, exc) from None
