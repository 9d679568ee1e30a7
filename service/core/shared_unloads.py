"""The models unloaded through the repository API, shared by the workers of one server through one small file.

With WORKERS > 1 an unload or load request reaches one worker. That worker applies it at once and records it
in SHARED_DIR/unloaded.json; the other workers check the file about twice a second (`core/watcher.py`) and
follow. Writers hold an exclusive lock around their read-modify-write, and the file is replaced atomically,
so a reader never sees half a list.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path

FILE_NAME = "unloaded.json"


class SharedUnloads:
    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME
        self._seen: tuple[int, int, int] | None = None
        self._names: frozenset[str] = frozenset()

    def names(self) -> frozenset[str]:
        """The model names unloaded through the API; the file is read again only when it has changed."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._names = None, frozenset()
            return self._names
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if key != self._seen:
            self._seen, self._names = key, frozenset(self._read())
        return self._names

    def add(self, name: str) -> None:
        self._update(lambda names: names | {name})

    def discard(self, name: str) -> None:
        self._update(lambda names: names - {name})

    def _read(self) -> list[str]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return []

    def _update(self, change: Callable[[set[str]], set[str]]) -> None:
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            names = change(set(self._read()))
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(sorted(names)))
            os.replace(temporary, self.path)
