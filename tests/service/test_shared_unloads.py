"""The unload list the workers share: what one instance writes, another reads; nothing is lost between them."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.core.registry import ModelRegistry, RepositoryConfig
from service.core.shared_unloads import SharedUnloads
from tests.repository_files import publish_linear


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


def test_a_worker_that_unloads_still_follows_what_another_worker_unloaded_meanwhile(tmp_path: Path) -> None:
    """Two workers unload different models at about the same time: each ends up with both unloaded."""

    async def scenario() -> None:
        repository, shared = tmp_path / "repository", tmp_path / "shared"
        shared.mkdir()
        for name in ("a", "b"):
            publish_linear(repository, name, 1, seed=1)
        one = ModelRegistry(RepositoryConfig(repository, shared_dir=shared))
        await one.load_all()
        SharedUnloads(shared).add("b")  # the other worker's unload, not yet followed here
        await one.unload("a")
        await one.follow_other_workers()
        assert one.state("a").unloaded and one.state("b").unloaded
        assert one.state("b").served is None
        await one.close()

    asyncio.run(scenario())
