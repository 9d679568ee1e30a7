"""What a Keras TextVectorization or StringLookup layer becomes: a TextStepSpec, or a refusal naming why not.

Only built-in behaviour that `service/contract/text/keras_layers.py` reproduces byte for byte is accepted; anything else
(a callable standardize or split, ragged or sparse output, several OOV buckets, ...) is refused here, before
conversion, with the layer's name and what to change.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model_export.errors import ExportError
from service.contract.text.spec import OUTPUT_MODES, TextStepSpec


def is_text_layer(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.layers.TextVectorization | keras.layers.StringLookup)


def text_layer_spec(
    layer: Any, input_name: str, string_shape: tuple[int, ...], feeds: str, needs_token: bool
) -> TextStepSpec:
    """The spec of `layer` applied to the string input `input_name`; ExportError when it cannot be reproduced."""
    import keras

    if isinstance(layer, keras.layers.TextVectorization):
        return _text_vectorization_spec(layer, input_name, string_shape, feeds, needs_token)
    return _string_lookup_spec(layer, input_name, string_shape, feeds, needs_token)


def _text_vectorization_spec(
    layer: Any, input_name: str, string_shape: tuple[int, ...], feeds: str, needs_token: bool
) -> TextStepSpec:
    config = layer.get_config()
    where = f"TextVectorization layer '{layer.name}'"
    for argument in ("standardize", "split"):
        if callable(getattr(layer, f"_{argument}")) or not isinstance(config[argument], str | None):
            raise ExportError(
                f"{where} has a custom {argument} function, which cannot be reproduced outside TensorFlow. "
                f"Use a built-in {argument} ({_BUILT_IN[argument]}) or run it in the client before the model."
            )
    if config.get("ragged"):
        raise ExportError(
            f"{where} has ragged=True: its output has no fixed shape for ONNX. Set ragged=False (and "
            "output_sequence_length to give every text the same number of token ids)."
        )
    _refuse_common(layer, config, where)
    split = config["split"]
    if split is None and layer._ngrams is not None:
        raise ExportError(f"{where} makes n-grams without splitting (split=None): set a split or drop ngrams.")
    if split is None and string_shape != (1,):
        raise ExportError(
            f"{where} has split=None on a string input of shape {list(string_shape)}: Keras then mixes the rows "
            "of a batch. Declare the input as keras.Input(shape=(1,), dtype='string')."
        )
    lookup = layer._lookup_layer
    return _spec(
        layer,
        lookup,
        input_name,
        string_shape,
        feeds,
        needs_token,
        standardize=config["standardize"],
        split=split,
        ngrams=None if layer._ngrams is None else tuple(int(n) for n in layer._ngrams),
        output_sequence_length=config["output_sequence_length"],
    )


def _string_lookup_spec(
    layer: Any, input_name: str, string_shape: tuple[int, ...], feeds: str, needs_token: bool
) -> TextStepSpec:
    config = layer.get_config()
    where = f"StringLookup layer '{layer.name}'"
    if config.get("invert"):
        raise ExportError(f"{where} has invert=True (ids to strings): only string inputs to ids can be served.")
    _refuse_common(layer, config, where)
    if config["output_mode"] in ("multi_hot", "count", "tf_idf") and string_shape != (1,):
        raise ExportError(
            f"{where} with output_mode='{config['output_mode']}' on a string input of shape {list(string_shape)} "
            "counts the whole batch as one example. Declare the input as keras.Input(shape=(1,), dtype='string')."
        )
    return _spec(layer, layer, input_name, string_shape, feeds, needs_token, None, None, None, None)


_BUILT_IN = {
    "standardize": "'lower_and_strip_punctuation', 'lower', 'strip_punctuation' or None",
    "split": "'whitespace', 'character' or None",
}


def _refuse_common(layer: Any, config: dict[str, Any], where: str) -> None:
    if config.get("sparse"):
        raise ExportError(f"{where} has sparse=True: ONNX inputs are dense. Set sparse=False.")
    if str(config.get("encoding", "utf-8")).lower().replace("-", "") != "utf8":
        raise ExportError(f"{where} reads text as {config['encoding']!r}; only UTF-8 text can be served.")
    if config["output_mode"] not in OUTPUT_MODES:
        raise ExportError(f"{where} has output_mode {config['output_mode']!r}, which cannot be served.")
    lookup = getattr(layer, "_lookup_layer", layer)
    if lookup.num_oov_indices > 1:
        raise ExportError(
            f"{where} hashes unknown tokens into {lookup.num_oov_indices} OOV buckets (FarmHash), which is not "
            "reproduced outside TensorFlow. Use num_oov_indices=1 (or 0)."
        )


def _spec(
    layer: Any,
    lookup: Any,
    input_name: str,
    string_shape: tuple[int, ...],
    feeds: str,
    needs_token: bool,
    standardize: str | None,
    split: str | None,
    ngrams: tuple[int, ...] | None,
    output_sequence_length: int | None,
) -> TextStepSpec:
    mode = lookup.output_mode
    mask_token = lookup.mask_token
    oov_start = 1 if mask_token is not None and mode == "int" else 0
    token_start = oov_start + lookup.num_oov_indices
    vocabulary = _table_vocabulary(layer, lookup, token_start)
    depth = None
    idf_weights = None
    if mode != "int":
        depth = int(lookup.max_tokens if lookup.pad_to_max_tokens else lookup.vocabulary_size())
    if mode == "tf_idf":
        weights = np.asarray(lookup.idf_weights_const, np.float32).reshape(-1)
        idf_weights = tuple(float(w) for w in weights)  # a float32 survives float64 and JSON exactly
    return TextStepSpec(
        input=input_name,
        string_shape=string_shape,
        feeds=feeds,
        layer=type(layer).__name__,
        standardize=standardize,
        split=split,
        ngrams=ngrams,
        output_mode=mode,
        output_sequence_length=None if output_sequence_length is None else int(output_sequence_length),
        vocabulary=tuple(vocabulary),
        token_start=token_start,
        oov_index=oov_start if lookup.num_oov_indices == 1 else None,
        mask_token=mask_token,
        depth=depth,
        idf_weights=idf_weights,
        needs_token=needs_token,
    )


def _table_vocabulary(layer: Any, lookup: Any, token_start: int) -> list[str]:
    """The tokens of the layer's lookup table in id order, read as TensorFlow holds them.

    Not get_vocabulary(): it goes through fixed-width numpy strings, which drop a token's trailing NUL bytes."""
    import tensorflow as tf

    where = f"{type(layer).__name__} layer '{layer.name}'"
    try:
        keys, values = (tensor.numpy() for tensor in lookup.lookup_table.export())
    except tf.errors.OpError:  # a table that was never filled
        keys, values = np.empty(0, object), np.empty(0, np.int64)
    order = np.argsort(values, kind="stable")
    ids = values[order]
    if not len(ids):
        raise ExportError(
            f"{where} has an empty vocabulary: it was never adapted, or it was saved in the legacy .h5 format, "
            "which drops an adapted vocabulary. Save the model as .keras."
        )
    if not np.array_equal(ids, np.arange(token_start, token_start + len(ids))):
        raise ExportError(f"{where} has vocabulary ids that are not consecutive from {token_start}")
    try:
        return [bytes(keys[i]).decode("utf-8") for i in order]
    except UnicodeDecodeError:
        raise ExportError(f"{where} has a vocabulary token that is not valid UTF-8 text") from None
