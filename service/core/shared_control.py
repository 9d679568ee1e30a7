"""Repository control shared by the workers of one server: what the repository API asked for, and what each worker
has applied.

With WORKERS > 1 a load or unload request reaches one worker. That worker records it in SHARED_DIR/control.json
under a new generation number, applies it, and then waits until every worker says it has applied the model's
control up to that generation (`applied/PID.json`: per model, the generation and the version it serves), so the
API answers only once the whole server serves (or no longer serves) the model. A worker writes its file once it
has loaded the repository at start, so the files also tell which workers are up. The other workers check the
control file several times a second (`core/watcher.py`) and follow. Writers hold an exclusive lock around their
read-modify-write, and every file is replaced atomically, so a reader never sees half of one. A file that cannot
be parsed is reported and read as the last good state; the next change rewrites it whole.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# SHARED_DIR's layout (made by service/server/workers.py): the control, what each worker applied, the model events
# counted once per server (telemetry/metrics.py), and prometheus_client's multiprocess files.
CONTROL_FILE = "control.json"
APPLIED_DIR = "applied"
EVENTS_DIR = "events"
METRICS_DIR = "metrics"


@dataclass(frozen=True)
class Control:
    generation: int = 0
    unloaded: frozenset[str] = frozenset()
    loads: dict[str, int] = field(default_factory=dict)  # model -> generation of its latest explicit load

    def with_load(self, name: str) -> Control:
        generation = self.generation + 1
        return Control(generation, self.unloaded - {name}, {**self.loads, name: generation})

    def with_unload(self, name: str) -> Control:
        return Control(self.generation + 1, self.unloaded | {name}, self.loads)


@dataclass(frozen=True)
class Applied:
    """What one worker has applied: per model, the control generation its state reflects and the version served."""

    pid: int
    models: dict[str, tuple[int, int | None]]


class SharedControl:
    def __init__(self, folder: Path) -> None:
        self.path = folder / CONTROL_FILE
        self.applied_dir = folder / APPLIED_DIR
        self._seen: tuple[int, int, int] | None = None
        self._control = Control()

    def read(self) -> Control:
        """The current control state; the file is read again only when it has changed."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return self._control
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if key != self._seen:
            self._seen = key
            self._control = self._parse() or self._control
        return self._control

    def change(self, change: Callable[[Control], Control]) -> int:
        """Apply a change under the lock and return its generation; OSError (e.g. a full or read-only SHARED_DIR)
        goes to the caller, and then nothing changed."""
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            self._seen = None
            updated = change(self._parse() or self._control)
            _write_atomically(
                self.path,
                {"generation": updated.generation, "unloaded": sorted(updated.unloaded), "loads": updated.loads},
            )
            self._control = updated
            return updated.generation

    def acknowledge(self, models: dict[str, tuple[int, int | None]]) -> bool:
        """This worker's models: the control generation each reflects, and the version it serves (None: none).
        False when it could not be written (reported; the caller tries again later)."""
        try:
            self.applied_dir.mkdir(exist_ok=True)
            document = {name: {"generation": g, "version": v} for name, (g, v) in models.items()}
            _write_atomically(self.applied_dir / f"{os.getpid()}.json", {"models": document})
            return True
        except OSError as exc:
            log.error("cannot record in %s what this worker applied: %s", self.applied_dir, exc)
            return False

    def forget_me(self) -> None:
        (self.applied_dir / f"{os.getpid()}.json").unlink(missing_ok=True)

    def applied(self) -> list[Applied]:
        """What each live worker has applied. Files of processes that are gone, or that cannot be read, are skipped."""
        found = []
        try:
            entries = list(self.applied_dir.iterdir())
        except OSError:
            return found
        for entry in entries:
            pid = worker_pid(entry.name)
            if pid is None or not process_alive(pid):
                continue
            try:
                models = json.loads(entry.read_text())["models"]
                found.append(Applied(pid, {n: (int(m["generation"]), m["version"]) for n, m in models.items()}))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being replaced right now, or not ours: the next look will tell
        return found

    def _parse(self) -> Control | None:
        try:
            document = json.loads(self.path.read_text())
            return Control(
                int(document["generation"]),
                frozenset(str(n) for n in document["unloaded"]),
                {str(k): int(v) for k, v in document["loads"].items()},
            )
        except FileNotFoundError:
            return Control()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.error("cannot read %s (%s); keeping the last state read; the next change rewrites it", self.path, exc)
            return None


def worker_pid(file_name: str) -> int | None:
    """The process id an `applied/` file is named by (PID.json), or None for a file that is not ours."""
    text = file_name.removesuffix(".json")
    if text == file_name or not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    return int(text) or None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    except (OverflowError, OSError):
        return False
    return True


def _write_atomically(path: Path, document: dict) -> None:
    # One temporary file per writing thread: two threads of one process must not write into the same one.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_text(json.dumps(document))
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
