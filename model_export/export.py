"""export_model(): load → decide the head → convert → prove → write. The Python face of the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from model_export.files import check_output_file, sha256_of_source, write_atomically
from model_export.keras.load import UNSAFE_WARNING, LoadedSource, load_source
from model_export.labels import DEFAULT_THRESHOLD, kept_label_columns, resolve_thresholds, validate_labels
from model_export.parity.compare import DEFAULT_BATCH_SIZES
from model_export.parity.proof import prove_parity
from model_export.progress import progress_bar
from service.contract.metadata import EXPORTED_AT, EXPORTER_VERSION, HEAD, LOGITS_EXACT, SOURCE_SHA256, TEXT_TRANSFORMER
from service.contract.metadata import TEXT_STEPS as TEXT_METADATA_KEY
from service.contract.text.spec import dump_specs
from service.contract.text.transformer_spec import dump_spec
from service.contract.version import VERSION

DEFAULT_OPSET = 17
_STEPS = 4  # progress steps besides one per parity batch: load, trace, convert, check


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
    text_inputs: list[str] = field(default_factory=list)  # one line per text step
    parity_rows: str | None = None  # what a text model's parity ran on
    notes: list[str] = field(default_factory=list)  # what clients see besides the labels: dropped labels, aliases

    def format(self) -> str:
        pairs = zip(self.labels, self.thresholds, strict=True)
        lines = [
            f"exported  {self.output_path}",
            f"head      {self.head}: {self.head_explanation}",
            "labels    " + ", ".join(f"{label}@{threshold:g}" for label, threshold in pairs),
            f"inputs    {', '.join(self.input_names)}   opset {self.opset}",
            *(f"text      {line}" for line in self.text_inputs),
            f"parity    {self.parity_rows or f'batches {self.batch_sizes}'}: max abs error probabilities "
            f"{self.max_abs_error_probabilities:.2e} (bound {self.tolerance:g}), logits "
            f"{self.max_abs_error_logits:.2e}{'' if self.logits_exact else ' (approximate logits)'}",
        ]
        if self.max_abs_error_model_output is not None:
            lines.append(f"          vs the model's own sigmoid output {self.max_abs_error_model_output:.2e}")
        lines += [f"note      {n}" for n in self.notes]
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
    unsafe_deserialization: bool = False,
    input_renames: Mapping[str, str] | None = None,
    drop_labels: Sequence[str] = (),
    refuse_empty_texts: bool = False,
) -> ExportReport:
    """Export `source` to `output` (ONNX), or raise ExportError and write nothing.

    `input_renames` renames inputs ({Keras name: served name}); `drop_labels` leaves labels (`labels` names every
    output column) out of the served outputs; `refuse_empty_texts` makes a text model answer a text without a known
    word with a 400 instead of Keras' answer (see keras/served_interface.py)."""
    from model_export.convert import graph_edits, to_onnx
    from model_export.keras import head, kerashub
    from model_export.keras.served_interface import ServedInterface
    from model_export.metadata import apply_metadata, build_metadata_props
    from model_export.parity import compare
    from model_export.text import plan

    to_onnx.check_opset(opset)
    labels = validate_labels(labels)
    columns = kept_label_columns(labels, drop_labels)
    served_labels = [labels[column] for column in columns]
    threshold_values = resolve_thresholds(served_labels, thresholds, default_threshold)
    output = check_output_file(output, "output")

    with progress_bar(f"exporting {Path(source).name}", _STEPS + len(batch_sizes), show_progress) as advance:
        loaded = load_source(source, unsafe_deserialization)
        interface = ServedInterface.apply(loaded, labels, columns, input_renames, refuse_empty_texts)
        advance(description="tracing the model")
        onnx_inputs = loaded.inputs
        if loaded.subclassed:
            frozen = to_onnx.freeze_keras(loaded.keras_model, loaded.inputs)
            decision = head.decide_subclassed_head(
                loaded.keras_model, frozen.output_op_type, loaded.loss, accept_sigmoid_output
            )
        elif loaded.kind == "keras":
            decision = head.decide_keras_head(loaded.graph_source, loaded.loss, accept_sigmoid_output)
            graph_model = decision.graph_model
            if loaded.text is not None:  # convert what follows the text layers; they become the text steps
                graph_model, onnx_inputs = plan.cut_model(graph_model, loaded.text), loaded.text.onnx_inputs
            if loaded.transformer is not None:  # the backbone and head over token ids; the tokenizer is a step
                frozen = kerashub.freeze_backbone_and_head(graph_model, onnx_inputs)
            else:
                frozen = to_onnx.freeze_keras(graph_model, onnx_inputs)
            decision = head.check_graph_output_op(decision, frozen.output_op_type, accept_sigmoid_output)
        else:
            frozen = to_onnx.freeze_signature(loaded.signature, loaded.inputs)
            decision = head.decide_graph_head(frozen.output_op_type, accept_sigmoid_output)
        validate_labels(labels, frozen.output_width)

        advance(description="converting with tf2onnx")
        model = to_onnx.graph_to_onnx(frozen, opset)
        advance(description="checking the ONNX graph")
        input_names = [spec.name for spec in onnx_inputs]
        renames = dict(zip(frozen.input_tensor_names, input_names, strict=True))
        graph_edits.rewrite_erfc(model.graph)
        graph_edits.check_known_ops(model)
        graph_edits.finish_graph(
            model, renames, frozen.output_tensor_name, decision.logits_exact, len(served_labels), interface.columns
        )
        graph_edits.check_graph_inputs(model, input_names)

        provenance = _provenance(loaded, opset, decision.kind, decision.logits_exact, decision.explanation)
        props = build_metadata_props(served_labels, threshold_values, provenance | interface.metadata())
        doc = f"Multi-label classifier ({len(served_labels)} labels) exported from {loaded.path.name}. "
        doc += f"{decision.explanation}."
        apply_metadata(model, props, doc, VERSION)
        model.graph.name = output.parent.parent.name or "model"
        compare.check_onnx_model(model)

        advance(description="checking parity with ONNX Runtime")
        parity = prove_parity(
            model,
            loaded,
            decision,
            sample_data,
            compare.PROBABILITY_TOLERANCE if tolerance is None else tolerance,
            batch_sizes,
            seed,
            n_labels=len(served_labels),
            on_batch=advance,
            columns=interface.columns,
        )
        if loaded.transformer is not None:  # the tokenizer step, proven by parity
            props[TEXT_TRANSFORMER] = dump_spec(loaded.transformer.spec)
            apply_metadata(model, props, doc, VERSION)
        elif parity.text is not None:  # the text steps, with what parity found about texts without a token
            props[TEXT_METADATA_KEY] = dump_specs(loaded.text.specs(parity.text.needs_token))
            apply_metadata(model, props, doc, VERSION)
        elif sample_data is not None:  # with labels `y`, the sample gives each label's reference rate
            _add_reference_rates(model, props, parity.batches[-1], sample_data, served_labels, threshold_values, labels)
    write_atomically(output, model.SerializeToString())
    return ExportReport(
        output_path=output,
        labels=served_labels,
        thresholds=threshold_values,
        head=decision.kind,
        head_explanation=decision.explanation,
        logits_exact=decision.logits_exact,
        opset=opset,
        input_names=[loaded.transformer.spec.input] if loaded.transformer is not None else input_names,
        batch_sizes=parity.report.batch_sizes,
        max_abs_error_probabilities=parity.report.max_abs_error_probabilities,
        max_abs_error_logits=parity.report.max_abs_error_logits,
        max_abs_error_model_output=parity.report.max_abs_error_model_output,
        tolerance=parity.report.tolerance,
        metadata=props,
        warnings=[
            *decision.warnings,
            *([UNSAFE_WARNING] if unsafe_deserialization else []),
            *interface.warnings(sample_data),
        ],
        text_inputs=_describe_text_inputs(loaded),
        parity_rows=None if parity.text is None else parity.text.describe(),
        notes=interface.notes(),
    )


def _add_reference_rates(
    model: Any,
    props: dict[str, str],
    all_rows: dict[str, np.ndarray],  # all of the sample data's rows
    sample_data: str | Path,
    labels: list[str],
    thresholds: list[float],
    file_labels: list[str],  # every output column's label, as the sample data gives them
) -> None:
    from model_export.calibration.reference_rates import sample_reference_rates
    from service.contract.metadata import REFERENCE_RATES as METADATA_KEY

    entry = sample_reference_rates(model, all_rows, sample_data, labels, thresholds, file_labels)
    if entry is not None:
        props[METADATA_KEY] = entry
        model.metadata_props.add(key=METADATA_KEY, value=entry)


def _provenance(loaded: LoadedSource, opset: int, head_kind: str, exact: bool, explanation: str) -> dict[str, Any]:
    import keras
    import tensorflow as tf
    import tf2onnx

    return {
        HEAD: head_kind,
        "head_detail": explanation,
        LOGITS_EXACT: "true" if exact else "false",
        "source_file": loaded.path.name,
        "source_format": loaded.kind if loaded.kind == "saved_model" else loaded.path.suffix.lstrip(".").lower(),
        SOURCE_SHA256: sha256_of_source(loaded.path),
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "tf2onnx_version": tf2onnx.__version__,
        "opset": str(opset),
        EXPORTED_AT: datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        EXPORTER_VERSION: VERSION,
    }


def _describe_text_inputs(loaded: LoadedSource) -> list[str]:
    if loaded.transformer is not None:
        return [loaded.transformer.describe()]
    if loaded.text is None:
        return []
    lines = []
    for use in loaded.text.uses:
        spec = use.spec
        shape = ", ".join("tokens" if d is None else str(d) for d in spec.row_shape)
        lines.append(
            f"{spec.input} (text) -> {type(use.layer).__name__} '{use.layer.name}' {spec.output_mode}, "
            f"{len(spec.vocabulary)} tokens -> ONNX input {spec.feeds} [batch, {shape}]"
        )
    return lines
