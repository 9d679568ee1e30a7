"""Small KerasHub text classifiers built offline: a vocabulary learnt from a few texts, a 2-layer backbone.

They stand in for real checkpoints (which come from a hub, out of reach here) in tests, benchmarks and demos.
Every family is trained the way this project expects: `activation=None` logits, multi-hot targets,
`BinaryCrossentropy(from_logits=True)`.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import numpy as np

FAMILIES = ("bert", "distil_bert", "roberta", "albert")
CORPUS = (
    "the service answers every request with a probability for each label",
    "a model exported to ONNX runs without TensorFlow in the serving image",
    "tokenizers split text into words and words into pieces",
    "the quick brown fox jumps over the lazy dog",
    "Straße, İstanbul, café, naïve, ﬁne: accents and ligatures",
    "日本語のテキスト and 中文 text mixed with English",
    "emoji 🤖 and symbols #, $, %, & between words",
    "thresholds are calibrated on held-out data before publishing",
)


def wordpiece_vocabulary(texts: list[str] | tuple[str, ...] = CORPUS, lowercase: bool = True) -> list[str]:
    """BERT's special tokens, the texts' words, and every character as a start and as a "##" continuation."""
    words = Counter(word for text in texts for word in (text.lower() if lowercase else text).split())
    characters = sorted({char for text in texts for char in (text.lower() if lowercase else text)} - {" "})
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocabulary += [word.strip(".,:") for word, _ in words.most_common(60) if word.strip(".,:").isalnum()]
    vocabulary += characters + ["##" + char for char in characters]
    return list(dict.fromkeys(vocabulary))


def byte_bpe_vocabulary(
    texts: list[str] | tuple[str, ...] = CORPUS, size: int = 400
) -> tuple[dict[str, int], list[str]]:
    """A byte-level BPE vocabulary and merges trained with HF tokenizers, RoBERTa's special tokens first."""
    from tokenizers import ByteLevelBPETokenizer

    trainer = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer.train_from_iterator(list(texts) * 4, vocab_size=size, min_frequency=1, special_tokens=specials)
    model = json.loads(trainer._tokenizer.to_str())["model"]
    merges = [" ".join(rule) if isinstance(rule, list) else rule for rule in model["merges"]]
    return dict(model["vocab"]), merges


def sentencepiece_model(texts: list[str] | tuple[str, ...] = CORPUS, size: int = 200) -> bytes:
    """A unigram SentencePiece model with ALBERT's special tokens (<pad>=0, <unk>=1, [CLS]=2, [SEP]=3, [MASK]=4)."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts) * 4),
        model_writer=model,
        vocab_size=size,
        hard_vocab_limit=False,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()


def preprocessor(family: str, sequence_length: int = 32, **tokenizer_options: Any) -> Any:
    """The family's TextClassifierPreprocessor with a vocabulary from `CORPUS`."""
    import keras_hub

    models = keras_hub.models
    if family in ("bert", "distil_bert"):
        lowercase = tokenizer_options.pop("lowercase", True)
        vocabulary = tokenizer_options.pop("vocabulary", None) or wordpiece_vocabulary(lowercase=lowercase)
        tokenizer_class = models.BertTokenizer if family == "bert" else models.DistilBertTokenizer
        tokenizer = tokenizer_class(vocabulary=vocabulary, lowercase=lowercase, **tokenizer_options)
        preprocessor_class = (
            models.BertTextClassifierPreprocessor if family == "bert" else models.DistilBertTextClassifierPreprocessor
        )
    elif family == "roberta":
        vocabulary, merges = byte_bpe_vocabulary()
        tokenizer = models.RobertaTokenizer(vocabulary=vocabulary, merges=merges, **tokenizer_options)
        preprocessor_class = models.RobertaTextClassifierPreprocessor
    elif family == "albert":
        tokenizer = models.AlbertTokenizer(proto=sentencepiece_model(), **tokenizer_options)
        preprocessor_class = models.AlbertTextClassifierPreprocessor
    else:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    return preprocessor_class(tokenizer, sequence_length=sequence_length)


def backbone(family: str, vocabulary_size: int, layers: int = 2, hidden: int = 32, max_length: int = 128) -> Any:
    import keras_hub

    models = keras_hub.models
    common = {"vocabulary_size": vocabulary_size, "num_layers": layers, "num_heads": max(2, hidden // 64)}
    if family == "bert":
        return models.BertBackbone(
            **common, hidden_dim=hidden, intermediate_dim=2 * hidden, max_sequence_length=max_length
        )
    if family == "distil_bert":
        return models.DistilBertBackbone(
            **common, hidden_dim=hidden, intermediate_dim=2 * hidden, max_sequence_length=max_length
        )
    if family == "roberta":
        return models.RobertaBackbone(
            **common, hidden_dim=hidden, intermediate_dim=2 * hidden, max_sequence_length=max_length
        )
    return models.AlbertBackbone(
        **common,
        num_groups=1,
        num_inner_repetitions=1,
        embedding_dim=hidden // 2,
        hidden_dim=hidden,
        intermediate_dim=2 * hidden,
        max_sequence_length=max_length,
    )


def training_data(labels: int) -> tuple[np.ndarray, np.ndarray]:
    """`CORPUS` with multi-hot targets: label k is on for text i when bit k of i + 1 is set (every text differs)."""
    texts = np.array(CORPUS)
    targets = np.array([[(row + 1) >> k & 1 for k in range(labels)] for row in range(len(texts))], dtype="float32")
    return texts, targets


def build_task(
    family: str,
    labels: int = 4,
    sequence_length: int = 32,
    layers: int = 2,
    hidden: int = 32,
    train_steps: int = 60,
    seed: int = 0,
    activation: str | None = None,
) -> Any:
    """A trained multi-label TextClassifier task, deterministic for a seed: logits out (`activation=None`, trained
    with BinaryCrossentropy(from_logits=True)), or probabilities with `activation="sigmoid"` (from_logits=False)."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    text_preprocessor = preprocessor(family, sequence_length=sequence_length)
    vocabulary_size = text_preprocessor.tokenizer.vocabulary_size()
    task_classes = {
        "bert": keras_hub.models.BertTextClassifier,
        "distil_bert": keras_hub.models.DistilBertTextClassifier,
        "roberta": keras_hub.models.RobertaTextClassifier,
        "albert": keras_hub.models.AlbertTextClassifier,
    }
    task = task_classes[family](
        backbone=backbone(family, vocabulary_size, layers, hidden, max(sequence_length, 128)),
        num_classes=labels,
        preprocessor=text_preprocessor,
        activation=activation,
    )
    task.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.BinaryCrossentropy(from_logits=activation is None),
        metrics=[],
    )
    texts, targets = training_data(labels)
    if train_steps:
        import tensorflow as tf

        # Tokenize once, in TensorFlow as fit() would, then train on the ids: a string pipeline per epoch costs
        # seconds, the steps themselves milliseconds.
        (features,) = list(tf.data.Dataset.from_tensor_slices(texts).batch(len(texts)).map(text_preprocessor))
        task.preprocessor = None
        task.fit(features, targets, batch_size=len(texts), epochs=train_steps, verbose=0)
        task.preprocessor = text_preprocessor
    return task
