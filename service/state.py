"""What the running service holds, as assembled by `app.create_app`: its settings, the data plane, and with several
workers the roster of those that have loaded the repository."""

from dataclasses import dataclass

from .core.dataplane import DataPlane
from .settings import Settings
from .worker_group import WorkerRoster


@dataclass
class ServiceState:
    settings: Settings
    plane: DataPlane
    roster: WorkerRoster | None = None
