"""What the running service holds: settings, the model registry, the inference core, the drain flag."""

from dataclasses import dataclass

from .core.inference import InferenceService
from .core.registry import ModelRegistry
from .settings import Settings


@dataclass
class ServiceState:
    settings: Settings
    registry: ModelRegistry
    inference: InferenceService
    draining: bool = False

    @classmethod
    def create(cls, settings: Settings) -> "ServiceState":
        registry = ModelRegistry(settings)
        return cls(settings, registry, InferenceService(registry))
