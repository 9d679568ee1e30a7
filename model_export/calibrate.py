"""calibrate_model(): per-label thresholds from validation data, written into a new model file or version.

Runs the exported ONNX model with ONNX Runtime; no TensorFlow is imported. Never edits a model in
place: the output is a new file, or the next version folder beside the source's (created atomically,
so a serving registry never sees it half-written).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx

from model_export.calibration import LabelCalibration, Target, calibrate_label
from model_export.errors import ExportError
from model_export.files import sha256_of_source, write_atomically
from model_export.metadata import read_metadata
from model_export.progress import progress_bar

TARGET_KEY = "y"
_CHUNK_ROWS = 512
_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
}


@dataclass
class CalibrationResult:
    source: Path
    output: Path
    data_file: Path
    rows: int
    labels: list[LabelCalibration]
    calibration: dict = field(default_factory=dict)  # what went into the `calibration` metadata entry
    skipped_rows: int = 0  # texts with no token: the service answers them 400, so they have no probability

    @property
    def thresholds(self) -> list[float]:
        return [choice.threshold for choice in self.labels]

    def format(self) -> str:
        header = f"{'label':<16}{'threshold':>18}{'precision':>18}{'recall':>18}{'f1':>18}  method"
        lines = [f"calibrated {self.source} on {self.data_file.name} ({self.rows} rows)", header]
        for c in self.labels:
            lines.append(
                f"{c.label:<16}{_pair(c.threshold_before, c.threshold, 'g'):>18}"
                f"{_pair(c.before.precision, c.after.precision):>18}{_pair(c.before.recall, c.after.recall):>18}"
                f"{_pair(c.before.f1, c.after.f1):>18}  {c.method}"
            )
        lines += [f"note: {c.note}" for c in self.labels if c.note]
        if self.skipped_rows:
            lines.append(f"note: left out {self.skipped_rows} rows with no token after standardization (answered 400)")
        lines.append(f"wrote      {self.output}")
        return "\n".join(lines)


def _pair(before: float, after: float, fmt: str = ".3f") -> str:
    return f"{before:{fmt}} -> {after:{fmt}}"


def calibrate_model(
    model: str | Path,
    data: str | Path,
    output: str | Path | None = None,
    *,
    output_version: bool = False,
    target_precision: float | Mapping[str, float] | None = None,
    target_recall: float | Mapping[str, float] | None = None,
    report: str | Path | None = None,
    show_progress: bool = False,
) -> CalibrationResult:
    """Choose per-label thresholds on `data`: .npz (one array per model input, plus `y` multi-hot), or JSONL / CSV
    rows with raw text for text inputs (see text_data.py)."""
    model, data = Path(model), Path(data)
    if not model.is_file():
        raise ExportError(f"model {model} does not exist")
    output_path = _output_path(model, output, output_version)
    metadata = read_metadata(model)
    targets = resolve_targets(metadata.labels, target_precision, target_recall)
    session = _session(model)
    steps = _text_steps(session, model)
    skipped = 0
    if steps or data.suffix.lower() != ".npz":
        probabilities, truth, skipped = _predict_rows(session, steps, data, metadata.labels)
    else:
        inputs, truth = load_calibration_data(data, session, len(metadata.labels))
        probabilities = _predict(session, inputs, show_progress)

    choices = []
    with progress_bar("choosing thresholds", len(metadata.labels), show_progress) as advance:
        for j, label in enumerate(metadata.labels):
            current = float(np.float32(metadata.thresholds[j]))
            choices.append(calibrate_label(label, probabilities[:, j], truth[:, j], current, targets.get(label)))
            advance()
    result = CalibrationResult(model, output_path, data, int(truth.shape[0]), choices, skipped_rows=skipped)
    result.calibration = _calibration_entry(model, data, result)
    _write(model, output_path, result, output_version)
    if report is not None:
        from model_export.report_html import write_report

        write_report(result, Path(report))
    return result


def resolve_targets(
    labels: list[str],
    target_precision: float | Mapping[str, float] | None,
    target_recall: float | Mapping[str, float] | None,
) -> dict[str, Target]:
    """label → Target; a bare number applies to every label. A label may have one target only."""
    targets: dict[str, Target] = {}
    for metric, spec in (("precision", target_precision), ("recall", target_recall)):
        if spec is None:
            continue
        per_label = dict.fromkeys(labels, spec) if isinstance(spec, int | float) else dict(spec)
        unknown = sorted(set(per_label) - set(labels))
        if unknown:
            raise ExportError(f"--target-{metric} names unknown label(s) {unknown}; labels are {labels}")
        for label, value in per_label.items():
            if not 0.0 < float(value) <= 1.0:
                raise ExportError(f"--target-{metric} for {label!r} must be in (0, 1], got {value}")
            if label in targets:
                raise ExportError(f"label {label!r} has both a precision and a recall target; give it one")
            targets[label] = Target(metric, float(value))
    return targets


def load_calibration_data(path: Path, session, n_labels: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    try:
        with np.load(path) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read calibration data {path}: {exc}") from exc
    names = [i.name for i in session.get_inputs()]
    missing = [name for name in [*names, TARGET_KEY] if name not in arrays]
    if missing:
        raise ExportError(
            f"{path.name} lacks array(s) {missing}; it needs one per model input {names} plus '{TARGET_KEY}' "
            f"(multi-hot [rows, {n_labels}]); it has {sorted(arrays)}"
        )
    truth = np.asarray(arrays[TARGET_KEY])
    if truth.ndim != 2 or truth.shape[1] != n_labels or not np.isin(truth, (0, 1)).all():
        raise ExportError(
            f"'{TARGET_KEY}' must be multi-hot 0/1 of shape [rows, {n_labels}], got shape {list(truth.shape)}"
        )
    inputs = {}
    for node in session.get_inputs():
        dtype = _ORT_DTYPES.get(node.type)
        if dtype is None:
            raise ExportError(f"model input {node.name!r} has type {node.type}, which calibrate cannot feed")
        inputs[node.name] = np.asarray(arrays[node.name]).astype(dtype)
    rows = {name: array.shape[0] for name, array in inputs.items()} | {TARGET_KEY: truth.shape[0]}
    if len(set(rows.values())) != 1 or truth.shape[0] == 0:
        raise ExportError(f"arrays in {path.name} must share one non-empty row count, got {rows}")
    return inputs, truth.astype(bool)


def _text_steps(session, model: Path) -> list:
    from service.core.text_step import text_steps_from_metadata

    try:
        return text_steps_from_metadata(session.get_modelmeta().custom_metadata_map)
    except ValueError as exc:
        raise ExportError(f"{model}: {exc}") from None


def _predict_rows(session, steps: list, data: Path, labels: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Probabilities and truth from JSONL / CSV / .npz rows, raw texts through the model's text steps."""
    from model_export.raw_predict import predict_raw
    from model_export.text_data import read_rows

    fed = {step.feeds for step in steps}
    columns = [(name, True, "") for name in dict.fromkeys(step.name for step in steps)]
    for node in session.get_inputs():
        if node.name not in fed:
            if node.type not in _ORT_DTYPES:
                raise ExportError(f"model input {node.name!r} has type {node.type}, which calibrate cannot feed")
            columns.append((node.name, False, np.dtype(_ORT_DTYPES[node.type]).name))
    rows, truth = read_rows(data, columns, labels)
    prediction = predict_raw(session, steps, rows, max_batch=_CHUNK_ROWS)
    if not prediction.scored:
        raise ExportError(f"no row of {data.name} has a token after standardization")
    return prediction.probabilities, truth[prediction.scored], len(truth) - len(prediction.scored)


def _session(model: Path):
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises several unrelated types for a bad file
        raise ExportError(f"ONNX Runtime cannot load {model}: {exc}") from exc


def _predict(session, inputs: dict[str, np.ndarray], show_progress: bool) -> np.ndarray:
    rows = next(iter(inputs.values())).shape[0]
    parts = []
    with progress_bar("running the model", rows, show_progress) as advance:
        for start in range(0, rows, _CHUNK_ROWS):
            chunk = {name: array[start : start + _CHUNK_ROWS] for name, array in inputs.items()}
            parts.append(session.run(["probabilities"], chunk)[0])
            advance(len(parts[-1]))
    return np.concatenate(parts).astype(np.float32, copy=False)


def _output_path(model: Path, output: str | Path | None, output_version: bool) -> Path:
    if (output is None) == (not output_version):
        raise ExportError("give exactly one of --output NEW.onnx or --output-version")
    if output is not None:
        output = Path(output)
        if output.resolve() == model.resolve() or (output.exists() and output.samefile(model)):
            raise ExportError(f"--output {output} is the input model; calibrate never edits a model in place")
        if output.is_dir():
            raise ExportError(f"--output {output} is a directory; give the .onnx file path")
        return output
    version_dir = model.parent if model.parent.name else model.resolve().parent
    if not version_dir.resolve().name.isdigit():
        raise ExportError(
            f"--output-version needs the model at models/NAME/VERSION/model.onnx; {model} is not in a version folder"
        )
    versions = [int(p.name) for p in version_dir.parent.iterdir() if p.is_dir() and p.name.isdigit()]
    return version_dir.parent / str(max(versions) + 1) / model.name


def _calibration_entry(model: Path, data: Path, result: CalibrationResult) -> dict:
    methods = sorted({c.method for c in result.labels if c.method != "kept"})
    return {
        "method": methods[0] if len(methods) == 1 else ("mixed" if methods else "kept"),
        "data_file": data.name,
        "data_sha256": sha256_of_source(data),
        "rows": result.rows,
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "source_model": model.name,
        "source_model_sha256": sha256_of_source(model),
        "rule": "p >= threshold (float32)",
        "labels": {
            c.label: {"method": c.method, "threshold": c.threshold, **c.after.as_dict()}
            | ({"note": c.note} if c.note else {})
            for c in result.labels
        },
    }


def _write(model: Path, output: Path, result: CalibrationResult, output_version: bool) -> None:
    proto = onnx.load(str(model))
    props = {p.key: p.value for p in proto.metadata_props}
    props["thresholds"] = json.dumps(result.thresholds)
    props["calibration"] = json.dumps(result.calibration)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    data = proto.SerializeToString()
    if not output_version:
        write_atomically(output, data)
        return
    # Build the version folder under a dot-name (registries only read digit folders), then rename it
    # into place in one step: the new version appears complete or not at all.
    staging = Path(tempfile.mkdtemp(dir=output.parent.parent, prefix=f".{output.parent.name}."))
    try:
        write_atomically(staging / output.name, data)
        os.chmod(staging, 0o755)
        os.rename(staging, output.parent)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f"cannot create version folder {output.parent}: {exc}") from exc
