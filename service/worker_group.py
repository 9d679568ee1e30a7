"""What the workers of one `python -m service` share: a folder, made before uvicorn starts them.

With WORKERS > 1 uvicorn runs the app in several processes. So that they answer as one server, they share
SHARED_DIR: Prometheus' multiprocess files (`metrics/`, every scrape sums all workers), the list of
models unloaded through the repository API (`core/shared_unloads.py`) and a roster of the workers that have
loaded the repository (`workers/`: readiness waits for all of them, so no request meets a worker that is
still loading). The parent process makes the folder (a temporary one unless SHARED_DIR is set), clears what
a previous run left there, and passes it to the workers through the environment; a temporary folder is
removed when the server exits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .core.shared_unloads import FILE_NAME
from .settings import Settings

METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when a worker imports it
ROSTER = "workers"


@contextmanager
def shared_folder(settings: Settings) -> Iterator[Path | None]:
    """For the server's lifetime: the workers' shared folder (None with one worker), exported to them."""
    if settings.workers == 1 and settings.shared_dir is None:
        yield None
        return
    made = settings.shared_dir is None
    try:
        folder = Path(tempfile.mkdtemp(prefix="sigmoid-serve-")) if made else settings.shared_dir
        metrics = folder / "metrics"
        for left_over in (metrics, folder / ROSTER):  # an earlier run's counters and workers must not count now
            shutil.rmtree(left_over, ignore_errors=True)
            left_over.mkdir(parents=True)
        (folder / FILE_NAME).unlink(missing_ok=True)
    except OSError as exc:
        raise SystemExit(
            f"WORKERS={settings.workers} needs a writable folder the workers share ({exc}); "
            "mount a tmpfs on /tmp, set SHARED_DIR to a writable folder, or set WORKERS=1"
        ) from None
    os.environ["SHARED_DIR"] = str(folder)
    os.environ[METRICS_ENV] = str(metrics)
    try:
        yield folder
    finally:
        if made:
            shutil.rmtree(folder, ignore_errors=True)


class WorkerRoster:
    """The workers that have loaded the repository: one file each, named by process id.

    uvicorn replaces a worker that dies; the dead one's file is dropped at the next readiness check (and
    `on_dead` told, for its metrics), so readiness waits for the replacement to load.
    """

    def __init__(self, folder: Path, expected: int, on_dead: Callable[[int], None] | None = None) -> None:
        self.folder = folder / ROSTER
        self.expected = expected
        self._on_dead = on_dead

    def join(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / str(os.getpid())).touch()

    def leave(self) -> None:
        (self.folder / str(os.getpid())).unlink(missing_ok=True)

    def not_ready_reasons(self) -> list[str]:
        joined = sum(self._alive(entry) for entry in self.folder.iterdir()) if self.folder.is_dir() else 0
        if joined >= self.expected:
            return []
        return [f"{joined} of {self.expected} workers have loaded the repository"]

    def _alive(self, entry: Path) -> bool:
        pid = int(entry.name)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            entry.unlink(missing_ok=True)
            if self._on_dead is not None:
                self._on_dead(pid)
            return False
        except PermissionError:  # alive, under another user
            pass
        return True
