"""Load a source (.keras, legacy .h5 or SavedModel directory) and what its file says about the loss."""

from __future__ import annotations

import json
import os
import sys
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model_export.errors import ExportError
from model_export.input_spec import InputSpec

# Loss functions given by name use their default, from_logits=False.
_PROBABILITY_LOSS_NAMES = {
    "binary_crossentropy",
    "bce",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
}


@dataclass(frozen=True)
class LossInfo:
    from_logits: bool | None  # None: no loss recorded, or one that says nothing about logits
    description: str


@dataclass
class LoadedSource:
    path: Path
    kind: str  # "keras" or "saved_model"
    inputs: list[InputSpec]
    loss: LossInfo
    keras_model: Any = None  # keras.Model when kind == "keras"
    signature: Any = None  # ConcreteFunction (serving_default) when kind == "saved_model"
    signature_output_key: str | None = None
    subclassed: bool = False  # a subclassed keras.Model: no layer graph, judged from the traced graph
    text: Any = None  # text.plan.TextPlan when the model reads raw strings through text layers
    as_run: Any = None  # the model rebuilt on the shapes its layers compute when they run, when Keras declares others
    transformer: Any = None  # kerashub.TransformerPlan for a KerasHub TextClassifier task (its tokenizer step)

    @property
    def graph_source(self) -> Any:
        """The Keras model whose head is decided and whose graph is converted: the model, or its rebuild as it runs
        (text/shapes.py). Parity is always proved against the model as loaded."""
        return self.keras_model if self.as_run is None else self.as_run

    def model_output(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The model's own output (what it returns today, before any exporter change)."""
        import tensorflow as tf

        if self.kind == "keras":
            return call_keras(self.keras_model, [inputs[s.name] for s in self.inputs])
        tensors = {s.name: tf.constant(inputs[s.name]) for s in self.inputs}
        return self.signature(**tensors)[self.signature_output_key].numpy()


def call_keras(model: Any, flat_inputs: list[np.ndarray]) -> np.ndarray:
    """Run a Keras model on inputs in `model.inputs` order, as numpy."""
    with warnings.catch_warnings():
        # Keras warns when a list meets a single-Input model; the values are routed correctly.
        warnings.filterwarnings("ignore", message="The structure of `inputs`", category=UserWarning)
        return np.asarray(model(flat_inputs[0] if len(flat_inputs) == 1 else flat_inputs, training=False))


# Keras refuses to rebuild a Lambda layer's Python code unless told the file is trusted; its own advice
# (`safe_mode=False`) names a function argument, so the CLI offers this flag instead.
UNSAFE_FLAG = "--unsafe-deserialization"
UNSAFE_WARNING = (
    f"{UNSAFE_FLAG}: Python code stored in the model file (Lambda layers) was loaded and run; "
    "use it only on files you trust as you trust your own code"
)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with the process's stderr muted, once. The `tensorflow` distribution (which keras-hub's
    tensorflow-text requires, where `tensorflow-cpu` sufficed before) looks for a CUDA driver when imported and when
    it first lists devices, and says so in C++ log lines that no Python or TF_CPP_MIN_LOG_LEVEL setting silences;
    the command line's refusals are one line on stderr, so both happen here with file descriptor 2 on /dev/null.
    A failing import still raises."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_source(path: str | Path, unsafe_deserialization: bool = False) -> LoadedSource:
    path = Path(path)
    if not path.exists():
        raise ExportError(f"source {path} does not exist")
    if path.is_dir():
        if not (path / "saved_model.pb").exists():
            raise ExportError(f"{path} is a directory without saved_model.pb, so not a SavedModel")
        return _load_saved_model(path)
    suffix = path.suffix.lower()
    if suffix in (".keras", ".h5", ".hdf5"):
        return _load_keras(path, unsafe_deserialization)
    raise ExportError(f"unsupported source {path.name}: expected a .keras or .h5 file, or a SavedModel directory")


def _load_keras(path: Path, unsafe_deserialization: bool = False) -> LoadedSource:
    import_tensorflow_quietly()
    import keras

    from model_export.keras import kerashub

    loss = read_keras_loss(path)
    if path.suffix.lower() == ".keras":
        kerashub.import_keras_hub_for(path)
    try:
        # compile=False: the loss config is read from the file itself, and compiling can fail
        # on custom losses/metrics that have nothing to do with inference.
        model = keras.models.load_model(path, compile=False, safe_mode=not unsafe_deserialization)
    except Exception as exc:  # keras raises many types here; the message is what matters
        if "safe_mode" in str(exc):
            raise ExportError(
                f"{path.name} holds Python code (a Lambda layer), which Keras runs only from files you trust. "
                f"If you trust this file, pass {UNSAFE_FLAG}; better, replace the Lambda with a built-in or "
                "registered custom layer and save again"
            ) from None
        hint = _H5_HINT if suffix_is_h5(path) else ""
        raise ExportError(f"Keras could not load {path.name}: {str(exc).rstrip('. ')}{hint}") from exc
    from model_export.text import plan, shapes

    model = shapes.build_unbuilt_text_sequential(model)
    try:
        model_inputs = list(model.inputs)
        model_outputs = list(model.outputs)
    except (AttributeError, ValueError):
        model_inputs, model_outputs = [], []
    if not model_inputs or not model_outputs:
        return _subclassed_source(path, model, loss)
    if len(model_outputs) != 1:
        raise ExportError(
            f"{path.name} has {len(model_outputs)} outputs; one multi-label output [batch, n_labels] is expected"
        )
    if kerashub.is_kerashub_task(model):  # integer inputs, fed by the tokenizer step its preprocessor becomes
        transformer = kerashub.plan_transformer(model)
        return LoadedSource(path, "keras", transformer.onnx_inputs, loss, keras_model=model, transformer=transformer)
    inputs = [_keras_input_spec(t) for t in model_inputs]
    text = plan.plan_text_model(model, inputs) if plan.has_string_input(model) else None
    as_run = None
    if text is not None:
        as_run, text = shapes.rebuild_as_run(model, text)
    return LoadedSource(
        path=path,
        kind="keras",
        inputs=inputs,
        loss=loss,
        keras_model=model,
        text=text,
        as_run=None if as_run is model else as_run,
    )


_H5_HINT = (
    ". Keras 3 cannot reload every model from the legacy .h5 format (e.g. keras.applications backbones, "
    "MultiHeadAttention, subclassed models); save it with model.save('model.keras') or export a SavedModel "
    "with model.export('dir') and pass that instead."
)


def suffix_is_h5(path: Path) -> bool:
    return path.suffix.lower() in (".h5", ".hdf5")


def _subclassed_source(path: Path, model: Any, loss: LossInfo) -> LoadedSource:
    """A subclassed model has no symbolic inputs; its saved build shape says what it takes."""
    import inspect

    from model_export.text.plan import refuse_nested_text_layers

    refuse_nested_text_layers(model, f"the subclassed model in {path.name}")
    shape = (model.get_build_config() or {}).get("input_shape") if hasattr(model, "get_build_config") else None
    if not shape or not all(isinstance(d, int | None) for d in shape):
        raise ExportError(
            f"{path.name} holds a subclassed Keras model saved without one input shape (build it by calling it "
            "on a batch before saving), so its input cannot be traced. Export it as a SavedModel "
            "(model.export('dir')) and pass that directory instead."
        )
    parameters = [p for p in inspect.signature(model.call).parameters if p not in ("self", "training", "mask")]
    name = parameters[0] if parameters else "inputs"
    spec = InputSpec(name=name, shape=(None, *shape[1:]), dtype="float32")
    return LoadedSource(path=path, kind="keras", inputs=[spec], loss=loss, keras_model=model, subclassed=True)


def _keras_input_spec(tensor: Any) -> InputSpec:
    dtype = str(tensor.dtype)
    shape = (None, *tensor.shape[1:])
    return InputSpec(name=tensor.name, shape=shape, dtype=dtype if dtype == "string" else np.dtype(dtype).name)


def _load_saved_model(path: Path) -> LoadedSource:
    import_tensorflow_quietly()
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as exc:
        raise ExportError(f"TensorFlow could not load the SavedModel {path}: {exc}") from exc
    signatures = dict(loaded.signatures)
    if "serving_default" not in signatures:
        raise ExportError(f"SavedModel {path} has no 'serving_default' signature (found: {list(signatures)})")
    signature = signatures["serving_default"]
    arg_specs = signature.structured_input_signature[1]
    outputs = signature.structured_outputs
    if len(outputs) != 1:
        raise ExportError(
            f"SavedModel {path} has {len(outputs)} outputs ({', '.join(outputs)}); "
            "one multi-label output [batch, n_labels] is expected"
        )
    inputs = []
    for name, spec in arg_specs.items():
        if spec.dtype == tf.string:
            from model_export.text.plan import SAVED_MODEL_MESSAGE

            raise ExportError(SAVED_MODEL_MESSAGE)
        inputs.append(
            InputSpec(name=name, shape=(None, *spec.shape[1:]), dtype=np.dtype(spec.dtype.as_numpy_dtype).name)
        )
    source = LoadedSource(
        path=path,
        kind="saved_model",
        inputs=inputs,
        loss=LossInfo(None, "a SavedModel does not record the training loss"),
        signature=signature,
        signature_output_key=next(iter(outputs)),
    )
    source._keep_alive = loaded  # the signature's variables live as long as the loaded object
    return source


def read_keras_loss(path: Path) -> LossInfo:
    """What the saved compile config says about from_logits, without compiling the model."""
    try:
        if path.suffix.lower() == ".keras":
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
            loss = (config.get("compile_config") or {}).get("loss")
        else:
            import h5py

            with h5py.File(path, "r") as handle:
                raw = handle.attrs.get("training_config")
            loss = None if raw is None else json.loads(raw.decode() if isinstance(raw, bytes) else raw).get("loss")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return LossInfo(None, "no readable compile config in the file")
    return interpret_loss_config(loss)


def interpret_loss_config(loss: Any) -> LossInfo:
    if loss is None:
        return LossInfo(None, "the model was saved without a compiled loss")
    if isinstance(loss, str):
        if loss in _PROBABILITY_LOSS_NAMES:
            return LossInfo(False, f"loss '{loss}' (by name, so from_logits=False)")
        return LossInfo(None, f"loss '{loss}'")
    if isinstance(loss, dict) and "class_name" in loss:
        config = loss.get("config") or {}
        if "from_logits" in config:
            flag = bool(config["from_logits"])
            return LossInfo(flag, f"{loss['class_name']}(from_logits={flag})")
        return LossInfo(None, str(loss["class_name"]))
    if isinstance(loss, dict | list) and len(loss) == 1:
        return interpret_loss_config(next(iter(loss.values())) if isinstance(loss, dict) else loss[0])
    return LossInfo(None, "an unrecognised loss config")
