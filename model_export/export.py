"""export_model(): load → decide the head → convert → prove → write. The Python face of the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from model_export.errors import ExportError
from model_export.files import sha256_of_source, write_atomically
from model_export.labels import DEFAULT_THRESHOLD, resolve_thresholds, validate_labels
from model_export.load import LoadedSource, call_keras, load_source
from model_export.progress import progress_bar
from model_export.verify import DEFAULT_BATCH_SIZES
from model_export.version import __version__

DEFAULT_OPSET = 17
_STEPS = 4  # progress steps besides one per parity batch: load, trace, convert, check
_DEFAULT_INT_HIGH = 10  # token ids drawn from 0..9 when no Embedding bounds them


@dataclass
class ExportReport:
    output_path: Path
    labels: list[str]
    thresholds: list[float]
    head: str
    head_explanation: str
    logits_exact: bool
    opset: int
    input_names: list[str]
    batch_sizes: list[int]
    max_abs_error_probabilities: float
    max_abs_error_logits: float
    max_abs_error_model_output: float | None
    tolerance: float
    metadata: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    def format(self) -> str:
        pairs = zip(self.labels, self.thresholds, strict=True)
        lines = [
            f"exported  {self.output_path}",
            f"head      {self.head}: {self.head_explanation}",
            "labels    " + ", ".join(f"{label}@{threshold:g}" for label, threshold in pairs),
            f"inputs    {', '.join(self.input_names)}   opset {self.opset}",
            f"parity    batches {self.batch_sizes}: max abs error probabilities "
            f"{self.max_abs_error_probabilities:.2e} (bound {self.tolerance:g}), logits "
            f"{self.max_abs_error_logits:.2e}{'' if self.logits_exact else ' (approximate logits)'}",
        ]
        if self.max_abs_error_model_output is not None:
            lines.append(f"          vs the model's own sigmoid output {self.max_abs_error_model_output:.2e}")
        lines += [f"warning   {w}" for w in self.warnings]
        return "\n".join(lines)


def export_model(
    source: str | Path,
    output: str | Path,
    labels: Sequence[str],
    thresholds: Mapping[str, float] | Sequence[float] | None = None,
    opset: int = DEFAULT_OPSET,
    sample_data: str | Path | None = None,
    *,
    default_threshold: float = DEFAULT_THRESHOLD,
    accept_sigmoid_output: bool = False,
    tolerance: float | None = None,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    seed: int = 0,
    show_progress: bool = False,
) -> ExportReport:
    """Export `source` to `output` (ONNX), or raise ExportError and write nothing."""
    from model_export import convert, head, onnx_edit, verify
    from model_export.metadata import apply_metadata, build_metadata_props

    convert.check_opset(opset)
    labels = validate_labels(labels)
    threshold_values = resolve_thresholds(labels, thresholds, default_threshold)
    output = Path(output)
    if output.exists() and output.is_dir():
        raise ExportError(f"output {output} is a directory; give the .onnx file path")

    with progress_bar(f"exporting {Path(source).name}", _STEPS + len(batch_sizes), show_progress) as advance:
        loaded = load_source(source)
        advance(description="tracing the model")
        if loaded.subclassed:
            frozen = convert.freeze_keras(loaded.keras_model, loaded.inputs)
            decision = head.decide_subclassed_head(
                loaded.keras_model, frozen.output_op_type, loaded.loss, accept_sigmoid_output
            )
        elif loaded.kind == "keras":
            decision = head.decide_keras_head(loaded.keras_model, loaded.loss, accept_sigmoid_output)
            frozen = convert.freeze_keras(decision.graph_model, loaded.inputs)
            decision = head.check_graph_output_op(decision, frozen.output_op_type, accept_sigmoid_output)
        else:
            frozen = convert.freeze_signature(loaded.signature, loaded.inputs)
            decision = head.decide_graph_head(frozen.output_op_type, accept_sigmoid_output)
        validate_labels(labels, frozen.output_width)

        advance(description="converting with tf2onnx")
        model = convert.graph_to_onnx(frozen, opset)
        advance(description="checking the ONNX graph")
        input_names = [spec.name for spec in loaded.inputs]
        renames = dict(zip(frozen.input_tensor_names, input_names, strict=True))
        onnx_edit.rewrite_erfc(model.graph)
        onnx_edit.check_known_ops(model)
        onnx_edit.finish_graph(model, renames, frozen.output_tensor_name, decision.logits_exact, len(labels))
        onnx_edit.check_graph_inputs(model, input_names)

        provenance = _provenance(loaded, opset, decision.kind, decision.logits_exact, decision.explanation)
        props = build_metadata_props(labels, threshold_values, provenance)
        doc = f"Multi-label classifier ({len(labels)} labels) exported from {loaded.path.name}. {decision.explanation}."
        apply_metadata(model, props, doc, __version__)
        model.graph.name = output.parent.parent.name or "model"
        verify.check_onnx_model(model)

        advance(description="checking parity with ONNX Runtime")
        batches = _sample_batches(loaded, sample_data, batch_sizes, seed)
        parity = verify.verify_parity(
            model,
            batches,
            _reference_for(loaded, decision),
            verify.PROBABILITY_TOLERANCE if tolerance is None else tolerance,
            n_labels=len(labels),
            on_batch=advance,
        )
        if sample_data is not None:  # with labels `y`, the sample gives each label's reference rate
            _add_reference_rates(model, props, batches[-1], sample_data, labels, threshold_values)  # [-1]: all rows
    write_atomically(output, model.SerializeToString())
    return ExportReport(
        output_path=output,
        labels=labels,
        thresholds=threshold_values,
        head=decision.kind,
        head_explanation=decision.explanation,
        logits_exact=decision.logits_exact,
        opset=opset,
        input_names=input_names,
        batch_sizes=parity.batch_sizes,
        max_abs_error_probabilities=parity.max_abs_error_probabilities,
        max_abs_error_logits=parity.max_abs_error_logits,
        max_abs_error_model_output=parity.max_abs_error_model_output,
        tolerance=parity.tolerance,
        metadata=props,
        warnings=decision.warnings,
    )


def _add_reference_rates(
    model: Any,
    props: dict[str, str],
    all_rows: dict[str, np.ndarray],
    sample_data: str | Path,
    labels: list[str],
    thresholds: list[float],
) -> None:
    from model_export.reference_rates import METADATA_KEY, sample_reference_rates

    entry = sample_reference_rates(model, all_rows, sample_data, labels, thresholds)
    if entry is not None:
        props[METADATA_KEY] = entry
        model.metadata_props.add(key=METADATA_KEY, value=entry)


def _provenance(loaded: LoadedSource, opset: int, head_kind: str, exact: bool, explanation: str) -> dict[str, Any]:
    import keras
    import tensorflow as tf
    import tf2onnx

    return {
        "head": head_kind,
        "head_detail": explanation,
        "logits_exact": "true" if exact else "false",
        "source_file": loaded.path.name,
        "source_format": loaded.kind if loaded.kind == "saved_model" else loaded.path.suffix.lstrip(".").lower(),
        "source_sha256": sha256_of_source(loaded.path),
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "tf2onnx_version": tf2onnx.__version__,
        "opset": str(opset),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "exporter_version": __version__,
    }


def _sample_batches(
    loaded: LoadedSource, sample_data: str | Path | None, batch_sizes: Sequence[int], seed: int
) -> list[dict[str, np.ndarray]]:
    from model_export import verify

    if sample_data is not None:
        full = verify.load_sample_data(sample_data, loaded.inputs)
        first_row = {name: array[:1] for name, array in full.items()}
        return [first_row, full]
    rng = np.random.default_rng(seed)
    int_high = _embedding_input_dim(loaded.keras_model) if loaded.keras_model is not None else None
    return [verify.random_inputs(loaded.inputs, size, int_high or _DEFAULT_INT_HIGH, rng) for size in batch_sizes]


def _embedding_input_dim(model: Any) -> int | None:
    """Safe upper bound for random token ids: the first Embedding's vocabulary size."""
    import keras

    pending = list(model.layers)
    while pending:
        layer = pending.pop(0)
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
        pending.extend(getattr(layer, "layers", []))
    return None


def _reference_for(loaded: LoadedSource, decision: Any) -> Any:
    from model_export.metadata import HEAD_LOGITS_RECOVERED
    from model_export.verify import Reference, sigmoid

    def reference(batch: dict[str, np.ndarray]) -> Reference:
        if not decision.logits_exact:
            return Reference(probabilities=loaded.model_output(batch), logits=None)
        if decision.graph_model is not None:
            logits = call_keras(decision.graph_model, [batch[s.name] for s in loaded.inputs])
        else:
            logits = loaded.model_output(batch)
        own = loaded.model_output(batch) if decision.kind == HEAD_LOGITS_RECOVERED else None
        return Reference(probabilities=sigmoid(logits), logits=logits, model_output=own)

    return reference
