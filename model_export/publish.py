"""publish_version(): a Keras model becomes the next version of a model in a repository, in one step.

Export with the parity proof; calibrate on validation rows with the methods the served version was calibrated
with (its `calibration` metadata entry names one per label), so a retrained model does not fall back to 0.5;
write REPOSITORY/NAME/<next>/model.onnx atomically (built in a dot-named folder the server skips, then renamed);
and score the served version on the same rows, for a before/after table a person can judge the new one by.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from model_export.calibration.table import format_table
from model_export.calibration.threshold_choice import METHOD_F1, METHOD_KEPT, LabelRow, Scores, Target, scores_at
from model_export.errors import ExportError
from model_export.files import check_writable_folder, make_staging_folder, move_into_place
from model_export.labels import DEFAULT_THRESHOLD, validate_labels
from model_export.repository import ServedVersion, check_model_name, next_free_version, served_version
from service.contract.repository import MODEL_FILE


@dataclass
class PublishResult:
    output: Path
    version: int
    served: ServedVersion | None  # what a server of the repository served when the new version was written
    export_summary: str
    rows: list[LabelRow] = field(default_factory=list)  # per label: before (served or exported) and after
    compared_with: str = ""  # what the table's "before" side is
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def format(self) -> str:
        lines = [self.export_summary]
        if self.rows:
            lines += [self.compared_with, *format_table(self.rows)]
        lines += [f"note      {note}" for note in self.notes]
        lines += [f"warning   {warning}" for warning in self.warnings]
        replacing = f", replacing version {self.served.version}" if self.served else ""
        lines.append(
            f"published {self.output}: version {self.version}; a server watching {self.output.parents[2]} "
            f"serves it after its next poll{replacing}"
        )
        return "\n".join(lines)


def publish_version(
    source: str | Path,
    repository: str | Path,
    name: str,
    labels: Sequence[str],
    data: str | Path | None = None,
    *,
    thresholds: Mapping[str, float] | None = None,
    default_threshold: float = DEFAULT_THRESHOLD,
    target_precision: float | Mapping[str, float] | None = None,
    target_recall: float | Mapping[str, float] | None = None,
    opset: int | None = None,
    sample_data: str | Path | None = None,
    accept_sigmoid_output: bool = False,
    unsafe_deserialization: bool = False,
    show_progress: bool = False,
) -> PublishResult:
    """Export `source` as REPOSITORY/NAME/<next free version>/model.onnx, calibrated on `data` when given."""
    from model_export.calibration.calibrate_command import calibrate_model, resolve_targets
    from model_export.export import DEFAULT_OPSET, export_model

    repository, labels = Path(repository), validate_labels(labels)
    folder = repository / check_model_name(name)
    check_writable_folder(folder, f"cannot publish into {folder}")
    data = None if data is None else Path(data)
    if data is not None and not data.is_file():
        raise ExportError(f"validation data {data} does not exist")
    explicit = resolve_targets(labels, target_precision, target_recall)  # checked before the long export
    served = served_version(repository, name)
    previous = served.calibration if served else None

    staging = make_staging_folder(folder, "publish")
    try:
        # NAME as the folder above the version's: the exporter names the ONNX graph after it.
        exported = staging / name / ("exported" if data else "version") / MODEL_FILE
        report = export_model(
            source,
            exported,
            labels,
            thresholds=thresholds,
            opset=opset or DEFAULT_OPSET,
            sample_data=sample_data,
            default_threshold=default_threshold,
            accept_sigmoid_output=accept_sigmoid_output,
            show_progress=show_progress,
            unsafe_deserialization=unsafe_deserialization,
        )
        final, calibration = exported, None
        if data is not None:
            targets = {**carried_targets(previous, labels), **explicit}
            final = staging / name / "version" / MODEL_FILE
            calibration = calibrate_model(
                exported,
                data,
                final,
                target_precision={label: t.value for label, t in targets.items() if t and t.metric == "precision"},
                target_recall={label: t.value for label, t in targets.items() if t and t.metric == "recall"},
                show_progress=show_progress,
            )
        version = next_free_version(folder)
        output = folder / str(version) / MODEL_FILE
        move_into_place(final.parent, output.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    report.output_path = output
    if calibration is not None:
        report.thresholds = calibration.thresholds  # what the published file holds
    result = PublishResult(output, version, served, report.format())
    if served is not None and served.metadata.labels != labels:
        result.warnings.append(
            f"the labels differ from version {served.version}'s ({', '.join(served.metadata.labels)}): "
            "clients that read answers by position must change with it"
        )
    if calibration is None:
        _say_uncalibrated(result, served, previous, report.thresholds, repository, name)
        return result
    if previous is not None:
        result.notes.append(f"calibration methods carried over from version {served.version}: {_methods(previous)}")
    result.notes += [label.note for label in calibration.labels if label.note]
    if calibration.skipped_rows:
        result.notes.append(f"left out {calibration.skipped_rows} rows with no token (the service answers them 400)")
    _compare(result, calibration, served, labels, data)
    return result


def carried_targets(calibration: dict | None, labels: list[str]) -> dict[str, Target | None]:
    """label -> the target its last calibration asked for (None: max F1), for the labels that had one."""
    if not calibration:
        return {}
    recorded = calibration.get("labels") or {}
    carried: dict[str, Target | None] = {}
    for label in labels:
        entry = recorded.get(label)
        if not isinstance(entry, dict):
            continue
        try:
            carried[label] = Target.from_method(asked_method(entry))
        except ValueError:
            continue  # a method this exporter does not know: the label gets the default
    return carried


def asked_method(entry: dict) -> str:
    """The method a label's calibration asked for, also when it kept its threshold (no positives, or a target it
    could not reach): `max_f1` or `target_precision=0.9`."""
    method = str(entry.get("method") or METHOD_F1)
    return str(entry.get("target", METHOD_F1)) if method == METHOD_KEPT else method


def _compare(result: PublishResult, calibration, served: ServedVersion | None, labels: list[str], data: Path) -> None:
    """The table: the served version at its thresholds vs the new one at its calibrated thresholds, on `data`."""
    from model_export.data.model_rows import score_rows

    new = {c.label: c for c in calibration.labels}
    before: dict[str, tuple[float, Scores]] = {}
    result.compared_with = f"on {data.name} ({calibration.rows} rows): exported thresholds -> calibrated"
    if served is not None and served.metadata.labels == labels:
        try:
            probabilities, truth, _ = score_rows(served.path, data, labels)
        except ExportError as exc:
            result.notes.append(f"version {served.version} could not be scored on {data.name}: {exc}")
        else:
            result.compared_with = (
                f"on {data.name} ({calibration.rows} rows): version {served.version} (served) -> "
                f"version {result.version}, each at its own thresholds"
            )
            for j, (label, threshold) in enumerate(zip(labels, served.metadata.thresholds, strict=True)):
                before[label] = (threshold, scores_at(probabilities[:, j], truth[:, j], threshold))
    for label in labels:
        choice = new[label]
        threshold, scores = before.get(label, (choice.threshold_before, choice.before))
        result.rows.append(LabelRow(label, choice.method, threshold, choice.threshold, scores, choice.after))


def _say_uncalibrated(
    result: PublishResult,
    served: ServedVersion | None,
    previous: dict | None,
    thresholds: list[float],
    repository: Path,
    name: str,
) -> None:
    values = sorted(set(thresholds))
    given = f"{values[0]:g} for every label" if len(values) == 1 else "as given on the command line"
    how = (
        f"python -m model_export calibrate {result.output} --data VAL --output-version "
        f"(writes version {result.version + 1}), or publish with --data VAL"
    )
    if previous is not None:
        result.warnings.append(
            f"version {served.version} (served until now) has thresholds calibrated on {previous.get('data_file')} "
            f"({_methods(previous)}); version {result.version} has the default thresholds ({given}), not chosen "
            f"for this model. Calibrate it: {how}"
        )
    else:
        result.notes.append(f"thresholds: {given}, not calibrated; to choose one per label: {how}")


def _methods(calibration: dict) -> str:
    labels = calibration.get("labels") or {}
    by_method: dict[str, list[str]] = {}
    for label, entry in labels.items():
        by_method.setdefault(asked_method(entry) if isinstance(entry, dict) else METHOD_F1, []).append(label)
    return "; ".join(f"{method}: {', '.join(names)}" for method, names in by_method.items()) or "none recorded"
