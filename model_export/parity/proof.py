"""What parity is proved against, and on which rows: shared by `export` (before writing) and `verify` (after).

Numeric models: random rows (or the user's sample data) at a few batch sizes. Text models: raw strings through the
service's text steps (parity/text.py). The reference is always the Keras source's own answer, sigmoid(logits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from model_export.data.reader import read_sample_rows
from model_export.keras.load import LoadedSource, call_keras
from model_export.parity.compare import Reference, VerificationReport, random_inputs, sigmoid, verify_parity
from model_export.parity.text import verify_text_parity
from model_export.parity.transformer import verify_transformer_parity

DEFAULT_INT_HIGH = 10  # token ids drawn from 0..9 when no Embedding bounds them


@dataclass
class ParityOutcome:
    report: VerificationReport
    text: Any = None  # text.TextParity for a text model, transformer.TransformerParity for a KerasHub task
    batches: list[dict[str, np.ndarray]] | None = None  # a numeric model's rows (the sample data's last: all of it)


def prove_parity(
    model: onnx.ModelProto,
    loaded: LoadedSource,
    decision: Any,
    sample_data: str | Path | None,
    tolerance: float,
    batch_sizes: Sequence[int],
    seed: int,
    n_labels: int,
    on_batch: Callable[[], None] | None = None,
    columns: Sequence[int] | None = None,
) -> ParityOutcome:
    """ExportError when ONNX Runtime and Keras disagree (or when the data cannot be read). With `columns`, the ONNX
    model serves only those of the source's output columns (--drop-label), and parity is proved on them."""
    if loaded.transformer is not None:  # raw strings through the tokenizer step, against task.predict(strings)
        parity = verify_transformer_parity(model, loaded.transformer, loaded.keras_model, decision, tolerance, seed)
        for _ in batch_sizes if on_batch else ():
            on_batch()
        return ParityOutcome(parity.report, parity)
    reference = keras_reference(loaded, decision)
    if columns is not None:
        reference = _on_columns(reference, list(columns))
    if loaded.text is not None:
        samples = None if sample_data is None else read_sample_rows(sample_data, loaded.inputs)
        text = verify_text_parity(
            model, loaded.text, loaded.inputs, reference, tolerance, samples, _int_high(loaded), seed
        )
        for _ in batch_sizes if on_batch else ():
            on_batch()
        return ParityOutcome(text.report, text)
    batches = sample_batches(loaded, sample_data, batch_sizes, seed)
    report = verify_parity(model, batches, reference, tolerance, n_labels=n_labels, on_batch=on_batch)
    return ParityOutcome(report, batches=batches)


def sample_batches(
    loaded: LoadedSource, sample_data: str | Path | None, batch_sizes: Sequence[int], seed: int
) -> list[dict[str, np.ndarray]]:
    """Numeric parity rows: the sample data's first row and all of it, or random rows at each batch size."""
    if sample_data is not None:
        full = read_sample_rows(sample_data, loaded.inputs)
        first_row = {name: array[:1] for name, array in full.items()}
        return [first_row, full]
    rng = np.random.default_rng(seed)
    return [random_inputs(loaded.inputs, size, _int_high(loaded), rng) for size in batch_sizes]


def _int_high(loaded: LoadedSource) -> int:
    return (embedding_input_dim(loaded.keras_model) if loaded.keras_model is not None else None) or DEFAULT_INT_HIGH


def embedding_input_dim(model: Any) -> int | None:
    """Safe upper bound for random token ids: the first Embedding's vocabulary size."""
    import keras

    pending = list(model.layers)
    while pending:
        layer = pending.pop(0)
        if isinstance(layer, keras.layers.Embedding):
            return int(layer.input_dim)
        pending.extend(getattr(layer, "layers", []))
    return None


def keras_reference(loaded: LoadedSource, decision: Any) -> Callable[[dict[str, np.ndarray]], Reference]:
    """batch -> what the source says: sigmoid(logits), the logits, and its own sigmoid output when it had one."""
    from service.contract.metadata import HEAD_APPENDED_SIGMOID, HEAD_LOGITS_RECOVERED

    model_output = loaded.model_output
    # An appended sigmoid's graph model computes what the model does: its logits are the model's own output, taken
    # from the model as loaded (which a model rebuilt as it runs must match).
    graph_model = None if decision.kind == HEAD_APPENDED_SIGMOID else decision.graph_model
    graph_call = None if graph_model is None else partial(call_keras, graph_model)
    if loaded.text is not None:  # hundreds of calls on single texts: traced once instead of eager each time
        model_output = _traced(loaded.keras_model, loaded.inputs)
        graph_call = None if graph_model is None else _traced(graph_model, loaded.inputs)

    def reference(batch: dict[str, np.ndarray]) -> Reference:
        if not decision.logits_exact:
            return Reference(probabilities=model_output(batch), logits=None)
        flat = [batch[s.name] for s in loaded.inputs]
        logits = model_output(batch) if graph_call is None else graph_call(flat)
        own = model_output(batch) if decision.kind == HEAD_LOGITS_RECOVERED else None
        return Reference(probabilities=sigmoid(logits), logits=logits, model_output=own)

    return reference


def _on_columns(
    reference: Callable[[dict[str, np.ndarray]], Reference], columns: list[int]
) -> Callable[[dict[str, np.ndarray]], Reference]:
    def kept(batch: dict[str, np.ndarray]) -> Reference:
        full = reference(batch)
        pick = [None if values is None else values[:, columns] for values in (full.logits, full.model_output)]
        return Reference(full.probabilities[:, columns], *pick)

    return kept


def _traced(model: Any, inputs: Sequence[Any]) -> Callable[[Any], np.ndarray]:
    """model(...) as one traced tf.function (what model.predict runs), taking a batch dict or a list in input order."""
    import tensorflow as tf

    signature = [tf.TensorSpec(spec.shape, tf.string if spec.dtype == "string" else spec.dtype) for spec in inputs]

    @tf.function(input_signature=signature, reduce_retracing=True)
    def forward(*tensors: Any) -> Any:
        return model(tensors[0] if len(tensors) == 1 else list(tensors), training=False)

    def call(batch: Any) -> np.ndarray:
        flat = [batch[spec.name] for spec in inputs] if isinstance(batch, dict) else batch
        return np.asarray(forward(*flat))

    return call
