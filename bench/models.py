"""The two bench models, in Keras (for the naive baseline) and in ONNX (for this service and the minimal baseline).

- mlp: the demo model's shape (64 pixels -> Rescaling -> Dense 64 relu -> Dense 32 relu -> 5 logits).
  `models/digits/1/model.onnx` is used for the ONNX side when it exists; the Keras twin is always built here
  (untrained: speed does not depend on the weights).
- cnn: 64x64x3 images -> three strided convolutions -> 5 logits.

ONNX files are exported with `model_export.export_model` when the exporter is installed (it appends the Sigmoid and
writes label metadata); otherwise with tf2onnx + an appended Sigmoid node, which is what the exporter does.
Run as `python -m bench.models OUT_DIR`; needs the export extra (TensorFlow), the bench driver runs it in a
subprocess so that no TensorFlow is loaded next to the servers it measures.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = ROOT / "models" / "digits" / "1" / "model.onnx"
LABELS = ["zero", "one", "two", "three", "four"]
SHAPES = {"mlp": (64,), "cnn": (64, 64, 3)}


def build_keras(kind: str):  # noqa: ANN201 - keras is imported lazily
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(SHAPES[kind], name="pixels" if kind == "mlp" else "image")
    if kind == "mlp":
        x = keras.layers.Rescaling(1 / 16)(inputs)
        x = keras.layers.Dense(64, activation="relu")(x)
        x = keras.layers.Dense(32, activation="relu")(x)
    else:
        x = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(inputs)
        x = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(x)
        x = keras.layers.Conv2D(64, 3, strides=2, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(LABELS), name="logits")(x)  # logits: the loss applies the sigmoid
    model = keras.Model(inputs, outputs, name=kind)
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def export_onnx(keras_path: Path, onnx_path: Path) -> str:
    try:
        from model_export import export_model
    except ImportError:
        export_model = None
    if export_model is not None:
        export_model(keras_path, onnx_path, LABELS)
        return "model_export.export_model"
    _export_with_tf2onnx(keras_path, onnx_path)
    return "tf2onnx + appended Sigmoid"


def _export_with_tf2onnx(keras_path: Path, onnx_path: Path) -> None:
    import keras
    import onnx
    import tensorflow as tf
    import tf2onnx
    from onnx import helper

    model = keras.models.load_model(keras_path)
    name = model.inputs[0].name
    spec = [tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name=name)]
    function = tf.function(lambda x: model(x, training=False), input_signature=spec)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=17)
    graph = proto.graph
    graph.input[0].name, old_input = name, graph.input[0].name
    for node in graph.node:
        node.input[:] = [name if i == old_input else i for i in node.input]
    logits_tensor = graph.output[0].name
    for node in graph.node:
        node.output[:] = ["logits" if o == logits_tensor else o for o in node.output]
        node.input[:] = ["logits" if i == logits_tensor else i for i in node.input]
    graph.node.append(helper.make_node("Sigmoid", ["logits"], ["probabilities"], name="appended_sigmoid"))
    del graph.output[:]
    width = len(LABELS)
    for output in ("probabilities", "logits"):
        graph.output.append(helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, ["batch", width]))
    for key, value in {"labels": LABELS, "thresholds": [0.5] * width}.items():
        proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=json.dumps(value)))
    onnx.checker.check_model(proto)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(onnx_path))


def build_all(out: Path) -> dict[str, dict[str, str]]:
    """out/keras/KIND.keras and out/repository/KIND/1/model.onnx for both kinds; returns what was made how."""
    made = {}
    for kind in SHAPES:
        keras_path = out / "keras" / f"{kind}.keras"
        onnx_path = out / "repository" / kind / "1" / "model.onnx"
        keras_path.parent.mkdir(parents=True, exist_ok=True)
        build_keras(kind).save(keras_path)
        if kind == "mlp" and DEMO_MODEL.exists():
            onnx_path.parent.mkdir(parents=True, exist_ok=True)
            onnx_path.unlink(missing_ok=True)
            onnx_path.symlink_to(DEMO_MODEL)
            how = f"demo model {DEMO_MODEL.relative_to(ROOT)}"
        else:
            how = export_onnx(keras_path, onnx_path)
        made[kind] = {"keras": str(keras_path), "onnx": str(onnx_path), "onnx_from": how}
    return made


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "bench" / "work")
    print(json.dumps(build_all(target), indent=2))
