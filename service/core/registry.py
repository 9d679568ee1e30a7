"""The model repository: which models exist, which version of each is loaded, and why one is not.

Layout (as Triton's): MODEL_REPOSITORY/NAME/VERSION/model.onnx with numeric versions; the highest
version that loads is served.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..settings import Settings
from .batcher import Batcher
from .errors import InvalidInput, ModelNotFound, ModelNotReady
from .model import LoadedModel, ModelLoadError

log = logging.getLogger(__name__)

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass
class ServedModel:
    """A loaded model version and the batch queue in front of it."""

    model: LoadedModel
    batcher: Batcher


@dataclass
class ModelState:
    name: str
    versions: list[int] = field(default_factory=list)  # on disk, ascending
    served: ServedModel | None = None
    error: str | None = None  # why the model is not served (or why the newest version was rejected)

    @property
    def ready(self) -> bool:
        return self.served is not None


def check_model_name(name: str) -> str:
    """Model names come from URLs: only plain names, so no path can leave the repository."""
    if not MODEL_NAME.match(name) or name in {".", ".."}:
        raise InvalidInput(f"invalid model name {name!r}: use letters, digits, '_', '-' and '.'")
    return name


def scan_repository(root: Path) -> dict[str, list[int]]:
    """Model name -> versions (ascending) that have a model.onnx."""
    found: dict[str, list[int]] = {}
    if not root.is_dir():
        return found
    for model_dir in sorted(root.iterdir()):
        if not model_dir.is_dir() or not MODEL_NAME.match(model_dir.name):
            continue
        versions = sorted(int(v.name) for v in model_dir.iterdir() if v.name.isdigit() and (v / "model.onnx").is_file())
        if versions:
            found[model_dir.name] = versions
    return found


class ModelRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models: dict[str, ModelState] = {}
        self.loading = False

    async def load_all(self) -> None:
        """Scan the repository and load the newest loadable version of every model."""
        self.loading = True
        try:
            for name, versions in scan_repository(self.settings.model_repository).items():
                state = self.models.setdefault(name, ModelState(name))
                state.versions = versions
                await self._load_newest(state)
        finally:
            self.loading = False

    async def _load_newest(self, state: ModelState) -> None:
        errors = []
        for version in reversed(state.versions):
            if state.served and state.served.model.version == version:
                return
            path = self.settings.model_path(state.name, version)
            try:
                model = await asyncio.to_thread(self._load_and_warm, state.name, version, path)
            except ModelLoadError as exc:
                errors.append(f"version {version}: {exc}")
                log.error("model %s version %s failed to load: %s", state.name, version, exc)
                continue
            state.served = ServedModel(model, self._batcher_for(model))
            log.info("model %s version %s loaded (%d labels)", state.name, version, len(model.labels))
            break
        state.error = "; ".join(errors) or None

    def _load_and_warm(self, name: str, version: int, path: Path) -> LoadedModel:
        model = LoadedModel.load(name, version, path, self.settings.ort_intra_op_threads)
        model.warm_up()
        return model

    def _batcher_for(self, model: LoadedModel) -> Batcher:
        s = self.settings
        return Batcher(model.run, s.max_batch_size, s.max_batch_delay_ms, s.max_queue_rows)

    async def close(self) -> None:
        for state in self.models.values():
            if state.served:
                await state.served.batcher.close()

    # -- lookups used by every protocol --------------------------------------------------------------

    def state(self, name: str) -> ModelState:
        check_model_name(name)
        state = self.models.get(name)
        if state is None:
            known = sorted(self.models) or "none"
            raise ModelNotFound(f"unknown model {name!r}; models in the repository: {known}")
        return state

    def get(self, name: str, version: int | None = None) -> ServedModel:
        state = self.state(name)
        if state.served is None:
            raise ModelNotReady(f"model {name!r} is not loaded: {state.error or 'still loading'}")
        if version is not None and version != state.served.model.version:
            raise ModelNotFound(
                f"model {name!r} version {version} is not served; served version: {state.served.model.version}"
            )
        return state.served

    def default_model_name(self) -> str:
        if self.settings.default_model:
            return self.settings.default_model
        if len(self.models) == 1:
            return next(iter(self.models))
        raise ModelNotFound(
            f"no default model: the repository holds {sorted(self.models)}; set DEFAULT_MODEL "
            "or call /models/{name}/predict"
        )

    def not_ready_reasons(self) -> list[str]:
        if self.loading:
            return ["models are loading"]
        if not self.models:
            return [f"no model found in {self.settings.model_repository} (expected NAME/VERSION/model.onnx)"]
        return [f"{s.name}: {s.error or 'not loaded'}" for s in self.models.values() if not s.ready]
