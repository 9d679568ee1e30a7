"""Parity of a KerasHub text classifier from raw strings: the service's tokenizer step + ONNX Runtime against the
task's own answer, sigmoid(task.predict(strings)) (KerasHub's preprocessor in tf.data, the path fit() and predict()
take).

The texts: the tricky corpus (Unicode case, accents, ligatures, CJK, controls, zero-width and no-break spaces,
emoji, empty and whitespace-only texts), sentences of the tokenizer's own words, and texts longer than
`sequence_length` (truncation). ONNX Runtime runs them three ways, each within the tolerance of Keras: at
`sequence_length` in batches, padded only to each batch's longest text (what the service does), and each text alone.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from model_export.errors import ExportError
from model_export.keras.kerashub import TransformerPlan, keras_inputs
from model_export.parity.compare import LOGIT_RELATIVE_TOLERANCE, VerificationReport, sigmoid
from model_export.text.corpus import TRICKY_TEXTS
from service.contract.metadata import HEAD_APPENDED_SIGMOID
from service.contract.text.transformer_spec import TransformerTextSpec, dump_spec, parse_spec
from service.contract.text.transformer_step import TransformerTextStep

_BATCH = 32  # rows per ONNX Runtime call when batched; mixing short and long texts in one is the point


@dataclass
class TransformerParity:
    report: VerificationReport
    texts: int

    def describe(self) -> str:
        return f"{self.texts} texts at full length, padded to each batch's longest and alone"


def verify_transformer_parity(
    model: onnx.ModelProto, plan: TransformerPlan, task: Any, decision: Any, tolerance: float, seed: int = 0
) -> TransformerParity:
    """ExportError naming the worst text when ONNX Runtime (through the serve-time step) and Keras disagree."""
    import onnxruntime as ort

    step = TransformerTextStep(parse_spec(dump_spec(plan.spec)))  # the spec as the service will read it
    texts = transformer_corpus(plan.spec, seed)
    probabilities, logits = keras_answers(task, decision, texts)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    worst_p, worst_l = 0.0, 0.0
    for pad_to_longest, size in ((False, _BATCH), (True, _BATCH), (True, 1)):
        got_p, got_l = onnx_answers(session, step, texts, size, pad_to_longest)
        err_p, err_l = check_close(got_p, got_l, probabilities, logits, texts, tolerance, decision.logits_exact)
        worst_p, worst_l = max(worst_p, err_p), max(worst_l, err_l)
    report = VerificationReport([_BATCH, _BATCH, 1], worst_p, worst_l, None, tolerance)
    return TransformerParity(report, len(texts))


def keras_answers(task: Any, decision: Any, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Keras's probabilities (and logits when exact): sigmoid(task.predict(texts)) for a task with logits out; a
    recovered head runs the decision's logits model on the preprocessor's tf.data output."""
    strings = np.array(list(texts), dtype=object)
    if decision.kind == HEAD_APPENDED_SIGMOID:
        logits = np.asarray(task.predict(strings, batch_size=64, verbose=0), np.float64)
        return sigmoid(logits), logits
    import tensorflow as tf

    graph_model = decision.graph_model
    outputs = []
    for features in tf.data.Dataset.from_tensor_slices(strings.astype(str)).batch(64).map(task.preprocessor):
        features = {name: tf.cast(value, tf.int32) for name, value in features.items()}
        outputs.append(np.asarray(graph_model(keras_inputs(graph_model, features), training=False), np.float64))
    output = np.concatenate(outputs)
    return (sigmoid(output), output) if decision.logits_exact else (output, None)


def onnx_answers(
    session: Any, step: TransformerTextStep, texts: Sequence[str], size: int, pad_to_longest: bool
) -> tuple[np.ndarray, np.ndarray]:
    parts = []
    for start in range(0, len(texts), size):
        feeds = step.encode(texts[start : start + size], pad_to_longest=pad_to_longest)
        try:
            parts.append(session.run(["probabilities", "logits"], feeds))
        except Exception as exc:  # ONNX Runtime's own types for a graph that cannot take the step's arrays
            raise ExportError(f"ONNX Runtime cannot run the model on the tokenizer's ids: {exc}") from None
    return np.concatenate([p for p, _ in parts]), np.concatenate([lg for _, lg in parts])


def check_close(
    got_p: np.ndarray,
    got_l: np.ndarray,
    want_p: np.ndarray,
    want_l: np.ndarray | None,
    texts: Sequence[str],
    tolerance: float,
    logits_exact: bool,
) -> tuple[float, float]:
    for name, values in (("Keras", want_p), ("ONNX Runtime", got_p)):
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        if bad.size:
            raise ExportError(f"{name} answers NaN for the text {texts[bad[0]][:60]!r}; it cannot be served")
    per_row = np.abs(got_p.astype(np.float64) - want_p).max(axis=1)
    err_p = float(per_row.max(initial=0.0))
    err_l, logits_ok = 0.0, True
    if want_l is not None and logits_exact:
        err_l = float(np.abs(got_l.astype(np.float64) - want_l).max(initial=0.0))
        logits_ok = err_l <= LOGIT_RELATIVE_TOLERANCE * max(1.0, float(np.abs(want_l).max(initial=0.0)))
    if err_p > tolerance or not logits_ok:
        worst = texts[int(np.argmax(per_row))]
        raise ExportError(
            f"parity check failed from raw text: max abs error probabilities {err_p:.3g} (bound {tolerance:g}), "
            f"logits {err_l:.3g}, worst on the text {worst[:60]!r}. Nothing was written."
        )
    return err_p, err_l


def transformer_corpus(spec: TransformerTextSpec, seed: int = 0) -> list[str]:
    """The tricky texts, sentences of the tokenizer's words, and texts past `sequence_length`."""
    rng = random.Random(seed)
    words = vocabulary_words(spec) or ["text"]
    texts = list(TRICKY_TEXTS)
    for _ in range(60):
        sentence = [rng.choice(words) for _ in range(rng.randint(1, 16))]
        texts.append(" ".join(word.upper() if rng.random() < 0.1 else word for word in sentence))
    texts.append(" ".join(rng.choice(words) for _ in range(4 * spec.sequence_length)))
    texts.append(" ".join(words[:2000]))
    return texts


def vocabulary_words(spec: TransformerTextSpec) -> list[str]:
    """Whole words the tokenizer knows, as a person would type them (no specials, no continuation pieces)."""
    if spec.tokenizer == "wordpiece":
        suffix = spec.suffix_indicator or "##"
        tokens = [t for t in spec.vocabulary or () if not t.startswith(suffix) and not t.startswith("[")]
    elif spec.tokenizer == "byte_bpe":
        tokens = [t[1:] for t in spec.bpe_vocabulary or {} if t.startswith("Ġ") and t[1:].isprintable()]
    else:
        import sentencepiece

        processor = sentencepiece.SentencePieceProcessor(model_proto=spec.sentencepiece_bytes())
        pieces = (processor.id_to_piece(i) for i in range(processor.get_piece_size()))
        tokens = [p[1:] for p in pieces if p.startswith("▁") and len(p) > 1]
    return [t for t in tokens if t.strip()]
