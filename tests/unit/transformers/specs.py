"""Hand-written specs for the pure tests (no Keras): one per tokenizer kind."""

from __future__ import annotations

import base64
import io
from typing import Any

from service.contract.text.byte_bpe import byte_symbols

WORDPIECE_VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "qu", "##ick", "fox", "a", "##a"]
WORDPIECE_VOCABULARY += ["ss", "fi", "##ne", "stra", "##ss", "##e", "b", "##b", ".", "日", "本", "e", "é", "i", "##̇"]


def wordpiece_step(**changes: Any) -> dict[str, Any]:
    step = _common(vocabulary_size=len(WORDPIECE_VOCABULARY), start_ids=[2], end_ids=[3], pad_id=0)
    step.update(
        tokenizer="wordpiece",
        keras_tokenizer="BertTokenizer",
        vocabulary=list(WORDPIECE_VOCABULARY),
        lowercase=True,
        strip_accents=False,
        split_on_cjk=True,
        suffix_indicator="##",
        oov_token="[UNK]",
        segment_ids_input="segment_ids",
    )
    step.update(changes)
    return step


def byte_bpe_step(**changes: Any) -> dict[str, Any]:
    vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for symbol in byte_symbols():
        vocabulary[symbol] = len(vocabulary)
    for token in ("ab", "abc", "Ġa"):
        vocabulary[token] = len(vocabulary)
    step = _common(vocabulary_size=len(vocabulary), start_ids=[0], end_ids=[2], pad_id=1)
    step.update(
        tokenizer="byte_bpe",
        keras_tokenizer="RobertaTokenizer",
        bpe_vocabulary=vocabulary,
        merges=["a b", "ab c", "Ġ a"],
        unsplittable_tokens=["<s>", "</s>", "<pad>"],
        add_prefix_space=False,
    )
    step.update(changes)
    return step


def sentencepiece_step(**changes: Any) -> dict[str, Any]:
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(["the quick brown fox jumps over the lazy dog"] * 20),
        model_writer=model,
        vocab_size=40,
        hard_vocab_limit=False,
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        num_threads=1,
        minloglevel=2,
    )
    step = _common(vocabulary_size=64, start_ids=[2], end_ids=[3], pad_id=0)
    step.update(
        tokenizer="sentencepiece",
        keras_tokenizer="AlbertTokenizer",
        sentencepiece_model=base64.b64encode(model.getvalue()).decode(),
        segment_ids_input="segment_ids",
    )
    step.update(changes)
    return step


def _common(**fields: Any) -> dict[str, Any]:
    from service.contract.text.transformer_spec import TransformerTextSpec

    step: dict[str, Any] = {name: None for name in TransformerTextSpec.__dataclass_fields__}
    step.update(
        input="text",
        sequence_length=8,
        truncate="round_robin",
        token_ids_input="token_ids",
        padding_mask_input="padding_mask",
        input_dtype="int32",
        **fields,
    )
    return step
