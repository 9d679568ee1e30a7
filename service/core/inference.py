"""The one place a request becomes a result. Every protocol adapter calls `InferenceService.infer`."""

from __future__ import annotations

import asyncio
import time

from ..request_record import note_inference
from .deadline import request_deadline
from .errors import DeadlineExceeded
from .registry import ModelRegistry
from .types import InferenceRequest, InferenceResult


class InferenceService:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    async def infer(self, request: InferenceRequest) -> InferenceResult:
        deadline = request_deadline(self.registry.settings.request_timeout_ms, request.timeout_ms)
        # The request keeps this ServedModel to the end: a hot swap meanwhile does not touch it.
        served = self.registry.get(request.model_name, request.model_version)
        model = served.model
        note_inference(model.name, model.version)
        thresholds = model.resolve_thresholds(request.threshold)
        arrays = model.to_arrays(request.inputs, self.registry.settings.max_batch_size)
        rows = next(iter(arrays.values())).shape[0]
        note_inference(model.name, model.version, rows)
        if deadline is None:
            probabilities, logits = await served.batcher.submit(arrays, rows)
        else:
            at, timeout_ms = deadline
            try:
                remaining = at - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                # On timeout the submission is cancelled: the batcher drops its rows if they have not run yet.
                async with asyncio.timeout(remaining):
                    probabilities, logits = await served.batcher.submit(arrays, rows)
            except TimeoutError:
                raise DeadlineExceeded(
                    f"no result within the request's deadline of {timeout_ms:g} ms "
                    "(REQUEST_TIMEOUT_MS, or the X-Request-Timeout-Ms header); its rows were dropped if not yet run"
                ) from None
        return InferenceResult(model.name, model.version, model.labels, probabilities, logits, thresholds)
