"""Train and export the text demo model: topics of Python standard-library docstrings (docstrings_corpus.py).

    python -m model_export.demos.docstrings [--output models/docstrings/1/model.onnx]
    python -m model_export.demos.docstrings --write-validation val.jsonl   # held-out split, for calibrate

Clients send raw text; the model's TextVectorization (tf-idf of words and word pairs) is reproduced by the
service from the exported model's metadata.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from model_export.demos.docstrings_corpus import LABELS, load_corpus

SEED = 0
N_EXAMPLES = 5
MAX_TOKENS = 2000
_SHORT_EXAMPLE = 90  # characters: examples fit on one line of a README curl


def split_corpus() -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """texts_train, texts_held_out, y_train, y_held_out (multi-hot float32): the split the demo was trained on."""
    from sklearn.model_selection import train_test_split

    texts, labels = load_corpus()
    y = np.asarray([[label in row for label in LABELS] for row in labels], np.float32)
    x_train, x_test, y_train, y_test = train_test_split(texts, y, test_size=0.25, random_state=SEED)
    return list(x_train), list(x_test), y_train, y_test


def write_validation(path: Path) -> int:
    """The held-out split as calibrate takes it: JSONL with "text" and "labels" (names). Returns the row count."""
    _, texts, _, y = split_corpus()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for text, row in zip(texts, y, strict=True):
            names = [label for label, on in zip(LABELS, row, strict=True) if on]
            handle.write(json.dumps({"text": text, "labels": names}, ensure_ascii=False) + "\n")
    return len(texts)


def build_model(train_texts: list[str]):  # -> keras.Model
    import keras
    import tensorflow as tf

    vectorizer = keras.layers.TextVectorization(max_tokens=MAX_TOKENS, ngrams=2, output_mode="tf_idf", name="tfidf")
    vectorizer.adapt(tf.constant(train_texts))
    text = keras.Input((), dtype="string", name="text")
    hidden = keras.layers.Dropout(0.3)(vectorizer(text))
    logits = keras.layers.Dense(len(LABELS), name="logits")(hidden)  # linear: the exporter adds the Sigmoid
    model = keras.Model(text, logits, name="docstrings")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_export.demos.docstrings", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--output", default="models/docstrings/1/model.onnx", type=Path)
    parser.add_argument("--examples", type=Path, help="default: examples.json beside the version folder")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--write-validation", type=Path, help="only write the held-out split (.jsonl) and exit")
    args = parser.parse_args(argv)
    if args.write_validation:
        rows = write_validation(args.write_validation)
        print(f"wrote {args.write_validation} ({rows} held-out rows: text, labels)")
        return 0

    import keras
    import onnxruntime as ort
    import tensorflow as tf
    from sklearn.metrics import precision_recall_fscore_support

    from model_export import export_model, read_metadata
    from model_export.text.raw_predict import predict_raw
    from service.contract.text.keras_layers import text_steps_from_metadata

    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    x_train, x_test, y_train, y_test = split_corpus()
    model = build_model(x_train)
    model.fit(tf.constant(x_train), y_train, epochs=args.epochs, batch_size=32, verbose=0, shuffle=True)

    with tempfile.TemporaryDirectory() as tmp:
        keras_path = Path(tmp) / "docstrings.keras"
        model.save(keras_path)
        sample = Path(tmp) / "held_out.jsonl"
        sample.write_text("".join(json.dumps({"text": t}) + "\n" for t in x_test))  # parity on real texts too
        report = export_model(keras_path, args.output, LABELS, sample_data=sample)
    print(report.format())

    session = ort.InferenceSession(str(args.output), providers=["CPUExecutionProvider"])
    steps = text_steps_from_metadata(session.get_modelmeta().custom_metadata_map)
    served = predict_raw(session, steps, {"text": x_test})  # the service's path: text step + ONNX Runtime
    assert served.scored == list(range(len(x_test))), "every docstring has a token"
    predicted = served.probabilities >= np.asarray(read_metadata(args.output).thresholds)
    truth = y_test.astype(bool)
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, zero_division=0)
    print(f"\nheld-out split: {len(x_test)} of {len(x_train) + len(x_test)} docstrings (seed {SEED})")
    print(f"{'label':<14}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}")
    for i, label in enumerate(LABELS):
        print(f"{label:<14}{precision[i]:>10.3f}{recall[i]:>8.3f}{f1[i]:>8.3f}{support[i]:>9d}")
    print(f"{'macro avg':<14}{precision.mean():>10.3f}{recall.mean():>8.3f}{f1.mean():>8.3f}")
    keras_probabilities = 1.0 / (1.0 + np.exp(-np.asarray(model(tf.constant(x_test), training=False), np.float64)))
    error = np.abs(served.probabilities - keras_probabilities).max()
    print(f"served vs Keras max abs error on held-out probabilities: {error:.2e}")

    examples_path = args.examples or args.output.parent.parent / "examples.json"
    write_examples(x_test, truth, (predicted == truth).all(axis=1), examples_path)
    return 0


def write_examples(texts: list[str], truth: np.ndarray, all_correct: np.ndarray, path: Path) -> None:
    """The rows pick_examples chose, with their labels, written to `path` (the demo's examples.json)."""
    rows = pick_examples(texts, truth, all_correct)
    examples = {
        "instances": [texts[r] for r in rows],
        "labels": [[label for label, on in zip(LABELS, truth[r], strict=True) if on] for r in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(examples, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path} (held-out rows {rows})")


def pick_examples(texts: list[str], truth: np.ndarray, all_correct: np.ndarray) -> list[int]:
    """Short held-out texts the model gets fully right, with label sets not seen yet (several labels first).

    Docs and tests show these as "send this, get that"; the per-label scores are the honest measure."""
    rows: list[int] = []
    seen: set[tuple[bool, ...]] = set()
    short = [row for row in range(len(texts)) if 30 <= len(texts[row]) <= _SHORT_EXAMPLE]
    for wanted in (2, 1):
        for row in short:
            key = tuple(truth[row])
            if all_correct[row] and sum(key) == wanted and key not in seen and len(rows) < N_EXAMPLES:
                rows.append(row)
                seen.add(key)
    return rows


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    sys.exit(main())
