"""Everything a model file must hold to be served, read and checked in one call: `read_model_file`.

The server runs it on every version it loads (then warms the model up with `example_feeds` and `check_warm_up`),
and the exporter's commands run the same three on the files they read or write, so a file the exporter accepts is a
file the server serves, and the other way round. The graph's inputs and outputs come from whatever opened the file
(ONNX Runtime's node descriptions, read by `graph_inputs_of` without importing ONNX Runtime); the rest is metadata.

A text model's inputs are not its graph's: clients send text, which its text steps turn into the graph's inputs.
`ModelFile.inputs` are what clients send (each text input where its first step's feed is, numbers as they are);
`ModelFile.graph_inputs` what the graph takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InvalidModelFile
from .input_aliases import InvalidInputAliases, parse_input_aliases
from .labels import read_labels_and_thresholds
from .metadata import OUTPUTS
from .reference_rates import InvalidReferenceRates, ReferenceRates, parse_reference_rates
from .text.keras_layers import TextStep, text_steps_from_metadata
from .text.transformer_step import TransformerTextStep, transformer_step_from_metadata

# The dtype of a text input: one Python str per row (numpy's object dtype, as tritonclient holds BYTES tensors).
TEXT = np.dtype(np.object_)

# The graph input types the service serves, by ONNX Runtime's type names.
SERVED_INPUT_TYPES = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(double)": np.dtype(np.float64),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(int64)": np.dtype(np.int64),
}


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: np.dtype  # TEXT for a text input
    shape: tuple[int | None, ...]  # None marks a dynamic dimension (the batch, at least)

    @property
    def row_shape(self) -> tuple[int | None, ...]:
        return self.shape[1:]

    @property
    def is_text(self) -> bool:
        return self.dtype == TEXT


@dataclass(frozen=True)
class ModelFile:
    labels: list[str]
    thresholds: np.ndarray  # float32 [labels]
    inputs: list[InputSpec]  # what clients send: text inputs (one string per row) and numeric ones
    graph_inputs: list[InputSpec]  # what the ONNX graph takes (the same as `inputs` without text steps)
    text_steps: list[TextStep]  # [] for a model without text inputs
    reference_rates: ReferenceRates | None
    metadata: dict[str, str]
    warnings: tuple[str, ...]  # what is wrong with the file but does not stop serving it
    input_aliases: dict[str, str] = field(default_factory=dict)  # {alias: input name}, for the native API
    transformer: TransformerTextStep | None = None  # a transformer's tokenizer step (then `text_steps` is [])

    def text_rules(self) -> dict[str, dict[str, bool]]:
        """Per text input, which texts it refuses with a 400: none with no token (`needs_token`), none with no
        known token (`needs_known_token`, the exporter's --refuse-empty-texts)."""
        rules: dict[str, dict[str, bool]] = {}
        for step in self.text_steps:
            rule = rules.setdefault(step.name, {"needs_token": False, "needs_known_token": False})
            rule["needs_token"] |= step.needs_token
            rule["needs_known_token"] |= step.needs_known_token
        return rules


def graph_inputs_of(nodes: Iterable[Any]) -> list[InputSpec]:
    """The graph's inputs from node descriptions with `.name`, `.type` and `.shape` (ONNX Runtime's NodeArg)."""
    inputs = []
    for node in nodes:
        if node.type not in SERVED_INPUT_TYPES:
            raise InvalidModelFile(f"input {node.name!r} has unsupported type {node.type}")
        shape = tuple(d if isinstance(d, int) and d > 0 else None for d in node.shape)
        inputs.append(InputSpec(node.name, SERVED_INPUT_TYPES[node.type], shape))
    return inputs


def read_session(session: Any) -> ModelFile:
    """The contents of the model file an ONNX Runtime session has open (its metadata, inputs and outputs), checked as
    read_model_file checks them. The session is made by the caller: the contract holds no session code."""
    outputs = session.get_outputs()
    return read_model_file(
        session.get_modelmeta().custom_metadata_map,
        graph_inputs_of(session.get_inputs()),
        [output.name for output in outputs],
        outputs[0].shape[-1] if outputs and outputs[0].shape else None,
    )


def read_model_file(
    metadata: Mapping[str, str], graph_inputs: list[InputSpec], output_names: Sequence[str], output_width: object
) -> ModelFile:
    """The model file's contents, checked; InvalidModelFile naming the first thing that breaks the contract.
    `output_width`: the last dimension of the first output (an int, or anything else when it is dynamic)."""
    if list(output_names[:2]) != list(OUTPUTS):
        raise InvalidModelFile(
            f"outputs are {list(output_names)}, expected {list(OUTPUTS)}; export it with model_export"
        )
    read = read_labels_and_thresholds(metadata)
    labels = read.labels
    if isinstance(output_width, int) and output_width != len(labels):
        raise InvalidModelFile(f"{len(labels)} labels in metadata but the output has {output_width} columns")
    try:
        steps = text_steps_from_metadata(metadata)
        transformer = transformer_step_from_metadata(metadata)
        if transformer is not None:
            if steps:
                raise ValueError("it records both text steps and a tokenizer step; a model has one or the other")
            inputs = transformer_inputs(transformer, graph_inputs)
        else:
            inputs = client_inputs(steps, graph_inputs) if steps else list(graph_inputs)
    except ValueError as exc:
        raise InvalidModelFile(f"cannot serve its text inputs: {exc}") from None
    warnings = (read.note,) if read.note else ()
    try:
        reference_rates = parse_reference_rates(metadata, labels, read.thresholds)
    except InvalidReferenceRates as exc:
        reference_rates, warnings = None, (*warnings, f"served without reference rates: {exc}")
    try:
        aliases = parse_input_aliases(metadata, [spec.name for spec in inputs])
    except InvalidInputAliases as exc:
        aliases, warnings = {}, (*warnings, f"served without input aliases: {exc}")
    thresholds = np.asarray(read.thresholds, np.float32)
    return ModelFile(
        labels,
        thresholds,
        inputs,
        list(graph_inputs),
        steps,
        reference_rates,
        dict(metadata),
        warnings,
        input_aliases=aliases,
        transformer=transformer,
    )


def transformer_inputs(step: TransformerTextStep, graph_inputs: list[InputSpec]) -> list[InputSpec]:
    """What clients send to a transformer: one text per row. ValueError when the step does not feed exactly the
    graph's inputs, each an integer [batch, tokens] of the step's type."""
    spec = step.spec
    graph = {g.name: g for g in graph_inputs}
    if sorted(graph) != sorted(spec.onnx_inputs):
        raise ValueError(
            f"its tokenizer step feeds {', '.join(sorted(spec.onnx_inputs))}, but the ONNX graph takes "
            f"{', '.join(sorted(graph))}"
        )
    for name in spec.onnx_inputs:
        if graph[name].dtype != np.dtype(spec.input_dtype) or len(graph[name].shape) != 2:
            raise ValueError(f"ONNX input {name!r} must be {spec.input_dtype} [batch, tokens] for its tokenizer step")
    return [InputSpec(spec.input, TEXT, (None,))]


def client_inputs(steps: list[TextStep], graph_inputs: list[InputSpec]) -> list[InputSpec]:
    """What clients send to a model with text steps: ValueError when the steps do not fit the graph's inputs."""
    by_feed = {step.feeds: step for step in steps}
    graph = {spec.name: spec for spec in graph_inputs}
    for step in steps:
        _check_feed(step, graph.get(step.feeds), sorted(graph))
    shapes: dict[str, tuple[int, ...]] = {}
    for step in steps:
        if shapes.setdefault(step.name, step.string_shape) != step.string_shape:
            raise ValueError(f"text input {step.name!r} is declared with two shapes by its text steps")
    clash = sorted(shapes.keys() & {spec.name for spec in graph_inputs if spec.name not in by_feed})
    if clash:
        raise ValueError(f"text input {clash[0]!r} has the name of an ONNX input that no text step feeds")
    inputs: dict[str, InputSpec] = {}
    for spec in graph_inputs:  # the graph's order, each text input where its first step's feed is
        step = by_feed.get(spec.name)
        if step is None:
            inputs[spec.name] = spec
        elif step.name not in inputs:
            inputs[step.name] = InputSpec(step.name, TEXT, (None, *step.string_shape))
    return list(inputs.values())


def example_feeds(model: ModelFile, rows: int) -> dict[str, np.ndarray]:
    """The graph's arrays for `rows` copies of one row: each text a word of its step's vocabulary, numbers 0.

    A text model warms up on a text of its own vocabulary, through its text steps: zeros would be all padding,
    which some text models answer with NaN (they refuse such a text with `needs_token`). A transformer warms up
    at its full sequence length (the most a call can cost)."""
    if model.transformer is not None:
        return model.transformer.encode(["text"] * rows)
    feeds = {step.feeds: step.transform([_example_text(step)] * rows) for step in model.text_steps}
    for spec in model.graph_inputs:
        if spec.name not in feeds:
            feeds[spec.name] = np.zeros((rows, *(d or 1 for d in spec.row_shape)), spec.dtype)
    return feeds


def check_warm_up(probabilities: np.ndarray, rows: int, labels: int) -> None:
    """A first run must give finite probabilities of shape [rows, labels]."""
    if probabilities.shape != (rows, labels) or not np.all(np.isfinite(probabilities)):
        raise InvalidModelFile(
            f"warm-up inference gave {list(probabilities.shape)} / non-finite probabilities (expected [{rows}, "
            f"{labels}], all finite)"
        )


def _check_feed(step: TextStep, graph_input: InputSpec | None, graph_names: list[str]) -> None:
    if graph_input is None:
        raise ValueError(
            f"the text step of input {step.name!r} feeds {step.feeds!r}, which is not an input of the ONNX graph "
            f"(its inputs: {', '.join(graph_names)})"
        )
    if graph_input.dtype != step.dtype:
        raise ValueError(
            f"the text step of input {step.name!r} gives {step.dtype} rows, but ONNX input {step.feeds!r} takes "
            f"{graph_input.dtype}"
        )
    wanted, found = step.row_shape, graph_input.row_shape
    fits = len(wanted) == len(found) and all(
        f is None if w is None else f in (None, w) for w, f in zip(wanted, found, strict=True)
    )
    if not fits:
        shown = ", ".join("tokens" if d is None else str(d) for d in wanted)
        graph = ", ".join("any" if d is None else str(d) for d in found)
        raise ValueError(
            f"the text step of input {step.name!r} gives rows of shape [{shown}], but ONNX input {step.feeds!r} "
            f"takes rows of shape [{graph}]"
        )


def _example_text(step: TextStep) -> str:
    """A text every step reads: the first token of its vocabulary (already standardized; an n-gram of words is
    those words)."""
    return next((token for token in step.spec.vocabulary if token), "text")
