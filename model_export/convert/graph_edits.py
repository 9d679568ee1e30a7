"""Edits on the converted ONNX graph: names, dynamic batch, tf2onnx fix-ups and the Sigmoid head."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from model_export.errors import ExportError

PROBABILITIES = "probabilities"
LOGITS = "logits"
BATCH_DIM = "batch"
# Clipping keeps log(p) - log(1-p) finite when float32 p rounds to exactly 0 or 1.
_LOGIT_EPS = 1e-7


def rename_tensor(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new


def check_graph_inputs(model: onnx.ModelProto, expected: Sequence[str]) -> None:
    initializers = {init.name for init in model.graph.initializer}
    actual = [value.name for value in model.graph.input if value.name not in initializers]
    if actual != list(expected):
        raise ExportError(
            f"the converted graph takes inputs {actual} but the model declares {list(expected)}; tf2onnx "
            "turned something (often an adapted Normalization layer's constants) into extra inputs. "
            "Refusing: clients could not feed them."
        )


def rewrite_erfc(graph: onnx.GraphProto) -> int:
    """tf2onnx emits TF's Erfc (exact GELU) as-is, but Erfc is no ONNX op: use 1 - Erf(x)."""
    rewritten = 0
    nodes = list(graph.node)
    del graph.node[:]
    for node in nodes:
        if node.op_type != "Erfc":
            graph.node.append(node)
            continue
        erf_out = f"{node.output[0]}__erf"
        one = f"{node.output[0]}__one"
        graph.initializer.append(numpy_helper.from_array(np.array(1.0, dtype=np.float32), one))
        graph.node.append(helper.make_node("Erf", [node.input[0]], [erf_out], name=f"{node.name}__erf"))
        graph.node.append(helper.make_node("Sub", [one, erf_out], list(node.output), name=f"{node.name}__sub"))
        rewritten += 1
    return rewritten


def check_known_ops(model: onnx.ModelProto) -> None:
    """tf2onnx keeps unconvertible TF ops as nodes of the same name; the checker alone words this poorly."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    unknown = sorted(
        {
            f"{node.domain + '.' if node.domain else ''}{node.op_type}"
            for node in model.graph.node
            if node.domain not in ("", "ai.onnx") or not onnx.defs.has(node.op_type, node.domain)
        }
    )
    if unknown:
        raise ExportError(
            f"tf2onnx could not convert these TensorFlow ops (opset {opset}): {', '.join(unknown)}. Replace "
            "them in the model with supported ops, or try another --opset."
        )


def finish_graph(
    model: onnx.ModelProto,
    input_renames: dict[str, str],
    output_name: str,
    output_is_logits: bool,
    n_labels: int,
    columns: Sequence[int] | None = None,
) -> None:
    """Final interface: inputs by Keras name, outputs [probabilities, logits], dynamic batch. With `columns`, only
    those output columns are served (in that order; `n_labels` of them): the others (--drop-label) are cut."""
    graph = model.graph
    for old, new in input_renames.items():
        rename_tensor(graph, old, new)
    produced = LOGITS if output_is_logits else PROBABILITIES
    rename_tensor(graph, output_name, f"{produced}__raw")
    served = f"{produced}__raw"
    if columns is not None:
        served = _keep_columns(graph, served, columns)
    _cast_to_float(graph, served, produced)
    if output_is_logits:
        graph.node.append(helper.make_node("Sigmoid", [LOGITS], [PROBABILITIES], name="appended_sigmoid"))
    else:
        _append_logit(graph)
    del graph.output[:]
    for name in (PROBABILITIES, LOGITS):
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [BATCH_DIM, n_labels]))
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = BATCH_DIM
        for index, dim in enumerate(dims[1:], start=1):
            if not dim.HasField("dim_value"):
                dim.dim_param = f"{value.name}_dim{index}"


def _keep_columns(graph: onnx.GraphProto, source: str, columns: Sequence[int]) -> str:
    """The output's columns `columns` only: a Gather on the label axis (tf2onnx's output is [batch, n_outputs])."""
    kept = f"{source}__kept"
    graph.initializer.append(numpy_helper.from_array(np.asarray(columns, np.int64), f"{kept}__columns"))
    graph.node.append(helper.make_node("Gather", [source, f"{kept}__columns"], [kept], axis=1, name="kept_labels"))
    for output in graph.output:  # its element type tells the cast what it casts (finish_graph rewrites the outputs)
        if output.name == source:
            output.name = kept
    return kept


def _cast_to_float(graph: onnx.GraphProto, source: str, target: str) -> None:
    elem_type = next((o.type.tensor_type.elem_type for o in graph.output if o.name == source), TensorProto.FLOAT)
    if elem_type == TensorProto.FLOAT:
        graph.node.append(helper.make_node("Identity", [source], [target], name=f"{target}_identity"))
    else:  # e.g. mixed-precision models with a float16 head: clients get float32 regardless
        graph.node.append(helper.make_node("Cast", [source], [target], to=TensorProto.FLOAT, name=f"{target}_cast"))


def _append_logit(graph: onnx.GraphProto) -> None:
    consts = {"logit__eps": _LOGIT_EPS, "logit__max": 1.0 - _LOGIT_EPS, "logit__one": 1.0}
    for name, value in consts.items():
        graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
    graph.node.extend(
        [
            helper.make_node("Clip", [PROBABILITIES, "logit__eps", "logit__max"], ["logit__p"], name="logit_clip"),
            helper.make_node("Log", ["logit__p"], ["logit__log_p"], name="logit_log_p"),
            helper.make_node("Sub", ["logit__one", "logit__p"], ["logit__q"], name="logit_one_minus_p"),
            helper.make_node("Log", ["logit__q"], ["logit__log_q"], name="logit_log_q"),
            helper.make_node("Sub", ["logit__log_p", "logit__log_q"], [LOGITS], name="logit_from_probabilities"),
        ]
    )
