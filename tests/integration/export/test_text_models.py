"""Every TextVectorization configuration, exported through the CLI, answers raw text as Keras does (within 1e-5).

The served path is the text step from the model's metadata + ONNX Runtime, one row at a time; the reference is
sigmoid(keras_model(text)) with each text alone. A text with no token gets a 400 message instead, never NaN.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.contract.text.keras_layers import text_steps_from_metadata
from tests.support.text_models import CORPUS, config_parameters, keras_probabilities, served_probabilities

keras = pytest.importorskip("keras")

TOLERANCE = 1e-5


PARAMETERS = config_parameters()


@pytest.mark.parametrize("config", PARAMETERS)
def test_raw_text_answers_match_keras(config, text_exports):
    exported = text_exports[config.name]
    assert "parity    " in exported.export_output and "rows of raw text" in exported.export_output
    model = keras.models.load_model(exported.source)
    expected = keras_probabilities(model, config, CORPUS)
    served = served_probabilities(exported, CORPUS)
    errors = []
    for text, answer, reference in zip(CORPUS, served, expected, strict=True):
        if isinstance(answer, str):
            # Only a variable-length step refuses, and only texts Keras itself has nothing to read in.
            assert config.variable_length, f"{config.name} refused {text!r}: {answer}"
            assert "has no token after standardization" in answer
            assert not model.get_layer("vectorizer")(np.asarray([[text]], dtype=object)).shape[-1]
            continue
        assert np.all(np.isfinite(reference)), f"Keras answers NaN for {text!r}, which the service answered"
        errors.append(float(np.max(np.abs(answer - reference))))
    assert max(errors) <= TOLERANCE, f"{config.name}: max abs error {max(errors):.2e}"
    print(f"{config.name}: {len(errors)} texts, max abs error {max(errors):.1e}")


@pytest.mark.parametrize("config", PARAMETERS)
def test_metadata_declares_how_the_service_runs_the_step(config, text_exports):
    import onnx

    model = onnx.load(str(text_exports[config.name].onnx))
    steps = text_steps_from_metadata({p.key: p.value for p in model.metadata_props})
    text_step = next(step for step in steps if step.name == "text")
    assert text_step.variable_length == config.variable_length
    assert text_step.needs_token == config.variable_length  # these models answer an empty text with a number
    graph_inputs = {value.name for value in model.graph.input}
    assert {step.feeds for step in steps} <= graph_inputs and "text" not in graph_inputs
    if config.variable_length:
        assert text_step.row_shape == (None,)
