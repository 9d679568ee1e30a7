"""Repository control the workers share: what one instance writes, another reads; nothing is lost between them;
a damaged file or a stray one breaks nothing."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.core.coordination import SharedCoordination
from service.core.model_state import RepositoryConfig
from service.core.registry import ModelRegistry
from service.core.shared_control import CONTROL_FILE, Control, SharedControl
from tests.support.repository_files import publish_linear


def test_what_one_worker_records_the_others_read(tmp_path: Path) -> None:
    one, other = SharedControl(tmp_path), SharedControl(tmp_path)
    assert other.read() == Control()  # no file yet: nothing asked for
    one.change(lambda c: c.with_unload("digits"))
    generation = one.change(lambda c: c.with_unload("cnn"))
    assert other.read().unloaded == {"digits", "cnn"} and other.read().generation == generation == 2
    loaded = other.change(lambda c: c.with_load("digits"))
    assert one.read().unloaded == {"cnn"} and one.read().loads == {"digits": loaded}


def test_concurrent_writers_lose_no_change(tmp_path: Path) -> None:
    names = [f"model-{i}" for i in range(40)]
    with ThreadPoolExecutor(8) as pool:  # each call its own instance, as separate workers would be
        list(pool.map(lambda name: SharedControl(tmp_path).change(lambda c: c.with_unload(name)), names))
    control = SharedControl(tmp_path).read()
    assert control.unloaded == set(names) and control.generation == len(names)


def test_threads_of_one_worker_acknowledge_at_once_without_losing_a_write(tmp_path: Path) -> None:
    """A worker's model changes finish in threads of their own: simultaneous writes of its file all succeed and leave
    a whole document (they once shared one temporary file, so one write failed and the file was left garbled)."""
    shared = SharedControl(tmp_path)
    snapshots = [{"digits": (i, 1), "docstrings": (i, None)} for i in range(400)]
    with ThreadPoolExecutor(8) as pool:
        written = list(pool.map(shared.acknowledge, snapshots))
    assert all(written)
    [mine] = [a for a in shared.applied() if a.pid == os.getpid()]
    assert mine.models in snapshots


def test_a_corrupt_control_file_keeps_the_last_good_state_and_the_next_change_repairs_it(tmp_path: Path) -> None:
    control = SharedControl(tmp_path)
    control.change(lambda c: c.with_unload("a"))
    (tmp_path / CONTROL_FILE).write_text("{not json")
    assert SharedControl(tmp_path).read() == Control()  # a fresh reader: nothing known, nothing broken
    assert control.read().unloaded == {"a"}  # a reader that knew the last good state keeps it
    control.change(lambda c: c.with_unload("b"))
    assert SharedControl(tmp_path).read().unloaded == {"a", "b"}


def test_acknowledgements_of_live_workers_only_and_stray_files_are_ignored(tmp_path: Path) -> None:
    control = SharedControl(tmp_path)
    control.acknowledge({"digits": (3, 1), "gone": (4, None)})
    applied = tmp_path / "applied"
    (applied / "notes.txt").write_text("not a worker")
    (applied / "999999999.json").write_text('{"models": {}}')  # no such process
    (applied / "0.json").write_text('{"models": {}}')
    (applied / f"{os.getppid()}.json").write_text("{half a fi")  # a live process, a file being replaced
    assert [(a.pid, a.models) for a in control.applied()] == [(os.getpid(), {"digits": (3, 1), "gone": (4, None)})]
    # Readiness counts the live workers' files (ours, and the live one being replaced), nothing else.
    assert SharedCoordination(tmp_path, workers=2).not_ready_reasons() == []
    assert SharedCoordination(tmp_path, workers=3).not_ready_reasons() == ["2 of 3 workers have loaded the repository"]
    assert not (applied / "999999999.json").exists()  # the dead worker's file is dropped


def test_a_worker_that_unloads_still_follows_what_another_worker_unloaded_meanwhile(tmp_path: Path) -> None:
    """Two workers unload different models at about the same time: each ends up with both unloaded."""

    async def scenario() -> None:
        repository, shared = tmp_path / "repository", tmp_path / "shared"
        shared.mkdir()
        for name in ("a", "b"):
            publish_linear(repository, name, 1, seed=1)
        one = ModelRegistry(RepositoryConfig(repository), workers=SharedCoordination(shared, workers=1))
        await one.load_all()
        SharedControl(shared).change(lambda c: c.with_unload("b"))  # the other worker's unload, not yet followed
        await one.unload("a")
        await one.follow_other_workers()
        assert one.state("a").unloaded and one.state("b").unloaded
        assert one.state("b").served is None
        await one.close()

    asyncio.run(scenario())
