"""The registry's reload rules on real ONNX Runtime sessions, without a server (one event loop per test)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from service.core.coordination import SharedCoordination
from service.core.dataplane import DataPlane
from service.core.errors import RepositoryControlFailed
from service.core.model_state import ModelEvent, RepositoryConfig
from service.core.registry import ModelRegistry
from tests.support.repository_files import publish, publish_corrupt, publish_linear

ROW = np.zeros((1, 4), np.float32)


def registry_for(root: Path) -> tuple[ModelRegistry, list[ModelEvent]]:
    registry = ModelRegistry(RepositoryConfig(root))
    events: list[ModelEvent] = []
    registry.listeners.append(events.append)
    return registry, events


def kinds(events: list[ModelEvent]) -> list[tuple[str, str, int | None]]:
    return [(e.kind, e.name, e.version) for e in events]


def test_rejected_version_is_not_retried_until_its_file_changes(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry, events = registry_for(tmp_path)
        publish_linear(tmp_path, "m", 1, seed=1)
        await registry.load_all()
        publish_corrupt(tmp_path, "m", 2)
        for _ in range(3):
            await registry.sync()
        assert kinds(events) == [("loaded", "m", 1), ("rejected", "m", 2)]
        state = registry.state("m")
        assert state.served.model.version == 1 and "version 2" in state.error and "serving version 1" in state.error
        assert DataPlane(registry).ready().reasons == []

        publish_linear(tmp_path, "m", 2, seed=2)  # the file changes: tried again, and swapped in
        await registry.sync()
        assert kinds(events)[2:] == [("loaded", "m", 2), ("unloaded", "m", 1)]
        assert state.served.model.version == 2 and state.error is None
        assert events[2].seconds > 0
        await registry.close()

    asyncio.run(scenario())


def test_request_that_looked_up_the_old_version_finishes_on_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry, _ = registry_for(tmp_path)
        weights = publish_linear(tmp_path, "m", 1, seed=1)
        await registry.load_all()
        old = DataPlane(registry).lookup("m").served
        publish_linear(tmp_path, "m", 2, seed=2)
        await registry.sync()
        assert DataPlane(registry).lookup("m").version == 2
        probabilities, _ = await old.batcher.submit({"features": ROW}, 1)  # its batcher is closed, yet it answers
        np.testing.assert_allclose(probabilities[0], 1 / (1 + np.exp(-weights["bias"])), atol=1e-6)
        await registry.close()

    asyncio.run(scenario())


def test_queued_rows_of_the_old_version_run_before_it_is_released(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry, _ = registry_for(tmp_path)
        publish_linear(tmp_path, "m", 1, seed=1)
        await registry.load_all()
        old = DataPlane(registry).lookup("m").served
        queued = [asyncio.create_task(old.batcher.submit({"features": ROW}, 1)) for _ in range(20)]
        await asyncio.sleep(0)  # they are queued
        publish_linear(tmp_path, "m", 2, seed=2)
        await registry.sync()
        results = await asyncio.gather(*queued)
        assert len(results) == 20 and all(p.shape == (1, 3) for p, _ in results)
        await registry.close()

    asyncio.run(scenario())


def test_rollback_when_the_served_version_folder_is_removed(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry, _ = registry_for(tmp_path)
        publish_linear(tmp_path, "m", 1, seed=1)
        publish_linear(tmp_path, "m", 2, seed=2)
        await registry.load_all()
        assert DataPlane(registry).lookup("m").version == 2
        (tmp_path / "m" / "2" / "model.onnx").unlink()
        await registry.sync()
        assert DataPlane(registry).lookup("m").version == 1
        await registry.close()

    asyncio.run(scenario())


def test_explicit_unload_sticks_until_an_explicit_load(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry, events = registry_for(tmp_path)
        publish_linear(tmp_path, "m", 1, seed=1)
        await registry.load_all()
        await registry.unload("m")
        await registry.sync()
        state = registry.state("m")
        assert not state.ready and state.unloaded and DataPlane(registry).ready().reasons == []
        await registry.load("m")
        assert state.ready and kinds(events) == [("loaded", "m", 1), ("unloaded", "m", 1), ("loaded", "m", 1)]
        await registry.close()

    asyncio.run(scenario())


def test_a_broken_listener_does_not_break_loading(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry, events = registry_for(tmp_path)
        registry.listeners.insert(0, lambda event: 1 / 0)
        publish_linear(tmp_path, "m", 1, seed=1)
        await registry.load_all()
        assert registry.state("m").ready and kinds(events) == [("loaded", "m", 1)]
        await registry.close()

    asyncio.run(scenario())


def test_a_version_whose_file_changes_while_loading_is_not_marked_rejected(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry, events = registry_for(tmp_path)
        publish_linear(tmp_path, "m", 1, seed=1)
        await registry.load_all()
        publish_corrupt(tmp_path, "m", 2)
        real_load = registry._load_and_warm

        def load_while_the_writer_finishes(name: str, version: int, path: Path):
            try:
                return real_load(name, version, path)
            finally:
                publish_linear(tmp_path, "m", 2, seed=2)  # the complete file lands during the failed load

        registry._load_and_warm = load_while_the_writer_finishes
        await registry.sync()
        state = registry.state("m")
        assert state.rejected == {} and state.served.model.version == 1
        assert [e.kind for e in events] == ["loaded"]  # no rejection reported for a file still being written
        registry._load_and_warm = real_load
        await registry.sync()
        assert state.served.model.version == 2 and state.error is None
        await registry.close()

    asyncio.run(scenario())


def fails_at_run_time(path: Path) -> None:
    """Loads fine (right outputs and metadata) but every inference fails: 4 features cannot reshape to rows of 3."""
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["features", "shape"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
        ],
        "broken_at_run_time",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3]),
        ],
        [numpy_helper.from_array(np.array([-1, 3], np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.metadata_props.append(onnx.StringStringEntryProto(key="labels", value='["a", "b", "c"]'))
    onnx.save(model, str(path))


def test_a_version_whose_warm_up_run_fails_is_rejected(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry, events = registry_for(tmp_path)
        publish_linear(tmp_path, "m", 1, seed=1)
        await registry.load_all()
        publish(tmp_path / "m" / "2" / "model.onnx", fails_at_run_time)
        await registry.sync()
        await registry.sync()
        assert [e.kind for e in events] == ["loaded", "rejected"]
        state = registry.state("m")
        assert state.served.model.version == 1 and "version 2" in state.error
        await registry.close()

    asyncio.run(scenario())


def test_a_slow_model_delays_no_other_model(tmp_path: Path) -> None:
    """Models load side by side, each under its own lock: while one takes its time, another is loaded, reloaded
    and unloaded."""

    async def scenario() -> None:
        registry, _ = registry_for(tmp_path)
        publish_linear(tmp_path, "a_slow", 1, seed=1)  # sorted first: the old single lock would load it first
        publish_linear(tmp_path, "b_fast", 1, seed=2)
        gate = threading.Event()
        real_load = registry._load_and_warm

        def load(name: str, version: int, path: Path):
            if name == "a_slow":
                gate.wait(30)
            return real_load(name, version, path)

        registry._load_and_warm = load
        startup = asyncio.create_task(registry.load_all())
        try:
            async with asyncio.timeout(10):
                while not registry.models.get("b_fast") or not registry.models["b_fast"].ready:
                    await asyncio.sleep(0.01)
                publish_linear(tmp_path, "b_fast", 2, seed=3)
                await registry.load("b_fast")
                assert registry.state("b_fast").served.model.version == 2
                await registry.unload("b_fast")
                assert not registry.state("b_fast").ready
            assert not registry.state("a_slow").ready  # still loading all along
        finally:
            gate.set()
        await startup
        assert registry.state("a_slow").ready
        await registry.close()

    asyncio.run(scenario())


def test_a_model_file_truncated_while_written_is_rejected_and_the_complete_one_loads(tmp_path: Path) -> None:
    async def scenario() -> None:
        registry, _ = registry_for(tmp_path)
        publish_linear(tmp_path, "m", 1, seed=1)
        await registry.load_all()
        publish_linear(tmp_path, "m", 2, seed=2)
        whole = (tmp_path / "m" / "2" / "model.onnx").read_bytes()
        (tmp_path / "m" / "2" / "model.onnx").write_bytes(whole[: len(whole) // 2])  # a copy cut short, in place
        await registry.sync()
        state = registry.state("m")
        assert state.served.model.version == 1 and "version 2" in state.error
        (tmp_path / "m" / "2" / "model.onnx").write_bytes(whole)
        await registry.sync()
        assert state.served.model.version == 2 and state.error is None
        await registry.close()

    asyncio.run(scenario())


def test_an_unload_that_cannot_be_shared_changes_nothing_and_says_why(tmp_path: Path) -> None:
    """SHARED_DIR full or read-only: the caller gets a clear error (503), and every worker keeps serving."""

    async def scenario() -> None:
        repository, shared = tmp_path / "repository", tmp_path / "shared"
        shared.mkdir()
        publish_linear(repository, "m", 1, seed=1)
        registry = ModelRegistry(RepositoryConfig(repository), workers=SharedCoordination(shared, workers=2))
        await registry.load_all()
        (shared / "control.lock").mkdir()  # the lock file cannot be opened: as on a read-only or full folder
        with pytest.raises(RepositoryControlFailed, match="cannot unload model 'm'.*nothing was changed"):
            await registry.unload("m")
        assert registry.state("m").ready and not registry.state("m").unloaded
        await registry.close()

    asyncio.run(scenario())
