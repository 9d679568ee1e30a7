"""TensorFlow → ONNX with tf2onnx: freeze the graph, convert, and turn tf2onnx's silent failures into errors.

Why freeze first: `tf2onnx.convert.from_function` turns constants captured by the function
(e.g. an adapted Normalization layer's mean/variance) into extra graph inputs; freezing with
convert_variables_to_constants_v2 inlines them. Going through a tf.function also avoids
`from_keras`, which fails on every keras.Sequential (KeyError 'keras_tensor_N', tf2onnx #2448).

Why freeze without lowering control flow: lowered (TF1 Enter/Switch/Merge) loops leave Keras 3 RNNs
with a TensorListReserve tf2onnx cannot convert; kept as functional While ops, tf2onnx rewrites an LSTM
into an ONNX LSTM node and a GRU into an ONNX Loop (as its own from_function does).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import onnx

from model_export.errors import ExportError
from model_export.input_spec import InputSpec

MIN_OPSET = 13
MAX_OPSET = 18  # tf2onnx 1.17 refuses anything newer
_PASS_THROUGH_OPS = {"Identity", "IdentityN", "StopGradient", "Snapshot"}


@dataclass
class FrozenGraph:
    graph_def: Any  # tf.compat.v1.GraphDef with variables inlined as constants
    input_tensor_names: list[str]  # in the order of the InputSpecs, e.g. "pixels:0"
    output_tensor_name: str
    output_op_type: str  # op producing the output, Identity-like ops skipped
    output_width: int | None


def check_opset(opset: int) -> None:
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(
            f"opset {opset} is not supported: tf2onnx 1.17 converts up to opset {MAX_OPSET} "
            f"(it refuses newer ones), and this exporter needs at least {MIN_OPSET}. "
            f"Use --opset {MAX_OPSET} or lower; ONNX Runtime runs these opsets fine."
        )


def freeze_keras(model: Any, inputs: Sequence[InputSpec]) -> FrozenGraph:
    import tensorflow as tf

    signature = [tf.TensorSpec(spec.shape, spec.dtype, name=spec.name) for spec in inputs]

    @tf.function(input_signature=signature)
    def forward(*tensors: Any) -> Any:
        # One input goes in bare: a subclassed model's call() takes the tensor, not a list of one.
        return model(tensors[0] if len(tensors) == 1 else list(tensors), training=False)

    return _freeze(forward.get_concrete_function(), inputs)


def freeze_signature(signature: Any, inputs: Sequence[InputSpec]) -> FrozenGraph:
    return _freeze(signature, inputs)


def _freeze(function: Any, inputs: Sequence[InputSpec]) -> FrozenGraph:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    logger = tf.get_logger()
    level = logger.level
    # A model cut after its text layers still sees their lookup tables' initializers in the graph collections;
    # exporting those collections warns about them, harmlessly (the frozen graph does not use them).
    logger.setLevel(logging.ERROR)
    try:
        frozen = convert_variables_to_constants_v2(function, lower_control_flow=False, aggressive_inlining=True)
    finally:
        logger.setLevel(level)
    placeholders = [t for t in frozen.inputs if t.dtype != tf.resource]
    by_op_name = {t.op.name: t.name for t in placeholders}
    if all(spec.name in by_op_name for spec in inputs):
        input_names = [by_op_name[spec.name] for spec in inputs]
    elif len(placeholders) == len(inputs):
        input_names = [t.name for t in placeholders]
    else:
        raise ExportError(
            f"the traced graph has inputs {sorted(by_op_name)} but the model declares "
            f"{[s.name for s in inputs]}; cannot match them"
        )
    if len(frozen.outputs) != 1:
        raise ExportError(f"the model has {len(frozen.outputs)} outputs; one multi-label output is expected")
    output = frozen.outputs[0]
    graph_def = frozen.graph.as_graph_def()
    width = output.shape[-1] if output.shape.rank else None
    return FrozenGraph(graph_def, input_names, output.name, _producing_op(graph_def, output.name), width)


def _producing_op(graph_def: Any, tensor_name: str) -> str:
    nodes = {node.name: node for node in graph_def.node}
    node = nodes.get(tensor_name.split(":")[0])
    while node is not None and node.op in _PASS_THROUGH_OPS:
        data_inputs = [name for name in node.input if not name.startswith("^")]
        node = nodes.get(data_inputs[0].split(":")[0]) if data_inputs else None
    return node.op if node is not None else "unknown"


def graph_to_onnx(frozen: FrozenGraph, opset: int) -> onnx.ModelProto:
    import tensorflow as tf
    import tf2onnx

    check_opset(opset)
    # tf2onnx logs unsupported ops instead of raising; known_op_check() reports them as an ExportError.
    for name in [n for n in logging.root.manager.loggerDict if n.startswith("tf2onnx")] + ["tf2onnx"]:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    tf.get_logger().setLevel(logging.ERROR)
    try:
        model, _ = tf2onnx.convert.from_graph_def(
            frozen.graph_def,
            input_names=frozen.input_tensor_names,
            output_names=[frozen.output_tensor_name],
            opset=opset,
        )
    except Exception as exc:
        raise ExportError(f"tf2onnx could not convert the model: {type(exc).__name__}: {exc}") from exc
    return model
