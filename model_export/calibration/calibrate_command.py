"""calibrate_model(), what the `calibrate` command runs: thresholds chosen on validation data, written into a new
model file or version.

Runs the exported ONNX model with ONNX Runtime; no TensorFlow is imported. Never edits a model in
place: the output is a new file, or the next version folder beside the source's (created atomically,
so a serving registry never sees it half-written).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx

from model_export.calibration.html_report import LabelPanel, ReportPage, write_report
from model_export.calibration.reference_rates import reference_rates_entry
from model_export.calibration.table import format_table
from model_export.calibration.threshold_choice import LabelCalibration, Target, calibrate_label, stored_value
from model_export.data.label_warnings import CALIBRATE_REMEDY, label_warnings
from model_export.data.model_rows import score_rows
from model_export.errors import ExportError
from model_export.files import choose_output, publish_model, sha256_of_source
from model_export.metadata import read_metadata
from model_export.progress import progress_bar
from service.contract.metadata import CALIBRATION, THRESHOLDS
from service.contract.metadata import REFERENCE_RATES as REFERENCE_RATES_KEY


@dataclass
class CalibrationResult:
    source: Path
    output: Path
    data_file: Path
    rows: int
    labels: list[LabelCalibration]
    calibration: dict = field(default_factory=dict)  # what went into the `calibration` metadata entry
    reference_rates: str = ""  # the `reference_rates` metadata entry: positive rates at the new thresholds
    skipped_rows: int = 0  # texts with no token: the service answers them 400, so they have no probability
    warnings: list[str] = field(default_factory=list)  # labels to look at: a lookup's "[UNK]", no positive row

    @property
    def thresholds(self) -> list[float]:
        return [choice.threshold for choice in self.labels]

    def format(self) -> str:
        lines = [f"calibrated {self.source} on {self.data_file.name} ({self.rows} rows)", *format_table(self.labels)]
        lines += [f"note: {c.note}" for c in self.labels if c.note]
        if self.skipped_rows:
            lines.append(f"note: left out {self.skipped_rows} rows with no token after standardization (answered 400)")
        lines += [f"warning: {warning}" for warning in self.warnings]
        lines.append(f"wrote      {self.output}")
        return "\n".join(lines)


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
    rows, with raw text for text inputs (see data/reader.py)."""
    model, data = Path(model), Path(data)
    if not model.is_file():
        raise ExportError(f"model {model} does not exist")
    output_path = choose_output(model, output, output_version, "calibrate")
    metadata = read_metadata(model)
    targets = resolve_targets(metadata.labels, target_precision, target_recall)
    probabilities, truth, skipped = score_rows(model, data, metadata.labels, show_progress)

    choices = []
    with progress_bar("choosing thresholds", len(metadata.labels), show_progress) as advance:
        for j, label in enumerate(metadata.labels):
            current = stored_value(np.float32(metadata.thresholds[j]))  # kept thresholds read back unchanged
            choices.append(calibrate_label(label, probabilities[:, j], truth[:, j], current, targets.get(label)))
            advance()
    result = CalibrationResult(model, output_path, data, int(truth.shape[0]), choices, skipped_rows=skipped)
    result.warnings = label_warnings(metadata.labels, truth, data, CALIBRATE_REMEDY)
    result.calibration = calibration_entry(model, data, result, targets)
    result.reference_rates = reference_rates_entry(
        metadata.labels, probabilities, truth, result.thresholds, "calibrate", data
    )
    _write(model, output_path, result, output_version)
    if report is not None:
        write_report(report_page(result), Path(report))
    return result


def report_page(result: CalibrationResult) -> ReportPage:
    info = result.calibration
    return ReportPage(
        title=f"Threshold calibration: {result.source.parent.parent.name or result.source.name}",
        summary=[
            f"{result.source} → {result.output}",
            f"data {result.data_file.name} ({result.rows} rows, sha256 {info.get('data_sha256', '')[:12]}…), "
            f"method {info.get('method')}, {info.get('date')}.",
        ],
        panels=[LabelPanel.from_calibration(choice) for choice in result.labels],
    )


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


def calibration_entry(
    model: Path, data: Path, result: CalibrationResult, targets: Mapping[str, Target] | None = None
) -> dict:
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
            # What was asked, also when the label kept its threshold: the next calibration asks it again.
            | ({"target": targets[c.label].method} if targets and c.label in targets else {})
            for c in result.labels
        },
    }


def _write(model: Path, output: Path, result: CalibrationResult, output_version: bool) -> None:
    proto = onnx.load(str(model))
    props = {p.key: p.value for p in proto.metadata_props}
    props[THRESHOLDS] = json.dumps(result.thresholds)
    props[CALIBRATION] = json.dumps(result.calibration)
    props[REFERENCE_RATES_KEY] = result.reference_rates
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    publish_model(output, proto.SerializeToString(), output_version)
