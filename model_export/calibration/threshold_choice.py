"""Choosing one label's threshold from validation probabilities (numpy only); `calibrate` runs it per label.

Serving decides `p >= threshold` on float32 probabilities with float32 thresholds. Every threshold
chosen here is a float32 value lying between two neighbouring observed probabilities (upper one
included), written as the shortest decimal that reads back as that same float32. So the counts
computed here are exactly the counts the service reproduces on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHOD_F1 = "max_f1"
METHOD_KEPT = "kept"
_EPS = 1e-12


@dataclass(frozen=True)
class Scores:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
            "f1": round(self.f1, 6),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
        }


@dataclass(frozen=True)
class Target:
    metric: str  # "precision" or "recall": the one that must reach `value`
    value: float

    @property
    def method(self) -> str:
        return f"target_{self.metric}={self.value:g}"

    @classmethod
    def from_method(cls, method: str) -> Target | None:
        """The target a recorded method names (`target_precision=0.9`); None for max_f1. Inverse of `method`."""
        if method == METHOD_F1:
            return None
        metric, _, value = method.removeprefix("target_").partition("=")
        if not method.startswith("target_") or metric not in ("precision", "recall"):
            raise ValueError(f"unknown calibration method {method!r}")
        return cls(metric, float(value))


@dataclass(frozen=True)
class Curve:
    """Operating points at every distinct observed probability, highest first (threshold = that value)."""

    thresholds: np.ndarray  # float32, strictly decreasing
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray


@dataclass(frozen=True)
class LabelRow:
    """One label's row of the before/after table (calibration/table.py): calibrate, optimize and publish print it."""

    label: str
    method: str  # METHOD_F1, a Target.method, or METHOD_KEPT
    threshold_before: float
    threshold: float  # float32-exact, as stored in metadata
    before: Scores
    after: Scores


@dataclass(frozen=True)
class LabelCalibration(LabelRow):
    curve: Curve
    note: str | None = None


def scores_at(probabilities: np.ndarray, truth: np.ndarray, threshold: float) -> Scores:
    """The service's rule, exactly: float32 p >= float32 threshold."""
    predicted = np.asarray(probabilities, np.float32) >= np.float32(threshold)
    truth = np.asarray(truth, bool)
    tp = int(np.sum(predicted & truth))
    fp = int(np.sum(predicted & ~truth))
    fn = int(np.sum(~predicted & truth))
    return Scores(tp, fp, fn, int(truth.size) - tp - fp - fn)


def curve(probabilities: np.ndarray, truth: np.ndarray) -> Curve:
    p = np.asarray(probabilities, np.float32)
    truth = np.asarray(truth, bool)
    order = np.argsort(-p, kind="stable")
    p_sorted, t_sorted = p[order], truth[order]
    tp_cum = np.cumsum(t_sorted)
    fp_cum = np.cumsum(~t_sorted)
    # The last row of each run of equal probabilities: thresholding at that value admits the whole run.
    last_of_run = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tp, fp = tp_cum[last_of_run].astype(float), fp_cum[last_of_run].astype(float)
    positives = float(truth.sum())
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / positives if positives else np.zeros_like(tp)
    f1 = np.where(tp > 0, 2 * tp / np.maximum(tp + fp + positives, 1), 0.0)
    return Curve(p_sorted[last_of_run], precision, recall, f1)


def calibrate_label(
    label: str, probabilities: np.ndarray, truth: np.ndarray, current: float, target: Target | None = None
) -> LabelCalibration:
    """Choose one label's threshold; keep `current` (and say why) when no sound choice exists."""
    points = curve(probabilities, truth)
    before = scores_at(probabilities, truth, current)

    def kept(note: str) -> LabelCalibration:
        return LabelCalibration(label, METHOD_KEPT, current, current, before, before, points, note)

    if not np.any(truth):
        return kept(f"no positive rows for '{label}' in the data: kept threshold {current:g}")
    if target is None:
        index = int(np.argmax(points.f1))  # first maximum: the highest threshold reaching the best F1
        method = METHOD_F1
    else:
        reached, other = (
            (points.precision, points.recall) if target.metric == "precision" else (points.recall, points.precision)
        )
        ok = np.flatnonzero(reached >= target.value - _EPS)
        if ok.size == 0:
            best = float(np.max(reached))
            return kept(
                f"{target.metric} {target.value:g} is not reachable for '{label}' on this data "
                f"(best {best:.3f}): kept threshold {current:g}"
            )
        # Best other metric; among equals, the higher reached metric.
        index = int(ok[np.lexsort((-reached[ok], -other[ok]))[0]])
        method = target.method
    lower = float(points.thresholds[index + 1]) if index + 1 < len(points.thresholds) else None
    threshold = threshold_between(lower, float(points.thresholds[index]))
    after = scores_at(probabilities, truth, threshold)
    return LabelCalibration(label, method, current, threshold, before, after, points)


def threshold_between(lower: float | None, upper: float) -> float:
    """A short decimal t with lower < t <= upper in float32 (lower None: 0 <= t <= upper).

    Any such t selects exactly the rows with p >= upper; a round number in the gap reads better
    and sits away from both neighbours. Returned as the shortest decimal of its float32 value.
    """
    hi = np.float32(upper)
    lo = np.float32(lower) if lower is not None else None

    def fits(value: np.float32) -> bool:
        return value <= hi and (value > lo if lo is not None else value >= 0)

    middle = (float(hi) + (float(lo) if lo is not None else 0.0)) / 2
    for digits in range(1, 10):
        candidate = np.float32(round(middle, digits))
        if fits(candidate):
            return stored_value(candidate)
    candidate = np.float32(middle)
    return stored_value(candidate if fits(candidate) else hi)


def stored_value(value: np.float32) -> float:
    """The shortest decimal that reads back (as float32) as exactly `value`: what JSON metadata holds."""
    text = np.format_float_positional(np.float32(value), unique=True, trim="-")
    result = float(text)
    assert np.float32(result) == np.float32(value)  # guaranteed by unique=True; guards the invariant
    return result
