"""with_sigmoid(): the Keras answer to "can a sigmoid be active only at inference, not in training?".

Train the logits model with BinaryCrossentropy(from_logits=True); for inference, wrap it in a model that ends in a
sigmoid. The wrapper reuses the logits model's layers, so both share the same weight variables: nothing is copied
or retrained, and further training of the logits model shows up in the inference model at once.

Which heads are accepted is the exporter's decision (model_export.keras.head), so Keras and ONNX never disagree: a
linear last layer is wrapped; a softmax, another activation or a sigmoid already in place is refused.
"""

from __future__ import annotations

from typing import Any

from model_export.errors import ExportError
from model_export.keras.head import decide_keras_head
from model_export.keras.load import interpret_loss_config
from service.contract.metadata import HEAD_APPENDED_SIGMOID

PROBABILITIES = "probabilities"


def with_sigmoid(logits_model: Any, name: str | None = None) -> Any:
    """A keras.Model with the inputs of `logits_model` whose output is sigmoid(logits): per-label probabilities."""
    import keras

    if not isinstance(logits_model, keras.Model) or not _has_graph(logits_model):
        raise ExportError(
            "with_sigmoid needs a functional or Sequential keras.Model with known inputs; a subclassed model has "
            "no graph to extend. Build it with keras.Input, or wrap it yourself: "
            "keras.Model(inputs, keras.layers.Activation('sigmoid')(model(inputs)))."
        )
    # Accepting a sigmoid output here only so the decision names it instead of raising the exporter's CLI advice.
    decision = decide_keras_head(logits_model, _loss_of(logits_model), accept_sigmoid_output=True)
    if decision.kind != HEAD_APPENDED_SIGMOID:
        # Not the decision's explanation: that one describes an export ("exported its logits"), and here
        # nothing is exported.
        raise ExportError(
            f"model '{logits_model.name}' already ends in a sigmoid (its last layer '{logits_model.layers[-1].name}' "
            "applies one): it is an inference model already, and wrapping it would apply the sigmoid twice, "
            "squashing every probability into [0.5, 0.73]. Pass the model that outputs logits (a linear last layer)."
        )
    probabilities = keras.layers.Activation("sigmoid", name=PROBABILITIES)(logits_model.outputs[0])
    return keras.Model(logits_model.inputs, probabilities, name=name or f"{logits_model.name}_inference")


def _has_graph(model: Any) -> bool:
    try:
        return bool(model.inputs) and len(model.outputs) == 1
    except (AttributeError, ValueError):
        return False


def _loss_of(model: Any) -> Any:
    """What the compiled loss says about from_logits (a linear head trained on probabilities is refused)."""
    return interpret_loss_config((model.get_compile_config() or {}).get("loss"))
