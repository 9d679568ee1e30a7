"""Where a Keras model reads raw strings, and the model cut after its text layers for conversion.

A string input may only go, directly, into built-in TextVectorization / StringLookup layers at the top level of
the model. The ONNX model then takes what those layers output (one ONNX input per text layer, named after it) plus
the numeric inputs; the layers themselves become text-step specs in the metadata (see
service/contract/text/keras_layers.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from model_export.errors import ExportError
from model_export.input_spec import InputSpec
from model_export.text.layers import is_text_layer, text_layer_spec
from service.contract.text.keras_layers import TextStep
from service.contract.text.spec import TextStepSpec

STRING = "string"
BAG_OF_WORDS = ("multi_hot", "count", "tf_idf")
SAVED_MODEL_MESSAGE = (
    "the SavedModel takes raw strings (a tf.string input), and a SavedModel does not say which TextVectorization "
    "or StringLookup produced its token ids. Export from the .keras (or .h5) file instead: its text layers are "
    "reproduced by the service."
)


@dataclass
class TextUse:
    """One text layer applied to one string input of the model."""

    layer: Any
    input_name: str
    string_shape: tuple[int, ...]
    tensor: Any  # the layer's output KerasTensor in this model: where the model is cut
    spec: TextStepSpec  # needs_token still False; decided by the parity run
    squeezed: bool = False  # Keras declares [1, *row_shape] but the layer runs [*row_shape] (text/shapes.py)


@dataclass
class TextPlan:
    uses: list[TextUse]
    onnx_inputs: list[InputSpec]  # what the converted graph takes, in the model's input order
    cut_tensors: list[Any]  # the KerasTensor behind each ONNX input
    refuse_empty_texts: bool = False  # every step's needs_known_token: the exporter's --refuse-empty-texts

    def specs(self, needs_token: dict[str, bool]) -> list[TextStepSpec]:
        return [
            replace(
                use.spec, needs_token=needs_token.get(use.spec.feeds, False), needs_known_token=self.refuse_empty_texts
            )
            for use in self.uses
        ]

    def steps(self, needs_token: dict[str, bool]) -> list[TextStep]:
        return [TextStep(spec) for spec in self.specs(needs_token)]


def has_string_input(model: Any) -> bool:
    return any(str(t.dtype) == STRING for t in model.inputs)


def refuse_nested_text_layers(model: Any, what: str) -> None:
    layers = model._flatten_layers(include_self=False) if hasattr(model, "_flatten_layers") else model.layers
    names = [layer.name for layer in layers if is_text_layer(layer)]
    if names:
        raise ExportError(
            f"{what} holds text layer(s) {names} that cannot be reached from the model's own inputs. Build a "
            "functional or Sequential model whose keras.Input(dtype='string') goes straight into the text layer."
        )


def plan_text_model(model: Any, inputs: list[InputSpec]) -> TextPlan:
    """The text layers on the model's string inputs, checked; ExportError naming what cannot be served."""
    graph = getattr(model, "_functional", None) or model
    string_inputs = {id(t): t for t in model.inputs if str(t.dtype) == STRING}
    uses: dict[str, list[TextUse]] = {}
    nodes = [node for depth in sorted(graph._nodes_by_depth, reverse=True) for node in graph._nodes_by_depth[depth]]
    for node in nodes:
        consumed = [t for t in node.input_tensors if id(t) in string_inputs]
        if not consumed:
            continue
        layer = node.operation
        if not is_text_layer(layer) or len(node.input_tensors) != 1:
            raise ExportError(
                f"string input '{consumed[0].name}' goes into layer '{layer.name}' ({type(layer).__name__}). Only "
                "TextVectorization and StringLookup layers that take a string input directly can be reproduced "
                "by the service; move other string processing to the client."
            )
        uses.setdefault(consumed[0].name, []).append(_text_use(layer, consumed[0], node.output_tensors[0]))
    onnx_inputs, cut_tensors = [], []
    for spec, tensor in zip(inputs, model.inputs, strict=True):
        if spec.dtype != STRING:
            onnx_inputs.append(spec)
            cut_tensors.append(tensor)
            continue
        if spec.name not in uses:
            raise ExportError(f"string input '{spec.name}' is not used by any TextVectorization or StringLookup layer")
        for use in sorted(uses[spec.name], key=lambda u: u.layer.name):
            onnx_inputs.append(InputSpec(use.spec.feeds, (None, *use.spec.row_shape), _dtype_of(use.spec)))
            cut_tensors.append(use.tensor)
    names = [spec.name for spec in onnx_inputs]
    if len(set(names)) != len(names):
        raise ExportError(f"the converted model's inputs would share a name ({names}); rename the text layers")
    flat = [use for group in uses.values() for use in group]
    return TextPlan(sorted(flat, key=lambda u: names.index(u.spec.feeds)), onnx_inputs, cut_tensors)


def cut_model(graph_model: Any, plan: TextPlan) -> Any:
    """keras.Model from the text layers' outputs (and the numeric inputs) to the graph model's output."""
    import keras

    try:
        return keras.Model(plan.cut_tensors, graph_model.outputs[0])
    except ValueError as exc:
        raise ExportError(f"the model cannot be cut after its text layers: {exc}") from exc


def _text_use(layer: Any, string_input: Any, output: Any) -> TextUse:
    string_shape = tuple(string_input.shape[1:])
    if string_shape not in ((), (1,)):
        raise ExportError(
            f"string input '{string_input.name}' has shape {[None, *string_shape]}; a text input takes one string "
            "per example: keras.Input(shape=(1,), dtype='string') or keras.Input(shape=(), dtype='string')."
        )
    spec = text_layer_spec(layer, string_input.name, string_shape, layer.name, needs_token=False)
    symbolic = tuple(output.shape[1:])
    expected = spec.row_shape
    # A declared None takes any length; a declared length must be the one computed (None: each text's own).
    compatible = len(symbolic) == len(expected) and all(
        s is None or s == e for s, e in zip(symbolic, expected, strict=True)
    )
    # Bag-of-words on shape (1,): Keras keeps the string axis in the declared shape; the layer drops it when it runs.
    squeezed = spec.output_mode in BAG_OF_WORDS and string_shape == (1,) and symbolic == (1, *expected)
    if not compatible and not squeezed:
        raise ExportError(
            f"{type(layer).__name__} layer '{layer.name}' outputs rows of shape {list(expected)} when it runs, but "
            f"Keras declares {list(symbolic)} for the layers after it, so the model after it cannot be "
            "converted as Keras built it."
        )
    if str(output.dtype) != _dtype_of(spec):
        raise ExportError(f"layer '{layer.name}' declares {output.dtype} output, but computes {_dtype_of(spec)}")
    return TextUse(layer, string_input.name, string_shape, output, spec, squeezed)


def _dtype_of(spec: TextStepSpec) -> str:
    return "int64" if spec.output_mode == "int" else "float32"
