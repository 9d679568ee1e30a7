"""KerasHub preprocessors and tasks built offline once per session, and KerasHub's own answers to compare with."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from collections.abc import Callable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.support.build_once import build_once  # noqa: E402
from tests.support.transformer_models import BuiltTransformers, build_transformers  # noqa: E402

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
def built_transformers(tmp_path_factory: pytest.TempPathFactory) -> BuiltTransformers:
    """Every family trained, saved, exported and answered by Keras, once per test run (all xdist workers)."""
    return build_once(tmp_path_factory, "transformers", build_transformers)


@pytest.fixture(scope="session")
def untrained_task() -> Callable[[str], Any]:
    """family -> an untrained tiny task in memory (for refusals, which stop before any conversion)."""
    from model_export.demos.kerashub_tasks import build_task

    tasks: dict[str, Any] = {}

    def build(family: str) -> Any:
        if family not in tasks:
            tasks[family] = build_task(family, train_steps=0)
        return tasks[family]

    return build
