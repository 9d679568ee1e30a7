"""What the registry holds of each model: its state (versions on disk, the version served, why not), the served
version with its batch queue, and the events listeners hear. Data only: `registry.py` changes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..contract.repository import Fingerprint
from .batcher import Batcher
from .model import LoadedModel
from .types import ModelHandle


@dataclass(frozen=True)
class RepositoryConfig:
    """What the registry needs to know, handed in where the app is assembled."""

    root: Path  # NAME/VERSION/model.onnx
    intra_op_threads: int = 1
    max_batch_size: int = 64
    max_batch_delay_ms: float = 0.0
    inline_run_us: float = 50.0
    max_queue_rows: int = 1024


@dataclass
class ServedModel:
    """A loaded model version and the batch queue in front of it."""

    model: LoadedModel
    batcher: Batcher
    fingerprint: Fingerprint | None = None  # of the file it was loaded from: a rewrite in place reloads it
    handle: ModelHandle = field(init=False, repr=False)  # what the data plane hands to adapters

    def __post_init__(self) -> None:
        m = self.model
        self.handle = ModelHandle(
            m.name, m.version, m.path, m.labels, m.thresholds, m.inputs, self, dict(m.file.input_aliases)
        )


@dataclass
class ModelState:
    name: str
    versions: list[int] = field(default_factory=list)  # on disk, ascending
    served: ServedModel | None = None
    error: str | None = None  # why the model is not served (or why the newest version was rejected)
    unloaded: bool = False  # unloaded through the API: the watcher leaves it alone until an explicit load
    # Failed versions: their file's fingerprint and why. Retried only when the file changes (or on an explicit load).
    rejected: dict[int, tuple[Fingerprint, str]] = field(default_factory=dict)
    unreadable: dict[int, str] = field(default_factory=dict)  # versions whose model.onnx cannot be read, and why
    ignored: list[str] = field(default_factory=list)  # what else is in the model's folder, and what was expected
    folder_error: str | None = None  # the model's folder cannot be listed

    @property
    def ready(self) -> bool:
        return self.served is not None


@dataclass(frozen=True)
class ModelEvent:
    """What listeners (metrics, logs) hear: kind is "loaded", "rejected" or "unloaded"."""

    kind: str
    name: str
    version: int | None
    seconds: float = 0.0  # load + warm-up time, for "loaded" and "rejected"
    error: str | None = None
    # The same for every worker that makes the same attempt (the file's fingerprint, and the repository API's load
    # that asked for it, if one did): with several workers, a listener can count an attempt once per server.
    attempt: str = ""
