"""ONNX Runtime's answers against the source's: the tolerances, the ONNX checker, and the comparison on numeric batches.

`export` runs it before writing, `verify` on a written model (both through proof.py); text models compare the same
way from raw strings (text.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from model_export.errors import ExportError
from model_export.input_spec import InputSpec

PROBABILITY_TOLERANCE = 1e-5
# Logits are unbounded, so their bound scales with their magnitude.
LOGIT_RELATIVE_TOLERANCE = 1e-4
DEFAULT_BATCH_SIZES = (1, 7, 64)  # 64: batched kernels, not only the one-row path
_FREE_DIM_SIZE = 12  # for non-batch dimensions the model leaves open (e.g. sequence length)
# Inexact logits (log(p) - log(1-p)) are compared only where p is not saturated in float32.
_INEXACT_LOGIT_RANGE = (1e-3, 1 - 1e-3)


@dataclass(frozen=True)
class Reference:
    probabilities: np.ndarray
    logits: np.ndarray | None  # None when the source has no exact logits
    model_output: np.ndarray | None = None  # the source's own sigmoid output, when it has one


@dataclass(frozen=True)
class VerificationReport:
    batch_sizes: list[int]
    max_abs_error_probabilities: float
    max_abs_error_logits: float
    max_abs_error_model_output: float | None
    tolerance: float


def check_onnx_model(model: onnx.ModelProto) -> None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"the converted model fails the ONNX checker: {exc}") from exc


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    # exp(-logaddexp(0, -x)) == 1 / (1 + exp(-x)) without overflow for large |x|.
    return np.exp(-np.logaddexp(0.0, -x))


def random_inputs(
    specs: Sequence[InputSpec], batch_size: int, int_high: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    batch = {}
    for spec in specs:
        shape = (batch_size, *(_FREE_DIM_SIZE if d is None else d for d in spec.shape[1:]))
        if np.issubdtype(np.dtype(spec.dtype), np.integer):
            batch[spec.name] = rng.integers(0, int_high, size=shape).astype(spec.dtype)
        else:
            batch[spec.name] = rng.normal(size=shape).astype(spec.dtype)
    return batch


def verify_parity(
    model: onnx.ModelProto,
    batches: Sequence[dict[str, np.ndarray]],
    reference: Callable[[dict[str, np.ndarray]], Reference],
    tolerance: float = PROBABILITY_TOLERANCE,
    n_labels: int | None = None,
    on_batch: Callable[[], None] | None = None,
) -> VerificationReport:
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"ONNX Runtime cannot load the converted model: {exc}") from exc
    err_p, err_l, err_own = 0.0, 0.0, None
    for batch in batches:
        probabilities, logits = session.run(["probabilities", "logits"], batch)
        if n_labels is not None and probabilities.shape != (_batch_size(batch), n_labels):
            raise ExportError(
                f"the model returns shape {probabilities.shape} for a batch of {_batch_size(batch)}, "
                f"expected [batch, {n_labels}] (one column per label)"
            )
        expected = reference(batch)
        err_p = max(err_p, _max_abs(probabilities, expected.probabilities))
        if expected.logits is not None:
            scale = max(1.0, float(np.max(np.abs(expected.logits))))
            err_l = max(err_l, _max_abs(logits, expected.logits))
            logits_ok = err_l <= LOGIT_RELATIVE_TOLERANCE * scale
        else:
            p = expected.probabilities.astype(np.float64)
            usable = (p > _INEXACT_LOGIT_RANGE[0]) & (p < _INEXACT_LOGIT_RANGE[1])
            approx = np.log(p) - np.log1p(-p)
            if usable.any():
                err_l = max(err_l, _max_abs(logits[usable], approx[usable]))
            logits_ok = err_l <= 1e-2
        if expected.model_output is not None:
            err_own = max(err_own or 0.0, _max_abs(probabilities, expected.model_output))
        if err_p > tolerance or (err_own or 0.0) > tolerance or not logits_ok:
            raise ExportError(
                f"parity check failed on a batch of {_batch_size(batch)}: max abs error probabilities "
                f"{err_p:.3g} (bound {tolerance:g}), logits {err_l:.3g}"
                + (f", vs the model's own sigmoid output {err_own:.3g}" if err_own is not None else "")
                + ". Nothing was written."
            )
        if not np.allclose(probabilities, sigmoid(logits), atol=tolerance):
            raise ExportError("the ONNX 'probabilities' output is not sigmoid('logits'). Nothing was written.")
        if on_batch is not None:
            on_batch()
    return VerificationReport(
        batch_sizes=[_batch_size(b) for b in batches],
        max_abs_error_probabilities=err_p,
        max_abs_error_logits=err_l,
        max_abs_error_model_output=err_own,
        tolerance=tolerance,
    )


def _max_abs(actual: np.ndarray, expected: np.ndarray) -> float:
    if actual.shape != expected.shape:
        raise ExportError(f"ONNX output shape {actual.shape} differs from the source's {expected.shape}")
    difference = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    # NaN compares false with any bound, so a NaN on either side would pass silently: count it as infinite.
    return float(np.max(np.where(np.isnan(difference), np.inf, difference), initial=0.0))


def _batch_size(batch: dict[str, np.ndarray]) -> int:
    return int(next(iter(batch.values())).shape[0])
