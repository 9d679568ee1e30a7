"""Text models whose Keras shapes are not the ones that run, made convertible as they run.

- A Sequential saved before it was ever called, whose first layer is a text layer (keras.io's
  `keras.Sequential([text_vectorizer, shallow_mlp_model])` saved as built): it has no input, so nothing says what it
  reads. Built here on one string per example, which is how keras.io calls it (`model.predict(text_batch)`).
- A bag-of-words TextVectorization (multi_hot, count, tf_idf) on a `keras.Input(shape=(1,), dtype="string")`:
  Keras declares its output [1, depth] and builds the layers after it on that shape, but the layer squeezes the
  string axis when it runs and gives [depth], so `predict` answers [batch, labels] while the model declares
  [batch, 1, labels]. The layers after it are rebuilt (the same layer objects, so the same weights) on the shape that
  runs; the parity check against the model as loaded proves the rebuild.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from model_export.text.layers import is_text_layer
from model_export.text.plan import TextPlan

BUILT_INPUT_NAME = "text"


def build_unbuilt_text_sequential(model: Any) -> Any:
    """An unbuilt Sequential whose first layer is a text layer and whose other layers hold their weights, built on a
    string input of shape () named "text"; any other model as it is."""
    import keras

    if not isinstance(model, keras.Sequential) or model.built or not model.layers:
        return model
    layers = list(model.layers)
    if not is_text_layer(layers[0]) or not all(layer.built for layer in layers):
        return model  # a layer without weights would be built with new random ones: leave the refusal to the caller
    text = keras.Input(shape=(), dtype="string", name=BUILT_INPUT_NAME)
    return keras.Sequential([text, *layers], name=model.name)


def rebuild_as_run(model: Any, plan: TextPlan) -> tuple[Any, TextPlan]:
    """(the model with the layers after each squeezed text layer rebuilt on its [depth] rows, its plan); the model
    unchanged when no text layer needs it."""
    import keras

    if not any(use.squeezed for use in plan.uses):
        return model, plan
    by_tensor = {id(use.tensor): use for use in plan.uses}
    run_tensors = []
    for tensor in plan.cut_tensors:
        use = by_tensor.get(id(tensor))
        if use is not None and use.squeezed:
            tensor = keras.layers.Reshape(use.spec.row_shape, name=f"{use.layer.name}_rows_as_run")(tensor)
        run_tensors.append(tensor)
    after = keras.Model(plan.cut_tensors, model.outputs[0])  # the layers after the text layers, as Keras built them
    inputs = run_tensors if isinstance(after.input, list) else run_tensors[0]
    # Each layer called again, in graph order, on the tensors that run (what keras.models.clone_model does with
    # clone_function=identity, without the new Input layers it puts between the text layers and the rest).
    output = after._run_through_graph(inputs, operation_fn=lambda layer: layer)
    as_run = keras.Model(model.inputs, output, name=model.name)
    moved = {id(old): new for old, new in zip(plan.cut_tensors, run_tensors, strict=True)}
    uses = [replace(use, tensor=moved.get(id(use.tensor), use.tensor)) for use in plan.uses]
    return as_run, TextPlan(uses, plan.onnx_inputs, run_tensors)
