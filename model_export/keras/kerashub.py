"""A KerasHub TextClassifier task -> (ONNX logits graph over token ids, the tokenizer spec that feeds it).

The backbone and head are traced as one tf.function over the backbone's integer inputs (token_ids, segment_ids,
padding_mask with a free batch and sequence axis) and converted with the exporter's own freeze + tf2onnx path; the
preprocessor becomes a `TransformerTextSpec` that the service runs before ONNX Runtime (docs/export/transformers.md).
"""

from __future__ import annotations

from typing import Any

import onnx

from model_export.convert.graph_edits import check_known_ops, rename_tensor, rewrite_erfc
from model_export.convert.to_onnx import MAX_OPSET, freeze_signature, graph_to_onnx
from model_export.errors import ExportError
from model_export.input_spec import InputSpec
from model_export.text.kerashub_preprocessor import preprocessor_spec
from service.contract.text.transformer_spec import TransformerTextSpec

LOGITS = "logits"


def is_kerashub_task(model: Any) -> bool:
    try:
        import keras_hub
    except ImportError:
        return False
    return isinstance(model, keras_hub.models.TextClassifier)


def export_kerashub_task(
    task: Any, input_name: str = "text", opset: int = MAX_OPSET
) -> tuple[onnx.ModelProto, TransformerTextSpec]:
    """The logits graph and its tokenizer spec; ExportError when either cannot be reproduced exactly."""
    if not is_kerashub_task(task):
        raise ExportError(f"{type(task).__name__} is not a KerasHub TextClassifier task")
    if task.preprocessor is None:
        raise ExportError("the task has no preprocessor: a model served from raw strings needs its tokenizer")
    names = backbone_input_names(task)
    spec = preprocessor_spec(
        task.preprocessor, {name: name for name in names}, int(task.backbone.vocabulary_size), input_name
    )
    return logits_graph(task, names, opset), spec


def backbone_input_names(task: Any) -> list[str]:
    inputs = task.input
    if not isinstance(inputs, dict):
        raise ExportError(f"the task takes {type(inputs).__name__} inputs; a KerasHub backbone takes a dict")
    return sorted(inputs)


def logits_graph(task: Any, names: list[str], opset: int = MAX_OPSET) -> onnx.ModelProto:
    import tensorflow as tf

    specs = [InputSpec(name, (None, None), "int32") for name in names]
    signature = [tf.TensorSpec((None, None), tf.int32, name=name) for name in names]

    @tf.function(input_signature=signature)
    def logits(*tensors: Any) -> Any:
        return task(dict(zip(names, tensors, strict=True)), training=False)

    frozen = freeze_signature(logits.get_concrete_function(), specs)
    model = graph_to_onnx(frozen, opset)
    for tensor_name, name in zip(frozen.input_tensor_names, names, strict=True):
        rename_tensor(model.graph, tensor_name, name)
    rename_tensor(model.graph, model.graph.output[0].name, LOGITS)
    rewrite_erfc(model.graph)  # DistilBERT's exact GELU: tf2onnx leaves an Erfc that ONNX lacks
    check_known_ops(model)
    return model
