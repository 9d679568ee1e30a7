"""What the workers of one `python -m service` share: a folder, made before uvicorn starts them.

With WORKERS > 1 uvicorn runs the app in several processes. So that they answer as one server, they share
SHARED_DIR: Prometheus' multiprocess files (`metrics/`, every scrape sums all workers), and the repository
control of `core/shared_control.py`: what the repository API asked for (`control.json`) and what each worker has
applied (`applied/PID.json`, written once the worker has loaded the repository: readiness waits for all of
them, so no request meets a worker that is still loading). The parent process makes the folder (a temporary one
unless SHARED_DIR is set), clears what a previous run left there, and passes it to the workers through the
environment; a temporary folder is removed when the server exits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .core.shared_control import APPLIED_DIR, CONTROL_FILE, process_alive, worker_pid
from .settings import Settings

METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when a worker imports it
EVENTS_DIR = "events"  # events counted once per server, whichever worker saw them first (observability.py)


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
        for left_over in (metrics, folder / APPLIED_DIR, folder / EVENTS_DIR):  # an earlier run's must not count
            shutil.rmtree(left_over, ignore_errors=True)
            left_over.mkdir(parents=True)
        (folder / CONTROL_FILE).unlink(missing_ok=True)
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
    """The workers that have loaded the repository: the live ones among `applied/PID.json` (core/shared_control.py).

    uvicorn replaces a worker that dies; the dead one's file is dropped at the next readiness check (and
    `on_dead` told, for its metrics), so readiness waits for the replacement to load. Files that are not
    named by a process id are not ours and are left alone.
    """

    def __init__(self, folder: Path, expected: int, on_dead: Callable[[int], None] | None = None) -> None:
        self.folder = folder / APPLIED_DIR
        self.expected = expected
        self._on_dead = on_dead

    def not_ready_reasons(self) -> list[str]:
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            entries = []
        joined = sum(self._alive(entry) for entry in entries)
        if joined >= self.expected:
            return []
        return [f"{joined} of {self.expected} workers have loaded the repository"]

    def others_serving(self) -> bool:
        """Whether another live worker has loaded the repository: this one joins a server already serving."""
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            return False
        return any(worker_pid(entry.name) not in (None, os.getpid()) and self._alive(entry) for entry in entries)

    def _alive(self, entry: Path) -> bool:
        pid = worker_pid(entry.name)
        if pid is None:
            return False
        if process_alive(pid):
            return True
        entry.unlink(missing_ok=True)
        if self._on_dead is not None:
            self._on_dead(pid)
        return False
