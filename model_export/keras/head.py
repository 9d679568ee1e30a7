"""Decide what the ONNX head must do, from the model itself: append a Sigmoid, recover logits, or refuse.

A double sigmoid is the failure this module exists to prevent: sigmoid(sigmoid(x)) lies in
[0.5, 0.73], so every label would pass a 0.5 threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model_export.errors import ExportError
from model_export.keras.load import LossInfo
from service.contract.metadata import HEAD_APPENDED_SIGMOID, HEAD_LOGITS_RECOVERED, HEAD_SIGMOID_ACCEPTED

ACCEPT_FLAG = "--accept-sigmoid-output"

SOFTMAX_MESSAGE = (
    "the model ends in a softmax, so it is a single-label classifier: its outputs compete and sum to 1, "
    "which cannot express several labels being true at once. Retrain it as a multi-label model with a "
    "linear last layer (no activation) and keras.losses.BinaryCrossentropy(from_logits=True), then export."
)


def double_sigmoid_message(where: str) -> str:
    return (
        f"{where} already ends in a sigmoid and its logits cannot be recovered exactly. Appending the "
        "exporter's Sigmoid would apply it twice, squashing every probability into [0.5, 0.73] so that "
        "every label passes a 0.5 threshold. Either re-save the model with a linear last layer (preferred), "
        f"or pass {ACCEPT_FLAG} to export its output unchanged as 'probabilities', with 'logits' computed "
        "in ONNX as log(p) - log(1 - p) (approximate; metadata logits_exact=false)."
    )


def contradictory_loss_message(what: str, loss: LossInfo) -> str:
    return (
        f"{what} (it outputs logits) but the saved loss is {loss.description}, "
        "which expects probabilities. These contradict each other: either the model was trained on "
        "probabilities it does not output (the head lost its sigmoid), or the head is wrong. Fix the "
        "model: a linear head trained with BinaryCrossentropy(from_logits=True) is what this "
        "exporter expects."
    )


@dataclass
class HeadDecision:
    kind: str  # one of the HEAD_* values stored in the `head` metadata key
    logits_exact: bool
    explanation: str
    # For Keras sources: the model to convert. It returns logits when logits_exact, else probabilities.
    graph_model: Any = None
    warnings: list[str] = field(default_factory=list)


def decide_keras_head(model: Any, loss: LossInfo, accept_sigmoid_output: bool = False) -> HeadDecision:
    import keras

    output = model.outputs[0]
    if len(output.shape) != 2:
        raise ExportError(
            f"the model output has shape {tuple(output.shape)}; a multi-label classifier must output [batch, n_labels]"
        )
    path = output_path(model)
    layer = path.layer
    activation = _activation_name(layer)
    inputs = list(model.inputs)
    where = f"'{layer.name}'{path.where}"
    if activation == "softmax":
        raise ExportError(SOFTMAX_MESSAGE)
    if activation in ("linear", None):
        if loss.from_logits is False:
            raise ExportError(contradictory_loss_message("the last layer is linear", loss))
        return HeadDecision(
            HEAD_APPENDED_SIGMOID,
            True,
            f"last layer {where} is linear: appended an ONNX Sigmoid",
            graph_model=keras.Model(inputs, output),
        )
    if activation != "sigmoid":
        raise ExportError(
            f"the last layer {where} applies '{activation}', which is neither linear (logits) nor "
            "sigmoid. A multi-label head must output unbounded logits: use a linear last layer."
        )
    warnings = []
    if loss.from_logits is True:
        warnings.append(
            f"the model ends in a sigmoid but was compiled with {loss.description}: training treated its "
            "probabilities as logits; check its predictions"
        )
    logits = _recover_logits(layer, path.layer_input)
    if logits is not None:
        return HeadDecision(
            HEAD_LOGITS_RECOVERED,
            True,
            f"last layer {where} applies a sigmoid: exported its logits exactly and appended an "
            "ONNX Sigmoid (no double sigmoid)",
            graph_model=keras.Model(inputs, path.outward(logits)),
            warnings=warnings,
        )
    if not accept_sigmoid_output:
        raise ExportError(double_sigmoid_message(f"the model (last layer {where})"))
    return accepted_sigmoid_decision(keras.Model(inputs, output), warnings)


def accepted_sigmoid_decision(graph_model: Any = None, warnings: list[str] | None = None) -> HeadDecision:
    return HeadDecision(
        HEAD_SIGMOID_ACCEPTED,
        False,
        f"model output is already a sigmoid ({ACCEPT_FLAG}): exported it unchanged as probabilities; "
        "logits = log(p) - log(1-p) computed in ONNX, not exact",
        graph_model=graph_model,
        warnings=list(warnings or []),
    )


def check_graph_output_op(decision: HeadDecision, op_type: str, accept_sigmoid_output: bool) -> HeadDecision:
    """Second opinion from the traced graph: catches sigmoids hidden in Lambda or custom layers."""
    if op_type == "Softmax":
        raise ExportError(SOFTMAX_MESSAGE)
    if op_type != "Sigmoid" or not decision.logits_exact:
        return decision
    if decision.kind == HEAD_APPENDED_SIGMOID and accept_sigmoid_output:
        return accepted_sigmoid_decision(decision.graph_model, decision.warnings)
    raise ExportError(double_sigmoid_message("the model's output graph (its last op is Sigmoid)"))


def decide_graph_head(op_type: str, accept_sigmoid_output: bool) -> HeadDecision:
    """For a SavedModel: only the op producing the output is known."""
    linear = HeadDecision(
        HEAD_APPENDED_SIGMOID, True, f"output op is {op_type} (no activation): appended an ONNX Sigmoid"
    )
    return check_graph_output_op(linear, op_type, accept_sigmoid_output)


def decide_subclassed_head(model: Any, op_type: str, loss: LossInfo, accept_sigmoid_output: bool) -> HeadDecision:
    """A subclassed model's layers say nothing about its head: judge the traced graph's last op."""
    linear = HeadDecision(
        HEAD_APPENDED_SIGMOID,
        True,
        f"subclassed model whose output op is {op_type} (no activation): appended an ONNX Sigmoid",
        graph_model=model,
    )
    decision = check_graph_output_op(linear, op_type, accept_sigmoid_output)
    if decision.logits_exact and loss.from_logits is False:
        raise ExportError(contradictory_loss_message(f"the subclassed model's output op is {op_type}", loss))
    return decision


@dataclass
class OutputPath:
    """The layer that computes a model's output, found through the models nested in it (keras.io's
    `Sequential([text_vectorizer, shallow_mlp_model])` ends in the nested model, not in its Dense)."""

    layer: Any
    layer_input: Any  # the KerasTensor the layer was called on (in the innermost model's graph), or None
    nested: list[tuple[Any, list[Any]]]  # outermost first: each nested model and the tensors it was called on

    @property
    def where(self) -> str:
        return "".join(f" in nested model '{model.name}'" for model, _ in reversed(self.nested))

    def outward(self, tensor: Any) -> Any:
        """A tensor of the innermost model's graph, computed from the outer model's inputs: each nested model's
        graph up to it, called where that model was called. The layers are shared, so the values are exact."""
        import keras

        for model, called_on in reversed(self.nested):
            inner = keras.Model(model.inputs, tensor)
            tensor = inner(called_on[0] if len(called_on) == 1 else called_on)
        return tensor


def output_path(model: Any) -> OutputPath:
    import keras

    nested: list[tuple[Any, list[Any]]] = []
    tensor = model.outputs[0]
    while True:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return OutputPath(model.layers[-1], None, nested)
        operation = history.operation
        node = operation._inbound_nodes[history.node_index]
        if isinstance(operation, keras.Model) and _single_output(operation) is not None:
            nested.append((operation, list(node.input_tensors)))
            tensor = _single_output(operation)
            continue
        return OutputPath(operation, node.input_tensors[0] if len(node.input_tensors) == 1 else None, nested)


def _single_output(model: Any) -> Any:
    """A nested model's one output tensor in its own graph (Functional, or a built Sequential), or None."""
    try:
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError):  # a subclassed model, or a Sequential never built
        return None
    return outputs[0] if len(outputs) == 1 else None


def _activation_name(layer: Any) -> str | None:
    import keras

    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None  # e.g. Add/Concatenate: no activation of its own; the graph check still looks
    return getattr(activation, "__name__", repr(activation))


def _recover_logits(layer: Any, layer_input: Any) -> Any:
    """The exact pre-sigmoid tensor of `layer`, or None when it cannot be had."""
    import keras

    if layer_input is None:
        return None  # several inputs, or a layer outside any graph: nothing to apply a linear copy to
    if isinstance(layer, keras.layers.Activation):
        return layer_input  # the Activation's input is the logits tensor itself
    try:
        config = layer.get_config()
        config["activation"] = "linear"
        config["name"] = f"{layer.name}_logits"
        linear_copy = layer.__class__.from_config(config)
        logits = linear_copy(layer_input)
        linear_copy.set_weights(layer.get_weights())  # same weights, so logits are exact
    except Exception:
        return None  # a layer that cannot be rebuilt from its config
    return logits
