"""File-level helpers: source fingerprints, atomic writes, and where a derived model is written."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from model_export.errors import ExportError
from model_export.output_paths import check_output_file, check_writable_folder, write_error

_CHUNK = 1 << 20
_PUBLISHED_MODE = 0o644


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
