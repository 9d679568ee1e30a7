"""A small CNN trained on the digits as 16x16 images (five multi-label facts), exported and calibrated.

The optimize tests share it (one per session): real Keras training, real tf2onnx export, real `calibrate` with a
recorded method (max F1, and a precision target for `even`), so int8 has real accuracy to lose.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIZE = 16
NAME = "digits_cnn"


@dataclass(frozen=True)
class TrainedCnn:
    model: Path  # calibrated float32 model
    validation: Path  # .npz: image [rows, 16, 16, 1], y multi-hot


def build_trained_cnn(directory: Path) -> TrainedCnn:
    import keras

    from model_export import calibrate_model, export_model
    from model_export.demos.digits import LABELS, digit_images, digit_labels, split_digits

    keras.utils.set_random_seed(0)
    x_train, x_held_out, d_train, d_held_out = split_digits()
    inputs = keras.Input((SIZE, SIZE, 1), name="image")
    x = keras.layers.Rescaling(1 / 16)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(x)
    x = keras.layers.MaxPooling2D()(x)
    logits = keras.layers.Dense(len(LABELS), name="logits")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, logits)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(digit_images(x_train, SIZE), digit_labels(d_train), epochs=12, batch_size=32, verbose=0)

    keras_path = directory / "cnn.keras"
    model.save(keras_path)
    validation = directory / "validation.npz"
    np.savez(validation, image=digit_images(x_held_out, SIZE), y=digit_labels(d_held_out).astype("uint8"))
    exported = directory / "exported" / "model.onnx"
    export_model(keras_path, exported, LABELS)
    calibrated = directory / "calibrated" / "model.onnx"
    calibrate_model(exported, validation, calibrated, target_precision={"even": 0.97})
    return TrainedCnn(calibrated, validation)
