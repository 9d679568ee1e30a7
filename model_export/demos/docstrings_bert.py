"""Train and export the transformer demo model: a small KerasHub BERT on the docstrings corpus the tf-idf demo uses.

    python -m model_export.demos.docstrings_bert [--output models/docstrings_bert/1/model.onnx]

The same split as `docstrings.py` (seed 0, a quarter held out). The WordPiece vocabulary is learnt from the training
split (KerasHub's `compute_word_piece_vocabulary`), the backbone (2 layers, hidden 128) is trained from scratch with
BinaryCrossentropy(from_logits=True) on multi-hot targets, and the task is exported by `python -m model_export`'s
own pipeline: the service tokenizes with the recorded WordPiece step, no TensorFlow. Per-label F1 on the held-out
split is printed beside the tf-idf demo's (served by the same path).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from model_export.demos.docstrings import SEED, split_corpus, write_examples
from model_export.demos.docstrings_corpus import LABELS

VOCABULARY_SIZE = 3000
SEQUENCE_LENGTH = 64  # docstrings' first paragraphs: 11 words on average, the longest cut
LAYERS, HIDDEN, HEADS = 2, 128, 2
SPECIAL_TOKENS = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"]


def build_task(
    train_texts: list[str], layers: int = LAYERS, hidden: int = HIDDEN, sequence_length: int = SEQUENCE_LENGTH
):  # -> keras_hub.models.BertTextClassifier
    import keras
    import keras_hub
    import tensorflow as tf

    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(train_texts).batch(256),
        vocabulary_size=VOCABULARY_SIZE,
        lowercase=True,
        reserved_tokens=SPECIAL_TOKENS,
    )
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=sequence_length)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=layers,
        num_heads=max(HEADS, hidden // 64),
        hidden_dim=hidden,
        intermediate_dim=2 * hidden,
        max_sequence_length=sequence_length,
    )
    task = keras_hub.models.BertTextClassifier(
        backbone, num_classes=len(LABELS), preprocessor=preprocessor, activation=None
    )  # activation=None: logits, the exporter appends the Sigmoid
    task.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=5e-4),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[],  # KerasHub's default, sparse categorical accuracy, is for one label per text
    )
    return task


def train(task, texts: list[str], targets: np.ndarray, epochs: int, train_length: int | None = None) -> None:
    """Tokenized once in tf.data (KerasHub's path, as fit() would), then trained on the ids; `train_length` packs
    the training texts shorter than the served sequence length (cheaper steps; the padding mask makes the model's
    answers independent of how far a text is padded)."""
    import keras_hub
    import tensorflow as tf

    preprocessor = task.preprocessor
    packer = preprocessor
    if train_length is not None:
        packer = keras_hub.models.BertTextClassifierPreprocessor(preprocessor.tokenizer, sequence_length=train_length)
    (features,) = list(tf.data.Dataset.from_tensor_slices(texts).batch(len(texts)).map(packer))
    task.preprocessor = None
    task.fit(features, targets, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    task.preprocessor = preprocessor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_export.demos.docstrings_bert", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--output", default="models/docstrings_bert/1/model.onnx", type=Path)
    parser.add_argument("--examples", type=Path, help="default: examples.json beside the version folder")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--layers", type=int, default=LAYERS, help="BERT-small class: 4")
    parser.add_argument("--hidden", type=int, default=HIDDEN, help="BERT-small class: 256")
    parser.add_argument("--sequence-length", type=int, default=SEQUENCE_LENGTH, help="BERT-small class: 128")
    parser.add_argument(
        "--train-sequence-length", type=int, help="pack training texts to this length (default: the same)"
    )
    parser.add_argument("--write-validation", type=Path, help="also write the held-out split (.jsonl) here")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf
    from sklearn.metrics import f1_score

    from model_export import export_model, read_metadata
    from model_export.data.model_rows import score_rows

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    x_train, x_test, y_train, y_test = split_corpus()
    task = build_task(x_train, args.layers, args.hidden, args.sequence_length)
    train(task, x_train, y_train, args.epochs, args.train_sequence_length)

    with tempfile.TemporaryDirectory() as tmp:
        keras_path = Path(tmp) / "docstrings_bert.keras"
        task.save(keras_path)
        report = export_model(keras_path, args.output, LABELS)
        held_out = args.write_validation or Path(tmp) / "held_out.jsonl"
        held_out.write_text(
            "".join(
                json.dumps({"text": t, "labels": [int(v) for v in row]}) + "\n"
                for t, row in zip(x_test, y_test, strict=True)
            )
        )
        models = {"transformer": args.output, "tf-idf": args.output.parent.parent.parent / "docstrings/1/model.onnx"}
        scores = {  # each model at its own thresholds, through the service's path (text step + ONNX Runtime)
            name: score_rows(path, held_out, LABELS)[0] >= np.asarray(read_metadata(path).thresholds)
            for name, path in models.items()
            if path.is_file()
        }
    print(report.format())

    truth = y_test.astype(bool)
    predicted = scores["transformer"]
    print(f"\nheld-out split: {len(x_test)} of {len(x_train) + len(x_test)} docstrings (seed {SEED}); F1 per label")
    names = list(scores)
    print(f"{'label':<14}" + "".join(f"{name:>13}" for name in names) + f"{'support':>9}")
    f1 = {name: f1_score(truth, positive, average=None, zero_division=0) for name, positive in scores.items()}
    for i, label in enumerate(LABELS):
        print(f"{label:<14}" + "".join(f"{f1[name][i]:>13.3f}" for name in names) + f"{int(truth[:, i].sum()):>9d}")
    print(f"{'macro avg':<14}" + "".join(f"{f1[name].mean():>13.3f}" for name in names))

    examples_path = args.examples or args.output.parent.parent / "examples.json"
    write_examples(x_test, truth, (predicted == truth).all(axis=1), examples_path)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    sys.exit(main())
