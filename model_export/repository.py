"""The model repository as the exporter sees it: the version a server would serve, the next free version, and
what a file about to be replaced is.

"Would serve" is the server's own rule, with the contract's code: the newest version whose model.onnx ONNX Runtime
opens, that the contract accepts (`service.contract.model_file`) and that passes the contract's warm-up check; older
ones only when newer ones fail. The folder is read with the contract's scan (`service.contract.repository`), so both
agree on what a version folder is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from model_export.errors import ExportError
from model_export.metadata import ModelMetadata, read_metadata
from service.contract.errors import InvalidModelFile
from service.contract.metadata import CALIBRATION, OUTPUT_PROBABILITIES
from service.contract.model_file import check_warm_up, example_feeds, read_session
from service.contract.repository import MODEL_FILE, model_name_problem, parse_version_name, scan_repository


@dataclass(frozen=True)
class ServedVersion:
    version: int
    path: Path
    metadata: ModelMetadata

    @property
    def calibration(self) -> dict | None:
        """The `calibration` metadata entry `calibrate` wrote (method and scores per label), if any."""
        try:
            entry = json.loads(self.metadata.props.get(CALIBRATION, "null"))
        except ValueError:
            return None
        return entry if isinstance(entry, dict) else None


def check_model_name(name: str) -> str:
    problem = model_name_problem(name)
    if problem:
        raise ExportError(f"model name '{name}' cannot be served: {problem} (it becomes a folder name and a URL path)")
    return name


def served_version(repository: Path, name: str) -> ServedVersion | None:
    """The version of `name` a server watching `repository` would serve now, or None."""
    folder = scan_repository(repository, only=name).models.get(name)
    if folder is None:
        return None
    for version in reversed(folder.versions):
        if version in folder.unreadable:
            continue
        path = repository / name / str(version) / MODEL_FILE
        try:
            check_served(path)
            metadata = read_metadata(path)
        except ExportError:
            continue
        return ServedVersion(version, path, metadata)
    return None


def check_served(path: Path) -> None:
    """ExportError unless the server would serve this file: ONNX Runtime opens it, the contract accepts it, and the
    contract's warm-up check passes on one row."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises several unrelated types for a bad file
        raise ExportError(f"ONNX Runtime cannot load {path}: {exc}") from None
    try:
        contents = read_session(session)
        probabilities = session.run([OUTPUT_PROBABILITIES], example_feeds(contents, 1))[0]
        check_warm_up(probabilities, 1, len(contents.labels))
    except InvalidModelFile as exc:
        raise ExportError(f"{path}: {exc}") from None
    except Exception as exc:  # ONNX Runtime failing the warm-up run: the server rejects such a file too
        raise ExportError(f"{path}: warm-up inference failed: {exc}") from None


def next_free_version(model_folder: Path) -> int:
    """One above every version-numbered entry in the folder, with or without a model.onnx yet."""
    if not model_folder.is_dir():
        return 1
    taken = [parse_version_name(entry.name) for entry in model_folder.iterdir()]
    return max((v for v in taken if v is not None), default=0) + 1


def overwrite_refusal(path: Path) -> ExportError:
    """Why an existing file is not replaced without --force: what it is, whether it is served, what to do instead."""
    try:
        metadata = read_metadata(path)
    except ExportError:
        return ExportError(f"{path} exists and is not a model exported by model_export; pass --force to replace it")
    calibrated = " (calibrated thresholds)" if CALIBRATION in metadata.props else ""
    what = f"{path} exists: a model with labels {', '.join(metadata.labels)}{calibrated}"
    version = parse_version_name(path.parent.name)
    if version is None or path.name != MODEL_FILE:
        return ExportError(f"{what}. Nothing was written: pass --force to replace it")
    model_folder = path.parent.parent
    served = served_version(model_folder.parent, model_folder.name)
    what += f", version {version} of '{model_folder.name}'"
    if served is not None and served.version == version:
        what += f", which a server watching {model_folder.parent} serves now"
    return ExportError(
        f"{what}. Nothing was written: publish the new model as the next version with python -m model_export "
        f"publish SOURCE --repository {model_folder.parent} --name {model_folder.name} --labels ..., "
        "or pass --force to replace this file"
    )
