"""Adaptive batching: every caller gets exactly its own rows back, a full queue refuses at once, one bad
request does not fail the others, callers that left cost nothing. Unit level with a real LoadedModel (and fake run
functions on top where a failure or a pause is needed), and at HTTP level against the real server."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.app import create_app
from service.core.batch_cost import BatchCost
from service.core.batcher import Batcher
from service.core.errors import ModelNotReady, Overloaded
from service.core.model import LoadedModel
from service.settings import Settings
from tests.support.onnx_models import linear_model
from tests.support.server import RunningServer

MARKER = 666.0  # a row holding this value makes the fake model fail


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    path = tmp_path_factory.mktemp("batcher") / "linear" / "1" / "model.onnx"
    linear_model(path, seed=5)
    loaded = LoadedModel.load("linear", 1, path)
    loaded.warm_up()
    return loaded


class Recorder:
    """Wraps a run function: remembers each batch's rows and the thread it ran on; can pause or fail."""

    def __init__(self, run=None) -> None:
        self.run = run or (lambda arrays: (arrays["features"] * 2, arrays["features"] * 3))
        self.batches: list[np.ndarray] = []
        self.threads: list[int] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        self.batches.append(arrays["features"])
        self.threads.append(threading.get_ident())
        self.started.set()
        self.release.wait(timeout=10)
        if np.any(arrays["features"] == MARKER):
            raise ValueError("bad row in the batch")
        return self.run(arrays)


async def wait_for_thread_event(event: threading.Event) -> None:
    while not event.is_set():
        await asyncio.sleep(0.001)


def rows_for(i: int, width: int = 4) -> np.ndarray:
    """1 to 3 distinct rows for caller i."""
    return (np.arange((i % 3 + 1) * width, dtype=np.float32).reshape(-1, width) + i * 100).astype(np.float32)


def test_many_concurrent_callers_each_get_their_own_rows(model: LoadedModel) -> None:
    recorder = Recorder(model.run)
    batcher = Batcher(recorder, max_batch_size=16, max_delay_ms=2, max_queue_rows=1024)

    async def scenario() -> list[tuple[np.ndarray, np.ndarray]]:
        calls = [batcher.submit({"features": rows_for(i)}, len(rows_for(i))) for i in range(200)]
        results = await asyncio.gather(*calls)
        await batcher.close()
        return results

    results = asyncio.run(scenario())
    for i, (probabilities, logits) in enumerate(results):
        expected_probabilities, expected_logits = model.run({"features": rows_for(i)})
        np.testing.assert_allclose(probabilities, expected_probabilities, rtol=0, atol=1e-6)
        np.testing.assert_allclose(logits, expected_logits, rtol=0, atol=1e-5)
    assert sum(len(b) for b in recorder.batches) == sum(len(rows_for(i)) for i in range(200))
    assert max(len(b) for b in recorder.batches) > 3  # requests were really stacked together...
    assert max(len(b) for b in recorder.batches) <= 16  # ...and never past MAX_BATCH_SIZE


def test_full_queue_refuses_at_once_and_recovers() -> None:
    recorder = Recorder()
    recorder.release.clear()
    batcher = Batcher(recorder, max_batch_size=2, max_delay_ms=0, max_queue_rows=4)
    two_rows = {"features": np.ones((2, 4), np.float32)}

    async def scenario() -> None:
        running = asyncio.create_task(batcher.submit(two_rows, 2))
        await wait_for_thread_event(recorder.started)  # the first batch is in the model, blocked
        queued = [asyncio.create_task(batcher.submit(two_rows, 2)) for _ in range(2)]
        await asyncio.sleep(0)
        assert batcher.queued_rows == 4
        with pytest.raises(Overloaded, match="MAX_QUEUE_ROWS"):
            await batcher.submit(two_rows, 2)
        recorder.release.set()
        for task in [running, *queued]:
            probabilities, _ = await task
            np.testing.assert_array_equal(probabilities, np.full((2, 4), 2, np.float32))
        await batcher.submit(two_rows, 2)  # room again
        await batcher.close()

    asyncio.run(scenario())


def test_one_bad_request_fails_alone() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch_size=64, max_delay_ms=2, max_queue_rows=1024)
    inputs = [np.full((1, 4), i, np.float32) for i in range(10)]
    inputs[4] = np.full((1, 4), MARKER, np.float32)

    async def scenario() -> list:
        results = await asyncio.gather(
            *(batcher.submit({"features": rows}, 1) for rows in inputs), return_exceptions=True
        )
        await batcher.close()
        return results

    results = asyncio.run(scenario())
    assert isinstance(results[4], RuntimeError)
    for i, result in enumerate(results):
        if i != 4:
            np.testing.assert_array_equal(result[0], inputs[i] * 2)
            np.testing.assert_array_equal(result[1], inputs[i] * 3)
    assert len(recorder.batches[0]) == 10  # tried together first, then each alone
    assert [len(b) for b in recorder.batches[1:]] == [1] * 10


def test_rows_that_cannot_be_stacked_run_alone_and_the_worker_survives() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch_size=64, max_delay_ms=2, max_queue_rows=1024)
    narrow, wide = np.ones((1, 3), np.float32), np.ones((1, 5), np.float32)

    async def scenario() -> list:
        results = await asyncio.gather(batcher.submit({"features": narrow}, 1), batcher.submit({"features": wide}, 1))
        results.append(await batcher.submit({"features": narrow}, 1))
        await batcher.close()
        return results

    results = asyncio.run(scenario())
    assert [r[0].shape for r in results] == [(1, 3), (1, 5), (1, 3)]


def test_cancelled_callers_are_skipped() -> None:
    recorder = Recorder()
    recorder.release.clear()
    batcher = Batcher(recorder, max_batch_size=64, max_delay_ms=0, max_queue_rows=1024)

    async def scenario() -> None:
        first = asyncio.create_task(batcher.submit({"features": np.full((1, 4), 1, np.float32)}, 1))
        await wait_for_thread_event(recorder.started)
        gone = asyncio.create_task(batcher.submit({"features": np.full((1, 4), 2, np.float32)}, 1))
        stays = asyncio.create_task(batcher.submit({"features": np.full((1, 4), 3, np.float32)}, 1))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.sleep(0)
        recorder.release.set()
        await first
        probabilities, _ = await stays
        np.testing.assert_array_equal(probabilities, np.full((1, 4), 6, np.float32))
        assert gone.cancelled()
        await batcher.close()

    asyncio.run(scenario())
    seen = np.concatenate(recorder.batches)
    assert 2 not in seen[:, 0]  # no work was done for the caller that left
    assert sorted(seen[:, 0].tolist()) == [1, 3]


def test_callers_that_left_free_their_room_in_the_queue_at_once() -> None:
    """A burst of timeouts must not keep the queue full for the callers still waiting (503s for nothing)."""
    recorder = Recorder()
    recorder.release.clear()
    batcher = Batcher(recorder, max_batch_size=4, max_delay_ms=0, max_queue_rows=8)

    async def scenario() -> None:
        running = asyncio.create_task(batcher.submit({"features": np.ones((4, 4), np.float32)}, 4))
        await wait_for_thread_event(recorder.started)
        gone = [asyncio.create_task(batcher.submit({"features": np.ones((4, 4), np.float32)}, 4)) for _ in range(2)]
        await asyncio.sleep(0)
        assert batcher.queued_rows == 8
        for task in gone:
            task.cancel()
        await asyncio.sleep(0)
        assert batcher.queued_rows == 0
        later = asyncio.create_task(batcher.submit({"features": np.ones((4, 4), np.float32)}, 4))  # room again
        await asyncio.sleep(0)
        recorder.release.set()
        await running
        await later
        await batcher.close()

    asyncio.run(scenario())
    assert [len(b) for b in recorder.batches] == [4, 4]  # the cancelled rows never ran


def test_callers_get_an_answer_when_the_event_loop_ends_under_a_running_batch() -> None:
    recorder = Recorder()
    recorder.release.clear()
    batcher = Batcher(recorder, max_batch_size=1, max_delay_ms=0, max_queue_rows=8)

    async def scenario() -> list[BaseException | None]:
        callers = [asyncio.create_task(batcher.submit({"features": np.ones((1, 4), np.float32)}, 1)) for _ in range(3)]
        await wait_for_thread_event(recorder.started)
        batcher._worker.cancel()  # what the loop's end does to every task left
        try:  # bounded: callers left waiting would hang here
            return await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), 10)
        finally:
            recorder.release.set()

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, ModelNotReady) and "shutting down" in str(o) for o in outcomes), outcomes


def test_a_full_batch_does_not_wait_for_the_delay() -> None:
    batcher = Batcher(Recorder(), max_batch_size=4, max_delay_ms=60_000, max_queue_rows=1024)

    async def scenario() -> None:
        rows = {"features": np.ones((4, 4), np.float32)}
        await asyncio.wait_for(batcher.submit(rows, 4), timeout=30)  # would sit a minute if it waited
        await batcher.close()

    asyncio.run(scenario())


def test_tiny_batches_run_inline_and_others_on_the_model_thread() -> None:
    async def thread_used(seconds_per_row: float) -> int:
        recorder = Recorder()
        predict = BatchCost(0.0, seconds_per_row, 64).seconds
        batcher = Batcher(recorder, 64, 0, 1024, predict_seconds=predict, inline_below_s=50e-6)
        await batcher.submit({"features": np.ones((2, 4), np.float32)}, 2)
        await batcher.close()
        return recorder.threads[0]

    loop_thread = threading.get_ident()
    assert asyncio.run(thread_used(1e-6)) == loop_thread
    assert asyncio.run(thread_used(1e-3)) != loop_thread


def test_the_inline_decision_counts_the_rows_of_the_batch() -> None:
    async def thread_used(rows: int) -> int:
        recorder = Recorder()
        predict = BatchCost(40e-6, 1e-6, 64).seconds  # a fixed cost per call and a small one per row
        batcher = Batcher(recorder, 64, 0, 1024, predict_seconds=predict, inline_below_s=50e-6)
        await batcher.submit({"features": np.ones((rows, 4), np.float32)}, rows)
        await batcher.close()
        return recorder.threads[0]

    loop_thread = threading.get_ident()
    assert asyncio.run(thread_used(2)) == loop_thread  # 42 µs predicted
    assert asyncio.run(thread_used(20)) != loop_thread  # 60 µs predicted


def test_warm_up_measures_the_cost_of_a_call(model: LoadedModel) -> None:
    model.warm_up(max_rows=64)
    cost = model.cost
    assert cost is not None and cost.per_row_s >= 0 and cost.seconds(1) > 0
    assert 1 <= cost.chunk_rows <= 64 and cost.seconds(64) >= cost.seconds(1)


def test_a_batch_larger_than_the_chunk_size_gives_the_same_rows(model: LoadedModel) -> None:
    rows = np.random.default_rng(3).normal(size=(10, 4)).astype(np.float32)
    whole = model.session.run(["probabilities", "logits"], {"features": rows})
    model.cost = BatchCost(0.0, 1e-6, chunk_rows=3)  # 10 rows: chunks of 3, 3, 3 and 1
    try:
        probabilities, logits = model.run({"features": rows})
    finally:
        model.warm_up(max_rows=64)
    np.testing.assert_array_equal(probabilities, whole[0])
    np.testing.assert_array_equal(logits, whole[1])


def test_full_queue_is_503_with_retry_after(tmp_path: Path) -> None:
    linear_model(tmp_path / "linear" / "1" / "model.onnx")
    settings = Settings(model_repository=tmp_path, max_batch_size=1, max_queue_rows=1)
    app = create_app(settings)
    plane = app.state.adapters.plane

    async def scenario() -> None:
        await plane.registry.load_all()
        served = plane.lookup("linear").served
        recorder = Recorder(served.model.run)  # the real model, paused
        recorder.release.clear()
        served.batcher = Batcher(recorder, 1, 0, 1)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = {"instances": [[1.0, 2.0, 3.0, 4.0]]}
            running = asyncio.create_task(client.post("/predict", json=body))
            await wait_for_thread_event(recorder.started)
            queued = asyncio.create_task(client.post("/predict", json=body))
            while served.batcher.queued_rows < 1:
                await asyncio.sleep(0.001)
            refused = await client.post("/predict", json=body)
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert "queue is full" in refused.json()["error"]
            recorder.release.set()
            assert (await running).status_code == 200
            assert (await queued).status_code == 200
        await plane.registry.close()

    asyncio.run(scenario())


def test_concurrent_http_requests_each_get_their_own_result(server: RunningServer, repository: Path) -> None:
    reference = LoadedModel.load("linear", 2, repository / "linear" / "2" / "model.onnx")
    rows = np.random.default_rng(11).normal(size=(200, 4)).astype(np.float32)

    async def scenario() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            return await asyncio.gather(
                *(client.post("/models/linear/predict", json={"instances": [row.tolist()]}) for row in rows)
            )

    responses = asyncio.run(scenario())
    for row, response in zip(rows, responses, strict=True):
        assert response.status_code == 200, response.text
        expected, _ = reference.run({"features": row[None, :]})
        got = np.array(response.json()["predictions"][0]["probabilities"], np.float32)
        np.testing.assert_allclose(got, expected[0], rtol=0, atol=1e-6)
