"""Trained models for the optimize bench: the bench CNN and a keras.applications backbone, on the digits as images.

Both learn the demo's five multi-label facts (even, prime, at_least_5, closed_loop, multiple_of_3) from scikit-learn's
8x8 digits upscaled to images (no download): a multi-label task with real, held-out accuracy to lose.

- cnn: `bench.models`' CNN (64x64x3, three strided convolutions), trained here rather than left random.
- mobilenet: `keras.applications.MobileNetV3Small` at 96x96x3, `weights=None`, trained from scratch.

Each is exported with `model_export` (version 1) and calibrated with `calibrate` (max F1, version 2), so `optimize`
re-chooses thresholds with a recorded method. Seeded; built once into OUT (bench/work/optimize, gitignored).
Run as `python -m bench.trained_models OUT` (needs TensorFlow; the bench runs it in a subprocess).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

SEED = 0
# name: (image size, channels, epochs)
MODELS = {"cnn": (64, 3, 12), "mobilenet": (96, 3, 15)}


def build(name: str):  # noqa: ANN201 - keras is imported lazily
    import keras

    from bench.models import build_keras

    keras.utils.set_random_seed(SEED)
    if name == "cnn":
        model = build_keras("cnn")
        model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
        return model
    size, channels, _ = MODELS[name]
    inputs = keras.Input((size, size, channels), name="image")
    scaled = keras.layers.Rescaling(1 / 8, offset=-1)(inputs)  # pixels 0..16 -> [-1, 1], as MobileNetV3 expects
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(size, size, channels), weights=None, include_top=False, pooling="avg", include_preprocessing=False
    )
    for layer in backbone.layers:
        # Keras' 0.999 needs thousands of steps for the moving statistics to follow; a brief training has hundreds.
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    logits = keras.layers.Dense(5, name="logits")(backbone(scaled))
    model = keras.Model(inputs, logits, name=name)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def train_and_export(name: str, out: Path) -> dict[str, str]:
    import tensorflow as tf

    from model_export import calibrate_model, export_model
    from model_export.demos.digits import LABELS, digit_images, digit_labels, split_digits

    tf.config.experimental.enable_op_determinism()
    size, channels, epochs = MODELS[name]
    x_train, x_held_out, d_train, d_held_out = split_digits()
    model = build(name)
    model.fit(digit_images(x_train, size, channels), digit_labels(d_train), epochs=epochs, batch_size=32, verbose=0)
    keras_path = out / "keras" / f"{name}.keras"
    keras_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(keras_path)
    validation = out / f"{name}_validation.npz"
    images = digit_images(x_held_out, size, channels)
    np.savez(validation, image=images, y=digit_labels(d_held_out).astype("uint8"))
    exported = out / "repository" / name / "1" / "model.onnx"
    sample = out / f"{name}_sample.npz"
    np.savez(sample, image=images[:64])
    export_model(keras_path, exported, LABELS, sample_data=sample)
    calibrated = calibrate_model(exported, validation, output_version=True).output
    return {
        "onnx": str(calibrated.resolve()),
        "validation": str(validation.resolve()),
        "parameters": model.count_params(),
    }


def build_all(out: Path) -> dict[str, dict[str, str]]:
    return {name: train_and_export(name, out) for name in MODELS}


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/work/optimize")
    print(json.dumps(build_all(target), indent=2))
