"""Parity of a text model from raw strings: the service's text steps + ONNX Runtime vs sigmoid(keras_model(strings)).

The ONNX side takes the path the service takes (`raw_predict.predict_raw`: `TextStep.transform_rows`, texts of
equal token counts stacked by `group_equal_lengths`, one ONNX Runtime call per group). Keras scores each text alone
when a step is variable-length (a batch would pad it to its longest text); fixed-length models are compared batch
against batch. Rows with no token where a step needs one are the service's 400s: counted, not compared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from model_export.errors import ExportError
from model_export.parity.compare import LOGIT_RELATIVE_TOLERANCE, Reference, VerificationReport
from model_export.text.corpus import corpus_for
from model_export.text.plan import STRING, TextPlan, TextUse
from model_export.text.raw_predict import Rows, predict_raw, row_count, take
from service.contract.errors import InvalidText
from service.contract.text.keras_layers import TextStep

_KERAS_CHUNK = 64


@dataclass
class TextParity:
    report: VerificationReport
    needs_token: dict[str, bool]  # by the ONNX input each step feeds
    rows: int  # rows compared
    rows_without_token: int  # rows the service answers with a 400 instead (not compared)
    refused_unknown: bool = False  # --refuse-empty-texts: rows with no known word are among them

    def describe(self) -> str:
        without = "no token or no known word" if self.refused_unknown else "no token"
        return f"{self.rows} rows of raw text, {self.rows_without_token} more with {without} (answered 400, never NaN)"


def as_keras_strings(texts: Sequence[str], string_shape: tuple[int, ...]) -> np.ndarray:
    array = np.empty(len(texts), dtype=object)
    array[:] = list(texts)
    return array[:, None] if string_shape == (1,) else array


def keras_batch(inputs: Sequence[Any], plan: TextPlan, rows: Rows) -> dict[str, Any]:
    """Rows as the Keras model takes them: strings shaped like each string input, numbers as they are."""
    shapes = {use.input_name: use.string_shape for use in plan.uses}
    return {
        spec.name: as_keras_strings(rows[spec.name], shapes[spec.name]) if spec.dtype == STRING else rows[spec.name]
        for spec in inputs
    }


def verify_text_parity(
    model: onnx.ModelProto,
    plan: TextPlan,
    inputs: Sequence[Any],  # the Keras model's InputSpecs
    reference: Callable[[dict[str, np.ndarray]], Reference],
    tolerance: float,
    sample_rows: Rows | None = None,
    int_high: int = 10,
    seed: int = 0,
) -> TextParity:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rows = corpus_rows(plan, inputs, sample_rows, int_high, seed)
    needs_token = _needs_token(plan, inputs, reference)
    steps = plan.steps(needs_token)
    for use, step in zip(plan.uses, steps, strict=True):
        _check_layer(use, step, rows[use.input_name])
    predicted = predict_raw(session, steps, rows, numeric=[s.name for s in inputs if s.dtype != STRING])
    if not predicted.scored:
        raise ExportError("no parity row has a token after standardization; give --sample-data with real texts")
    each_alone = any(step.variable_length for step in steps)
    expected = _keras_answers(reference, inputs, plan, take(rows, predicted.scored), each_alone)
    report = _compare(predicted.probabilities, predicted.logits, expected, take(rows, predicted.scored), tolerance)
    report = VerificationReport(predicted.batch_sizes, *report)
    unanswered = row_count(rows) - len(predicted.scored)
    return TextParity(report, needs_token, len(predicted.scored), unanswered, plan.refuse_empty_texts)


def corpus_rows(plan: TextPlan, inputs: Sequence[Any], sample_rows: Rows | None, int_high: int, seed: int) -> Rows:
    """The tricky corpus and vocabulary texts for every text input (random numbers for the others), then samples."""
    from model_export.parity.compare import random_inputs

    names = list(dict.fromkeys(use.input_name for use in plan.uses))
    corpus = corpus_for([use.spec for use in plan.uses], seed=seed)
    rows: dict[str, Any] = {}
    for k, name in enumerate(names):  # several text inputs: shifted, so that their combinations vary
        shift = (k * 7) % len(corpus)
        rows[name] = corpus[shift:] + corpus[:shift]
    numeric = [spec for spec in inputs if spec.dtype != STRING]
    rows.update(random_inputs(numeric, len(corpus), int_high, np.random.default_rng(seed)))
    for spec in inputs if sample_rows else ():
        values = sample_rows[spec.name]
        if spec.dtype == STRING:
            rows[spec.name] = rows[spec.name] + [str(v) for v in values]
        else:
            rows[spec.name] = np.concatenate([rows[spec.name], np.asarray(values, spec.dtype)])
    return rows


def _needs_token(plan: TextPlan, inputs: Sequence[Any], reference: Callable) -> dict[str, bool]:
    """Variable-length steps always; a fixed-length step's when Keras answers an empty text with NaN."""
    needs = {use.spec.feeds: use.spec.variable_length for use in plan.uses}
    fillers: dict[str, str] = {}
    for use in plan.uses:
        fillers.setdefault(use.input_name, next((t for t in use.spec.vocabulary if t), "a"))
    numbers = {s.name: np.zeros((1, *(d or 1 for d in s.shape[1:])), s.dtype) for s in inputs if s.dtype != STRING}
    for probed in fillers:
        if all(needs[use.spec.feeds] for use in plan.uses if use.input_name == probed):
            continue  # variable-length: a zero-length sequence, which is a 400 whatever Keras makes of it
        texts = {name: ["" if name == probed else filler] for name, filler in fillers.items()}
        try:
            with np.errstate(invalid="ignore"):  # NaN is the answer being looked for
                answer = reference(keras_batch(inputs, plan, {**numbers, **texts})).probabilities
            answered = bool(np.all(np.isfinite(answer)))
        except Exception:  # Keras itself cannot score such a text (TensorFlow raises many types)
            answered = False
        for use in plan.uses:
            needs[use.spec.feeds] |= use.input_name == probed and not answered
    return needs


def _check_layer(use: TextUse, step: TextStep, texts: list[str]) -> None:
    """The step alone against the Keras layer alone: a mismatch here names the layer and the text."""
    import tensorflow as tf

    layer = tf.function(use.layer, input_signature=[tf.TensorSpec((None, *use.string_shape), tf.string)])
    texts = [text for text in texts if _readable(step, text)]
    if step.variable_length:
        pairs = [(text, step.transform([text]), layer(as_keras_strings([text], use.string_shape))) for text in texts]
    else:
        mine = step.transform(texts)
        theirs = np.asarray(layer(as_keras_strings(texts, use.string_shape)))
        if mine.shape != theirs.shape:
            pairs = [(texts[0], mine, theirs)]
        else:
            pairs = [(text, mine[i : i + 1], theirs[i : i + 1]) for i, text in enumerate(texts)]
    for text, mine, theirs in pairs:
        theirs = np.asarray(theirs)
        if mine.shape != theirs.shape or not np.array_equal(mine, theirs.astype(mine.dtype)):
            raise ExportError(
                f"the service's text step differs from Keras layer '{use.layer.name}' on the text {text[:60]!r} "
                f"(rows of shape {list(mine.shape)} vs {list(theirs.shape)}), so it cannot be served exactly. "
                "Nothing was written."
            )


def _readable(step: TextStep, text: str) -> bool:
    try:
        step.tokens(text)
    except InvalidText:  # no token where the step needs one: the service's 400, nothing to compare
        return False
    return True


def _keras_answers(reference: Callable, inputs, plan: TextPlan, rows: Rows, each_alone: bool) -> Reference:
    count = row_count(rows)
    size = 1 if each_alone else _KERAS_CHUNK
    parts = [
        reference(keras_batch(inputs, plan, take(rows, range(i, min(i + size, count))))) for i in range(0, count, size)
    ]

    def joined(field: str) -> np.ndarray | None:
        values = [getattr(part, field) for part in parts]
        return None if values[0] is None else np.concatenate(values)

    return Reference(joined("probabilities"), joined("logits"), joined("model_output"))


def _compare(probabilities, logits, expected: Reference, rows: Rows, tolerance: float) -> tuple:
    """(max abs error probabilities, logits, vs the model's own sigmoid output, tolerance), or ExportError."""
    for name, values in (("Keras", expected.probabilities), ("ONNX Runtime", probabilities)):
        bad = np.where(~np.isfinite(values).all(axis=1))[0]
        if bad.size:
            raise ExportError(
                f"{name} answers NaN or infinity for the row {_describe(rows, int(bad[0]))}; a model that does "
                "cannot be served. Nothing was written."
            )
    per_row = np.max(np.abs(probabilities.astype(np.float64) - expected.probabilities.astype(np.float64)), axis=1)
    err_p = float(per_row.max(initial=0.0))
    err_l, logits_ok, err_own = 0.0, True, None
    if expected.logits is not None:
        err_l = float(np.max(np.abs(logits.astype(np.float64) - expected.logits), initial=0.0))
        logits_ok = err_l <= LOGIT_RELATIVE_TOLERANCE * max(1.0, float(np.max(np.abs(expected.logits))))
    if expected.model_output is not None:
        err_own = float(np.max(np.abs(probabilities.astype(np.float64) - expected.model_output), initial=0.0))
    if err_p > tolerance or (err_own or 0.0) > tolerance or not logits_ok:
        raise ExportError(
            f"parity check failed from raw text: max abs error probabilities {err_p:.3g} (bound {tolerance:g}), "
            f"logits {err_l:.3g}, worst on the row {_describe(rows, int(np.argmax(per_row)))}. Nothing was written."
        )
    return err_p, err_l, err_own, tolerance


def _describe(rows: Rows, position: int) -> str:
    values = {name: v[position] for name, v in rows.items()}
    return "{" + ", ".join(f"{n}: {v[:60]!r}" if isinstance(v, str) else f"{n}: ..." for n, v in values.items()) + "}"
