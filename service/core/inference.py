"""The one place a request becomes a result. Every protocol adapter calls `InferenceService.infer`."""

from __future__ import annotations

from .registry import ModelRegistry
from .types import InferenceRequest, InferenceResult


class InferenceService:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    async def infer(self, request: InferenceRequest) -> InferenceResult:
        served = self.registry.get(request.model_name, request.model_version)
        model = served.model
        thresholds = model.resolve_thresholds(request.threshold)
        arrays = model.to_arrays(request.inputs, self.registry.settings.max_batch_size)
        rows = next(iter(arrays.values())).shape[0]
        probabilities, logits = await served.batcher.submit(arrays, rows)
        return InferenceResult(model.name, model.version, model.labels, probabilities, logits, thresholds)
