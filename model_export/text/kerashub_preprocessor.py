"""What a KerasHub text classifier's preprocessor becomes: a TransformerTextSpec, or a one-line refusal.

Only KerasHub's own classes are read, option by option; anything the serve-time step does not reproduce (a subclass,
a tokenizer that pads by itself, special tokens matched inside texts, ...) is an ExportError naming it.
"""

from __future__ import annotations

import base64
from typing import Any

from model_export.errors import ExportError
from service.contract.text.transformer_spec import TransformerTextSpec, spec_from_json

# preprocessor class -> (its tokenizer class, the tokenizer kind, whether it makes segment_ids)
SUPPORTED = {
    "BertTextClassifierPreprocessor": ("BertTokenizer", "wordpiece", True),
    "DistilBertTextClassifierPreprocessor": ("DistilBertTokenizer", "wordpiece", False),
    "RobertaTextClassifierPreprocessor": ("RobertaTokenizer", "byte_bpe", False),
    "AlbertTextClassifierPreprocessor": ("AlbertTokenizer", "sentencepiece", True),
}
KERAS_INPUTS = ("token_ids", "segment_ids", "padding_mask")


def preprocessor_spec(
    preprocessor: Any, backbone_inputs: dict[str, str], vocabulary_size: int, input_name: str = "text"
) -> TransformerTextSpec:
    """The spec of `preprocessor` feeding `backbone_inputs` (Keras input name -> ONNX input name)."""
    import keras_hub

    kind_of = type(preprocessor).__name__
    if kind_of not in SUPPORTED or type(preprocessor) is not getattr(keras_hub.models, kind_of, None):
        names = ", ".join(SUPPORTED)
        raise ExportError(
            f"preprocessor {kind_of} cannot be reproduced without TensorFlow: KerasHub's {names} can "
            "(a subclass is refused, as its call() may differ)"
        )
    tokenizer_class, kind, makes_segments = SUPPORTED[kind_of]
    tokenizer = preprocessor.tokenizer
    if type(tokenizer) is not getattr(keras_hub.models, tokenizer_class):
        raise ExportError(
            f"{kind_of} holds a {type(tokenizer).__name__}; only KerasHub's own {tokenizer_class} is reproduced"
        )
    where = f"{tokenizer_class} '{tokenizer.name}'"
    refuse_unless(tokenizer.sequence_length is None, f"{where} has sequence_length set (it pads before the packer)")
    refuse_unless(str(tokenizer.compute_dtype).startswith("int"), f"{where} outputs {tokenizer.compute_dtype}")
    feeds = dict(backbone_inputs)
    if missing := [name for name in feeds if name not in KERAS_INPUTS]:
        raise ExportError(f"the backbone takes inputs {missing}, which a TextClassifierPreprocessor does not make")
    if "segment_ids" in feeds and not makes_segments:
        raise ExportError(f"the backbone takes segment_ids, which {kind_of} does not make")
    packer = getattr(preprocessor, "packer", None)
    if packer is not None:
        refuse_unless(packer.padding_side == "right", f"{kind_of}'s packer pads on the {packer.padding_side}")
    token_vocabulary = tokenizer.vocabulary_size()
    if token_vocabulary > vocabulary_size:
        raise ExportError(
            f"{where} has {token_vocabulary} tokens but the backbone embeds only {vocabulary_size}: "
            "larger ids would index past the embedding table"
        )
    step = {name: None for name in TransformerTextSpec.__dataclass_fields__}
    step.update(
        input=input_name,
        tokenizer=kind,
        keras_tokenizer=tokenizer_class,
        vocabulary_size=vocabulary_size,
        sequence_length=int(preprocessor.sequence_length),
        truncate=preprocessor.truncate,
        start_ids=[int(tokenizer.start_token_id)],
        end_ids=[int(tokenizer.end_token_id)],
        pad_id=int(tokenizer.pad_token_id),
        token_ids_input=feeds.get("token_ids"),
        segment_ids_input=feeds.get("segment_ids"),
        padding_mask_input=feeds.get("padding_mask"),
        input_dtype="int32",
    )
    step.update(_tokenizer_fields(kind, tokenizer, where))
    try:
        return spec_from_json(step)
    except ValueError as exc:
        raise ExportError(f"{where} cannot be reproduced: {exc}") from None


def _tokenizer_fields(kind: str, tokenizer: Any, where: str) -> dict[str, Any]:
    if kind == "wordpiece":
        refuse_unless(tokenizer.split, f"{where} has split=False (it expects words split by the caller)")
        refuse_unless(
            not tokenizer.special_tokens_in_strings, f"{where} has special_tokens_in_strings=True, not reproduced"
        )
        vocabulary = list(tokenizer.get_vocabulary())
        refuse_unless(len(set(vocabulary)) == len(vocabulary), f"{where} has a token twice in its vocabulary")
        return {
            "vocabulary": vocabulary,
            "lowercase": bool(tokenizer.lowercase),
            "strip_accents": bool(tokenizer.strip_accents),
            "split_on_cjk": bool(tokenizer.split_on_cjk),
            "suffix_indicator": tokenizer.suffix_indicator,
            "oov_token": tokenizer.oov_token,
        }
    if kind == "byte_bpe":
        return {
            "bpe_vocabulary": {str(token): int(index) for token, index in tokenizer.vocabulary.items()},
            "merges": [str(rule) for rule in tokenizer.merges],
            "unsplittable_tokens": list(tokenizer.unsplittable_tokens or []),
            "add_prefix_space": bool(tokenizer.add_prefix_space),
        }
    refuse_unless(not tokenizer.add_bos and not tokenizer.add_eos, f"{where} has add_bos/add_eos, not reproduced")
    return {"sentencepiece_model": base64.b64encode(tokenizer.proto).decode("ascii")}


def refuse_unless(condition: Any, problem: str) -> None:
    if not condition:
        raise ExportError(f"{problem}: the serve-time tokenizer would not give KerasHub's token ids")
