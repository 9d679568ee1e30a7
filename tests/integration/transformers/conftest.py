"""KerasHub preprocessors and tasks built offline once per session, and KerasHub's own answers to compare with."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("keras_hub")


def keras_inputs(preprocessor: Any, texts: Sequence[str], batch: int = 1024) -> dict[str, np.ndarray]:
    """What `preprocessor` makes of `texts` in tf.data: KerasHub's TensorFlow path, the one fit() and predict() use."""
    import tensorflow as tf

    parts: dict[str, list[np.ndarray]] = {}
    for features in tf.data.Dataset.from_tensor_slices(list(texts)).batch(batch).map(preprocessor):
        for name, values in features.items():
            parts.setdefault(name, []).append(np.asarray(values))
    return {name: np.concatenate(values) for name, values in parts.items()}


@pytest.fixture(scope="session")
def saved_task(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """family -> a trained tiny TextClassifier saved as .keras and loaded back (built once per family)."""
    import keras

    from model_export.demos.kerashub_tasks import build_task

    tasks: dict[str, Any] = {}

    def load(family: str) -> Any:
        if family not in tasks:
            path = Path(tmp_path_factory.mktemp(family)) / f"{family}.keras"
            build_task(family).save(path)
            tasks[family] = keras.saving.load_model(path)
        return tasks[family]

    return load


@pytest.fixture(scope="session")
def exported(saved_task: Callable[[str], Any]) -> Callable[[str], tuple[Any, Any]]:
    """family -> (ONNX Runtime session of the logits graph, the serve-time step), exported once per family."""
    import onnxruntime

    from model_export.keras.kerashub import export_kerashub_task
    from service.contract.text.transformer_spec import dump_spec, parse_spec
    from service.contract.text.transformer_step import TransformerTextStep

    results: dict[str, tuple[Any, Any]] = {}

    def export(family: str) -> tuple[Any, Any]:
        if family not in results:
            model, spec = export_kerashub_task(saved_task(family))
            session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            results[family] = (session, TransformerTextStep(parse_spec(dump_spec(spec))))
        return results[family]

    return export
