"""Per-label metrics: what each served model version answers, label by label.

For every scored row and label: whether the label was predicted positive (probability >= the model's own
threshold; a request's threshold override does not change what is counted here) and which probability bucket
it fell in. With the rows scored and each label's reference rate (its positive rate on validation data, from
the model's metadata), a query can divide the live positive rate by the reference.

One `LabelRecorder` per served model version. `record()` only keeps the batch's probabilities; every
FLUSH_SECONDS (or sooner, past FLUSH_VALUES) the kept batches are counted in one vectorised pass (a few numpy
calls) and written as at most one increment per touched bucket, per label with positives and per label sum.
So a batch costs a list append, and the metric writes, which are what costs with several workers (each is a
locked write to a memory-mapped file), do not grow with the batch rate. The increments go to prometheus_client's
own value objects: with several workers (PROMETHEUS_MULTIPROC_DIR) they land in the multiprocess files and every
scrape sums them like the other metrics.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence

import numpy as np
from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics, values

disable_created_metrics()  # as in observability.py: no *_created series
PREFIX = "sigmoid_serve"
LABEL_NAMES = ("model", "version", "label")
# 0.05 wide, finer near 0 and 1 where a confident model puts most rows. Probabilities never pass 1, so the
# implied +Inf bucket always equals le="1.0".
PROBABILITY_BUCKETS = (
    (0.001, 0.005, 0.01, 0.025) + tuple(round(0.05 * k, 2) for k in range(1, 20)) + (0.975, 0.99, 0.995, 0.999, 1.0)
)
# Far below any scrape interval, so a scrape never misses more than this much of the traffic.
FLUSH_SECONDS = 0.5
FLUSH_VALUES = 1 << 18  # probabilities kept before a flush regardless of time (1 MiB of float32)

LABEL_POSITIVE_ROWS = Counter(
    f"{PREFIX}_label_positive_rows",
    "Rows predicted positive for a label (probability >= the model's own threshold).",
    LABEL_NAMES,
)
LABEL_PROBABILITY = Histogram(
    f"{PREFIX}_label_probability", "Probability given to a label, one observation per row.", LABEL_NAMES,
    buckets=PROBABILITY_BUCKETS,
)  # fmt: skip
SCORED_ROWS = Counter(f"{PREFIX}_scored_rows", "Rows scored by a model version.", ["model", "version"])
LABEL_REFERENCE_RATIO = Gauge(
    f"{PREFIX}_label_reference_positive_ratio",
    "Share of validation rows predicted positive for a label at the model's thresholds (model metadata).",
    LABEL_NAMES,
    # Every worker sets the same value; the most recent write wins, so forget() can blank it out (NaN).
    multiprocess_mode="livemostrecent",
)
MULTIPROCESS = values.ValueClass is not values.MutexValue  # decided by prometheus_client at import
# Recorders alive per (model, version): a version reloaded from a changed file gets its new recorder before
# the old one is forgotten, and both share the same series, so only the last forget() may drop them.
_recorders_alive: dict[tuple[str, str], int] = {}


class LabelRecorder:
    """The per-label metrics of one served model version."""

    def __init__(
        self,
        model: str,
        version: int | str,
        labels: Sequence[str],
        thresholds: Sequence[float] | np.ndarray,
        reference_rates: Mapping[str, float] | None = None,
    ) -> None:
        self.model, self.version, self.labels = model, str(version), list(labels)
        # float32 like the probabilities: `p >= threshold` then gives exactly the service's multi-hot answer.
        self._thresholds = np.asarray(thresholds, np.float32)
        if self._thresholds.shape != (len(self.labels),):
            raise ValueError(f"{len(self.labels)} labels but {self._thresholds.size} thresholds")
        self._bucket_index = BucketIndex(PROBABILITY_BUCKETS)
        self._n_buckets = len(PROBABILITY_BUCKETS) + 1  # + the implied +Inf bucket
        self._bucket_offsets = np.arange(len(self.labels), dtype=np.intp) * self._n_buckets
        self._rows = SCORED_ROWS.labels(model, self.version)
        self._positive = [LABEL_POSITIVE_ROWS.labels(model, self.version, label) for label in self.labels]
        histograms = [LABEL_PROBABILITY.labels(model, self.version, label) for label in self.labels]
        # A histogram child keeps one value per bucket (not cumulative) and one for the sum: adding a count to
        # them is what observe() does one value at a time (tests compare the two exactly).
        self._bucket_values = [value for child in histograms for value in child._buckets]
        self._sum_values = [child._sum for child in histograms]
        self._references = {}
        for label, rate in (reference_rates or {}).items():
            if label not in self.labels:
                raise ValueError(f"reference rate for unknown label {label!r}; labels are {self.labels}")
            self._references[label] = LABEL_REFERENCE_RATIO.labels(model, self.version, label)
            self._references[label].set(rate)
        self._pending: list[np.ndarray] = []
        self._pending_values = 0
        self._flush_timer: asyncio.TimerHandle | None = None
        self._forgotten = False
        key = (model, self.version)
        _recorders_alive[key] = _recorders_alive.get(key, 0) + 1

    def record(self, probabilities: np.ndarray) -> None:
        """One batch, float32 [rows, labels] as the model returned it. Kept (not copied) until the next flush:
        do not write into the array afterwards. Counted within FLUSH_SECONDS when called on a running event
        loop, at once otherwise."""
        if probabilities.ndim != 2 or probabilities.shape[1] != len(self.labels):
            raise ValueError(f"probabilities of shape {list(probabilities.shape)}; expected [rows, {len(self.labels)}]")
        if not probabilities.shape[0]:
            return
        self._pending.append(probabilities)
        self._pending_values += probabilities.size
        if self._flush_timer is not None and self._pending_values < FLUSH_VALUES:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self._pending_values >= FLUSH_VALUES:
            self.flush()
        else:
            self._flush_timer = loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Count what record() kept, now."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if not self._pending:
            return
        probabilities = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        self._pending, self._pending_values = [], 0
        self._count(probabilities)

    def _count(self, probabilities: np.ndarray) -> None:
        probabilities = np.asarray(probabilities, np.float32)  # the bucket look-up is exact for float32
        positives = np.count_nonzero(probabilities >= self._thresholds, axis=0).tolist()
        buckets = self._bucket_index.of(probabilities)
        buckets += self._bucket_offsets
        counts = np.bincount(buckets.ravel(), minlength=self._bucket_offsets.size * self._n_buckets)
        touched = np.flatnonzero(counts)
        sums = probabilities.sum(axis=0, dtype=np.float64)
        if not np.isfinite(sums).all():  # a NaN probability: counted in the +Inf bucket, left out of the sum
            sums = np.nansum(probabilities, axis=0, dtype=np.float64)
        sums = sums.tolist()

        bucket_values = self._bucket_values
        for index, count in zip(touched.tolist(), counts[touched].tolist(), strict=True):
            bucket_values[index].inc(count)
        for label_index, positive in enumerate(positives):
            if positive:
                self._positive[label_index].inc(positive)
        for label_index, total in enumerate(sums):
            if total:
                self._sum_values[label_index].inc(total)
        self._rows.inc(probabilities.shape[0])

    def forget(self) -> None:
        """The version is no longer served: count what is kept, then drop its series (one worker), or blank
        its reference rates (several workers: prometheus_client cannot remove series from its multiprocess
        files, so the version's counters stay, flat, until the server restarts). Once per recorder; a recorder
        of the same version made meanwhile keeps the series."""
        self.flush()
        key = (self.model, self.version)
        if self._forgotten:
            return
        self._forgotten = True
        _recorders_alive[key] -= 1
        if _recorders_alive[key]:
            return
        del _recorders_alive[key]
        if MULTIPROCESS:
            for gauge in self._references.values():
                gauge.set(math.nan)
            return
        for label in self.labels:
            LABEL_POSITIVE_ROWS.remove(self.model, self.version, label)
            LABEL_PROBABILITY.remove(self.model, self.version, label)
            if label in self._references:
                LABEL_REFERENCE_RATIO.remove(self.model, self.version, label)
        SCORED_ROWS.remove(self.model, self.version)


class BucketIndex:
    """Which histogram bucket each float32 probability falls in (Prometheus' rule: the first `le` >= p; NaN and
    anything above the last bound go to +Inf), by table look-up: numpy's searchsorted, a binary search, took
    1.3-3.7x longer per value on the thousands of rows a flush counts.

    [0, 1] is cut into CELLS equal cells, each holding at most one bucket bound: a value's bucket is its cell's
    first bucket, plus one if it lies above the bound inside its cell. Both steps are exact in float32: scaling
    by a power of two is exact, and for a float32 p, p <= bound exactly when p <= the largest float32 <= bound.
    """

    CELLS = 2048

    def __init__(self, bounds: Sequence[float]) -> None:
        edges = np.arange(self.CELLS + 1) / self.CELLS  # cell g is [edges[g], edges[g+1]); cell CELLS is [1, ...)
        bounds64 = np.asarray(bounds, np.float64)
        cells = np.floor(bounds64 * self.CELLS).astype(np.intp)
        if len(set(cells.tolist())) != len(cells) or bounds64.min() < 0 or bounds64.max() > 1:
            raise ValueError("bucket bounds must lie in [0, 1], at most one per 1/2048")
        self._first = np.searchsorted(bounds64, edges, side="left").astype(np.intp)
        self._bound_in_cell = np.full(self.CELLS + 1, np.inf, np.float32)
        as_float32 = bounds64.astype(np.float32)
        below = as_float32.astype(np.float64) > bounds64  # rounded up: step down to the largest float32 <= bound
        self._bound_in_cell[cells] = np.where(below, np.nextafter(as_float32, np.float32(-np.inf)), as_float32)
        # Past 1 (and NaN, which fmin maps to the cap): the +Inf bucket.
        self._first = np.append(self._first, len(bounds64))
        self._bound_in_cell = np.append(self._bound_in_cell, np.float32(np.inf))

    def of(self, probabilities: np.ndarray) -> np.ndarray:
        """Bucket index (0 .. len(bounds), the last one +Inf) of each value, same shape."""
        scaled = probabilities * np.float32(self.CELLS)
        np.fmin(scaled, np.float32(self.CELLS + 1), out=scaled)
        np.fmax(scaled, np.float32(0), out=scaled)
        cells = scaled.astype(np.int32)
        buckets = np.take(self._first, cells)
        buckets += probabilities > np.take(self._bound_in_cell, cells)
        return buckets
