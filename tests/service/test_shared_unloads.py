"""The unload list the workers share: what one instance writes, another reads; nothing is lost between them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.core.shared_unloads import SharedUnloads


def test_what_one_worker_records_the_others_read(tmp_path: Path) -> None:
    one, other = SharedUnloads(tmp_path), SharedUnloads(tmp_path)
    assert other.names() == frozenset()  # no file yet: nothing unloaded
    one.add("digits")
    one.add("cnn")
    assert other.names() == {"digits", "cnn"}
    other.discard("digits")
    assert one.names() == {"cnn"}
    other.discard("never-unloaded")
    assert one.names() == {"cnn"}


def test_concurrent_writers_lose_no_name(tmp_path: Path) -> None:
    names = [f"model-{i}" for i in range(40)]
    with ThreadPoolExecutor(8) as pool:  # each call its own instance, as separate workers would be
        list(pool.map(lambda name: SharedUnloads(tmp_path).add(name), names))
    assert SharedUnloads(tmp_path).names() == set(names)
