"""What the running service holds: settings, the model registry, the inference core, the drain flag, and
with several workers the roster of those that have loaded the repository."""

from dataclasses import dataclass

from . import observability
from .core.inference import InferenceService
from .core.registry import ModelRegistry
from .settings import Settings
from .worker_group import WorkerRoster


@dataclass
class ServiceState:
    settings: Settings
    registry: ModelRegistry
    inference: InferenceService
    draining: bool = False
    roster: WorkerRoster | None = None

    @classmethod
    def create(cls, settings: Settings) -> "ServiceState":
        registry = ModelRegistry(settings)
        roster = None
        if settings.shared_dir:
            roster = WorkerRoster(settings.shared_dir, settings.workers, on_dead=observability.worker_gone)
        return cls(settings, registry, InferenceService(registry), roster=roster)
