"""KerasHub text classifiers: a saved `TextClassifier` task read as the backbone + head over token ids, plus the
tokenizer step its preprocessor becomes (docs/export/transformers.md).

The exporter converts what the task's `call` computes (the backbone and its head, over `token_ids`, `segment_ids`,
`padding_mask` with a free batch and sequence axis) and records the preprocessor as a `TransformerTextSpec`, which
the service runs before ONNX Runtime. The head is decided as for every Keras model (`head.py`).
"""

from __future__ import annotations

import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from model_export.convert.graph_edits import check_known_ops, rename_tensor, rewrite_erfc
from model_export.convert.to_onnx import MAX_OPSET, FrozenGraph, freeze_signature, graph_to_onnx
from model_export.errors import ExportError
from model_export.input_spec import InputSpec
from model_export.text.kerashub_preprocessor import preprocessor_spec
from service.contract.text.transformer_spec import TransformerTextSpec

LOGITS = "logits"
TEXT_INPUT = "text"  # what clients send a transformer text under


@dataclass
class TransformerPlan:
    """A KerasHub task as the exporter converts it: the graph's integer inputs and the tokenizer step feeding them."""

    spec: TransformerTextSpec
    onnx_inputs: list[InputSpec]  # token_ids, segment_ids, padding_mask (those the backbone takes), int32 [batch, any]

    def describe(self) -> str:
        spec = self.spec
        feeds = ", ".join(s.name for s in self.onnx_inputs)
        return (
            f"{spec.input} (text) -> {spec.keras_tokenizer} ({spec.tokenizer}), sequence_length {spec.sequence_length}"
            f", {spec.vocabulary_size} token ids -> ONNX inputs {feeds} [batch, tokens]"
        )


def import_keras_hub_for(path: Path) -> None:
    """Register KerasHub's classes before Keras reads a `.keras` file whose config names them (they deserialize by
    their registered names only once `keras_hub` is imported)."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = archive.read("config.json").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return
    if '"keras_hub' in config or "keras_hub>" in config:
        try:
            import keras_hub  # noqa: F401
        except ImportError:
            raise ExportError(
                f"{path.name} holds KerasHub classes, but keras_hub is not installed: pip install '.[export]'"
            ) from None


def is_kerashub_task(model: Any) -> bool:
    """Only when keras_hub is already imported: a task cannot have been built or loaded without it, and importing it
    for every other model would cost seconds and print TensorFlow's start-up lines."""
    keras_hub = sys.modules.get("keras_hub")
    return keras_hub is not None and isinstance(model, keras_hub.models.TextClassifier)


def plan_transformer(task: Any, input_name: str = TEXT_INPUT) -> TransformerPlan:
    """The task's tokenizer step and graph inputs; ExportError (one line) when its preprocessing cannot be
    reproduced without TensorFlow, so that no file is ever written without its preprocessing."""
    if task.preprocessor is None:
        raise ExportError(
            f"the {type(task).__name__} has no preprocessor: served from raw strings, it needs its tokenizer. Build "
            "the task with its preprocessor (e.g. preprocessor=BertTextClassifierPreprocessor(...)) and save again"
        )
    names = backbone_input_names(task)
    spec = preprocessor_spec(
        task.preprocessor, {name: name for name in names}, int(task.backbone.vocabulary_size), input_name
    )
    return TransformerPlan(spec, [InputSpec(name, (None, None), "int32") for name in names])


def backbone_input_names(task: Any) -> list[str]:
    inputs = task.input
    if not isinstance(inputs, dict):
        raise ExportError(f"the task takes {type(inputs).__name__} inputs; a KerasHub backbone takes a dict")
    return sorted(inputs)


def freeze_backbone_and_head(graph_model: Any, inputs: list[InputSpec]) -> FrozenGraph:
    """`graph_model` (the task, or its logits when the head's sigmoid is recovered) traced over the integer inputs,
    called with a dict as KerasHub's functional tasks take them."""
    import tensorflow as tf

    names = [spec.name for spec in inputs]
    signature = [tf.TensorSpec(spec.shape, spec.dtype, name=spec.name) for spec in inputs]

    @tf.function(input_signature=signature)
    def forward(*tensors: Any) -> Any:
        return graph_model(keras_inputs(graph_model, dict(zip(names, tensors, strict=True))), training=False)

    return freeze_signature(forward.get_concrete_function(), inputs)


def keras_inputs(graph_model: Any, features: dict[str, Any]) -> Any:
    """The features in the structure `graph_model` takes: the dict itself, or a list in its inputs' order (a model
    rebuilt from the task's inputs, as the head decision does)."""
    if isinstance(graph_model.input, dict):
        return features
    return [features[tensor.name] for tensor in graph_model.inputs]


def recorded_spec(props: dict[str, str]) -> TransformerTextSpec | None:
    """The tokenizer step recorded in a model's metadata, or None; ExportError when it does not parse."""
    from service.contract.metadata import TEXT_TRANSFORMER
    from service.contract.text.transformer_spec import parse_spec

    if TEXT_TRANSFORMER not in props:
        return None
    try:
        return parse_spec(props[TEXT_TRANSFORMER])
    except ValueError as exc:
        raise ExportError(f"the model's tokenizer step does not parse: {exc}") from None


def same_step(recorded: TransformerTextSpec, source: TransformerTextSpec) -> bool:
    return json.dumps(recorded.to_json(), sort_keys=True) == json.dumps(source.to_json(), sort_keys=True)


def export_kerashub_task(
    task: Any, input_name: str = TEXT_INPUT, opset: int = MAX_OPSET
) -> tuple[onnx.ModelProto, TransformerTextSpec]:
    """The logits graph (one output, `logits`, no Sigmoid) and its tokenizer spec: the tokenizer proofs and the
    benchmarks use it; `export_model` runs the full pipeline (head decision, Sigmoid, parity, metadata)."""
    if not is_kerashub_task(task):
        raise ExportError(f"{type(task).__name__} is not a KerasHub TextClassifier task")
    plan = plan_transformer(task, input_name)
    frozen = freeze_backbone_and_head(task, plan.onnx_inputs)
    model = graph_to_onnx(frozen, opset)
    for tensor_name, spec in zip(frozen.input_tensor_names, plan.onnx_inputs, strict=True):
        rename_tensor(model.graph, tensor_name, spec.name)
    rename_tensor(model.graph, model.graph.output[0].name, LOGITS)
    rewrite_erfc(model.graph)  # DistilBERT's exact GELU: tf2onnx leaves an Erfc that ONNX lacks
    check_known_ops(model)
    return model, plan.spec
