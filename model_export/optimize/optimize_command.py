"""optimize_model(), what the `optimize` command runs: an int8, float16 or graph-optimized version of an exported
model, proven label by label.

It builds the candidates (variants.py), scores each per label against the float32 model on the validation rows
(label_comparison.py), times each against float32 in one interleaved run (speed.py), and writes the fastest candidate
that keeps every label's F1 within bound and is not slower than float32, as a new file or version, with the proof
in its `optimization` metadata entry. When none qualifies it refuses (OptimizationRefused, with the tables),
unless forced. ONNX Runtime only: no TensorFlow.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from model_export.calibration.calibrate_command import CalibrationResult, calibration_entry
from model_export.calibration.html_report import write_report
from model_export.data.model_rows import model_feeds, predict
from model_export.errors import ExportError
from model_export.files import choose_output, publish_model, sha256_of_source
from model_export.metadata import read_metadata
from model_export.optimize.label_comparison import compare_labels
from model_export.optimize.result import BASELINE, Measured, OptimizationResult, refusal_reason, report_page
from model_export.optimize.speed import SAME_SPEED, SpeedTable, cpu_name, make_session, measure
from model_export.optimize.variants import (
    OUTPUTS,
    VARIANT_FP16,
    VARIANT_GRAPH,
    VARIANT_INT8,
    Candidate,
    float16_candidate,
    graph_candidate,
    int8_candidates,
)
from model_export.progress import progress_bar
from service.contract.metadata import CALIBRATION, OPTIMIZATION, TEXT_TRANSFORMER, THRESHOLDS

METADATA_KEY = OPTIMIZATION
DEFAULT_MAX_F1_DROP = 0.01
# A transformer (a tokenizer step in its metadata): int8 is judged at batch 1 and 8, where requests of a few texts
# run, and must be 1.5x float32 there (issue 22's goal), unless --min-speedup says otherwise.
TRANSFORMER_MIN_SPEEDUP = 1.5
TRANSFORMER_GATE_BATCHES = (1, 8)


class OptimizationRefused(ExportError):
    """No candidate may be written; `report` holds the tables that say why."""

    def __init__(self, message: str, report: str) -> None:
        super().__init__(message)
        self.report = report


def optimize_model(
    model: str | Path,
    data: str | Path,
    output: str | Path | None = None,
    *,
    output_version: bool = False,
    variant: str = VARIANT_INT8,
    keep_thresholds: bool = False,
    max_f1_drop: float = DEFAULT_MAX_F1_DROP,
    min_speedup: float | None = None,
    force: bool = False,
    calibration_data: str | Path | None = None,
    report: str | Path | None = None,
    seconds_per_batch: float = 1.5,
    show_progress: bool = False,
) -> OptimizationResult:
    """Write an optimized version of `model`, judged on `data`: the labelled rows calibrate reads (.npz with one array
    per model input plus `y` multi-hot, or JSONL / CSV rows, with raw text for text inputs)."""
    model, data = Path(model), Path(data)
    if not model.is_file():
        raise ExportError(f"model {model} does not exist")
    if variant not in (VARIANT_INT8, VARIANT_FP16, VARIANT_GRAPH):
        raise ExportError(f"unknown variant {variant!r}; use {VARIANT_INT8}, {VARIANT_FP16} or {VARIANT_GRAPH}")
    output_path = choose_output(model, output, output_version, "optimize")
    metadata = read_metadata(model)  # refuses models without labels/thresholds
    _refuse_optimized_source(model, metadata.props, variant)
    float_session = make_session(model)
    outputs = [o.name for o in float_session.get_outputs()]
    if outputs[:2] != list(OUTPUTS):
        raise ExportError(
            f"{model} has outputs {outputs}, not [probabilities, logits]; was it written by model_export?"
        )
    transformer = TEXT_TRANSFORMER in metadata.props
    if min_speedup is None:  # a transformer's int8 must pay what it costs in precision: the 1.5x
        min_speedup = TRANSFORMER_MIN_SPEEDUP if transformer and variant == VARIANT_INT8 else 1.0
    inputs, truth, left_out = model_feeds(data, float_session, model, metadata.labels)
    calibration_rows = model_feeds(Path(calibration_data), float_session, model).feeds if calibration_data else inputs
    methods, thresholds_note = _threshold_methods(metadata.props, metadata.labels, keep_thresholds)
    float_probabilities = predict(float_session, inputs)

    with tempfile.TemporaryDirectory(prefix="optimize.") as workdir:
        with progress_bar(f"building {variant} candidates", None, show_progress):
            candidates = _build(variant, model, calibration_rows, Path(workdir))
        with progress_bar("scoring candidates per label", len(candidates), show_progress) as advance:
            sessions = {c.name: make_session(c.path) for c in candidates}
            measured = []
            for candidate in candidates:
                _check_interface(candidate, sessions[candidate.name], float_session)
                probabilities = predict(sessions[candidate.name], inputs)
                table = compare_labels(
                    metadata.labels, metadata.thresholds, methods, float_probabilities, probabilities, truth
                )
                measured.append(Measured(candidate, table))
                advance()
        with progress_bar("timing against float32", None, show_progress):
            sessions = {BASELINE: float_session, **sessions}
            speed = measure(sessions, inputs, seconds_per_batch=seconds_per_batch, baseline=BASELINE)
        gates = TRANSFORMER_GATE_BATCHES if transformer else None
        gate_batches = _judge(measured, speed, max_f1_drop, min_speedup, gates)
        chosen = _choose(measured, max_f1_drop)
        result = OptimizationResult(
            model, output_path, data, variant, chosen, measured, speed, gate_batches, thresholds_note, left_out=left_out
        )
        result.entry = _optimization_entry(result, max_f1_drop, min_speedup, force, calibration_data, data)
        refused = bool(chosen.problems) and not force
        if not refused:
            _write(model, result, methods is not None, output_version)
            result.written = True
    if report is not None:
        write_report(report_page(result), Path(report))
    if refused:
        raise OptimizationRefused(refusal_reason(result), result.format())
    return result


def _judge(
    measured: list[Measured],
    speed: SpeedTable,
    max_f1_drop: float,
    min_speedup: float,
    gates: tuple[int, ...] | None = None,
) -> tuple[int, ...]:
    """Set each candidate's speed-ups at the gate batches (1 and float32's best, unless given) and its problems;
    returns the gates."""
    gate_batches = gates or tuple(sorted({1, speed.best_batch(BASELINE)}))
    for m in measured:
        # Two decimals: finer than that this timing cannot tell apart.
        timed = {b: speed.speedup(m.name, BASELINE, b) for b in gate_batches}
        m.speedups = {b: round(s, 2) for b, s in timed.items() if s is not None}
        m.problems = _problems(m, gate_batches, max_f1_drop, min_speedup)
    return gate_batches


def _refuse_optimized_source(model: Path, props: dict[str, str], variant: str) -> None:
    done = json.loads(props.get(METADATA_KEY, "{}")).get("variant")
    if done in (VARIANT_INT8, VARIANT_FP16) and variant != VARIANT_GRAPH:
        raise ExportError(f"{model} is already optimized ({done}); optimize its float32 source instead")


def _threshold_methods(props: dict[str, str], labels: list[str], keep: bool) -> tuple[dict[str, str] | None, str]:
    """label → the method its threshold was chosen with, or None to keep every threshold; and a sentence why."""
    if keep:
        return None, "thresholds kept (--keep-thresholds)"
    if CALIBRATION not in props:
        return None, "thresholds kept: the model's were given at export, not calibrated (no 'calibration' entry)"
    recorded = json.loads(props[CALIBRATION]).get("labels", {})
    methods = {label: recorded.get(label, {}).get("method", "kept") for label in labels}
    kinds = sorted(set(methods.values()))
    return methods, f"thresholds re-chosen on the new model with the float32 model's method ({', '.join(kinds)})"


def _build(variant: str, model: Path, calibration_rows: dict[str, np.ndarray], workdir: Path) -> list[Candidate]:
    if variant == VARIANT_INT8:
        return int8_candidates(model, calibration_rows, workdir)
    if variant == VARIANT_FP16:
        return [float16_candidate(model, workdir)]
    return [graph_candidate(model, workdir)]


def _check_interface(candidate: Candidate, session: ort.InferenceSession, source: ort.InferenceSession) -> None:
    """The service serves the new model as another version: same inputs, same outputs, same types."""
    new = [(i.name, i.type) for i in session.get_inputs()], [(o.name, o.type) for o in session.get_outputs()][:2]
    old = [(i.name, i.type) for i in source.get_inputs()], [(o.name, o.type) for o in source.get_outputs()][:2]
    if new != old:
        raise ExportError(f"{candidate.name} changed the model's interface from {old} to {new}; nothing written")


def _choose(measured: list[Measured], max_f1_drop: float) -> Measured:
    """The fastest fit candidate; failing that, the fastest that keeps F1 (then the fastest): what --force writes.

    A candidate that must be faster and is not is never chosen: --force does not apply dynamic int8 convolutions.
    """
    eligible = [m for m in measured if not (m.candidate.must_be_faster and m.problems)] or measured
    return max(eligible, key=lambda m: (not m.problems, not m.table.failing(max_f1_drop), m.mean_speedup))


def _problems(m: Measured, gate_batches: tuple[int, ...], max_f1_drop: float, min_speedup: float) -> list[str]:
    problems = []
    failing = [c for c in m.table.labels if c.label in m.table.failing(max_f1_drop)]
    if failing:
        drops = ", ".join(f"'{c.label}' by {c.f1_drop:.3f}" for c in failing)
        problems.append(f"F1 dropped by more than {max_f1_drop:g}: {drops}")
    # graph-only runs what ORT would build at load anyway: it must only not be slower (within the timing's
    # resolution). int8 and float16 change precision, so they must pay.
    required = min_speedup - SAME_SPEED if m.candidate.variant == VARIANT_GRAPH else min_speedup
    if m.candidate.must_be_faster:
        required = max(required, 1.0)
    slow = {b: s for b, s in m.speedups.items() if s < required}
    if slow:
        at = ", ".join(f"{s:.2f}x at batch {b}" for b, s in slow.items())
        problems.append(f"slower than {'float32' if required == 1 else f'{required:g}x float32'} ({at})")
    untimed = [b for b in gate_batches if b not in m.speedups]
    if untimed and not slow:
        problems.append(f"not timed at batch {untimed[0]} (under half float32's speed at a smaller batch)")
    return problems


def _optimization_entry(
    result: OptimizationResult,
    max_f1_drop: float,
    min_speedup: float,
    force: bool,
    calibration_data: str | Path | None,
    data: Path,
) -> dict:
    chosen = result.chosen
    calibration_file = Path(calibration_data) if calibration_data else data
    return {
        "variant": result.variant,
        "candidate": chosen.name,
        "settings": chosen.candidate.settings,
        "labels": {c.label: c.as_dict() for c in chosen.table.labels},
        "thresholds": result.thresholds_note,
        "deviation": chosen.table.deviation(),
        "speedup": {str(b): round(s, 3) for b, s in chosen.speedups.items()},
        "rows_per_second": {
            name: rates for name, rates in result.speed.as_dict().items() if name in (BASELINE, chosen.name)
        },
        "timing": "one intra-op thread, interleaved calls, 20th percentile of call times",
        "candidates": {
            m.name: {
                "speedup": {str(b): round(s, 3) for b, s in m.speedups.items()},
                "worst_f1_drop": round(m.table.worst_f1_drop, 6),
                "max_abs_deviation": float(f"{m.table.max_abs_deviation:.3g}"),
                "problems": m.problems,
            }
            for m in result.candidates
        },
        "max_f1_drop": max_f1_drop,
        "min_speedup": min_speedup,
        "forced_past": chosen.problems if force else [],
        "source_model": result.source.name,
        "source_model_sha256": sha256_of_source(result.source),
        "data_file": data.name,
        "data_sha256": sha256_of_source(data),
        "calibration_data_file": calibration_file.name,
        "onnxruntime_version": ort.__version__,
        "machine": cpu_name(),
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _write(model: Path, result: OptimizationResult, recalibrated: bool, output_version: bool) -> None:
    source = onnx.load(str(model))
    proto = onnx.load(str(result.chosen.candidate.path))
    props = {p.key: p.value for p in source.metadata_props}
    choices = [c.choice for c in result.chosen.table.labels]
    props[THRESHOLDS] = json.dumps([c.threshold for c in choices])
    if recalibrated:
        rows = result.chosen.table.rows
        recalibration = CalibrationResult(model, result.output, result.data_file, rows, choices)
        props[CALIBRATION] = json.dumps(calibration_entry(model, result.data_file, recalibration))
    props[METADATA_KEY] = json.dumps(result.entry)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, props)
    proto.producer_name, proto.producer_version = source.producer_name, source.producer_version
    proto.doc_string = source.doc_string
    publish_model(result.output, proto.SerializeToString(), output_version)
