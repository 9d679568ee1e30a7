"""make scale-test's readings, on lines haproxy 2.6 wrote during a run: which requests failed or were retried, when a
replica was marked down, and the window in which two model versions answered."""

from __future__ import annotations

from datetime import datetime

from bench.scale.balancer import Balancer
from bench.scale.cases import interleave_window
from bench.scale.traffic import Answer

RETRIED = (
    "127.0.0.1:54936 [06/Dec/2026:15:24:05.757] rest replicas_rest/replica1 0/6/0/1/7 200 430 - - ---- "
    '13/8/2/0/+1 0/0 "POST /models/digits/predict HTTP/1.1"'
)
RETRIED_GRPC = (
    "127.0.0.1:47000 [06/Dec/2026:15:24:05.727] grpc replicas_grpc/replica3 0/39/0/4/43 200 237 - - ---- "
    '13/4/1/0/+1 0/0 "POST http://127.0.0.1:42483/inference.GRPCInferenceService/ModelInfer HTTP/2.0"'
)
FAILED = (
    "127.0.0.1:54999 [06/Dec/2026:15:24:06.100] rest replicas_rest/replica2 0/0/-1/-1/1003 503 217 - - SC-- "
    '9/8/1/0/2 0/0 "POST /models/digits/predict HTTP/1.1"'
)
CLIENT_WENT_AWAY = (
    '127.0.0.1:59614 [06/Dec/2026:15:22:38.106] rest rest/<NOSRV> -1/-1/-1/-1/0 400 0 - - CR-- 2/1/0/0/0 0/0 "<BADREQ>"'
)
DOWN = (
    'Server replicas_rest/replica2 is DOWN, reason: Layer4 connection problem, info: "Connection refused", '
    "check duration: 0ms. 2 active and 0 backup servers left. 1 sessions active, 0 requeued, 0 remaining in queue."
)


def balancer_with(lines: list[str], at: float = 100.0) -> Balancer:
    balancer = Balancer.__new__(Balancer)  # its log only: no haproxy process
    balancer.lines = [(at, line) for line in lines]
    return balancer


def epoch(text: str) -> float:
    return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S.%f").timestamp()


def test_requests_logged_are_read_as_retried_or_failed() -> None:
    lines = [RETRIED, RETRIED_GRPC, FAILED, CLIENT_WENT_AWAY, f"[WARNING]  (23889) : {DOWN}", DOWN]
    found = balancer_with(lines).requests(epoch("06/Dec/2026:15:00:00.000"), epoch("06/Dec/2026:16:00:00.000"))
    by_server = {(r.backend, r.server): r for r in found}
    retried = by_server[("replicas_rest", "replica1")]
    assert (retried.status, retried.retries, retried.redispatched, retried.failed) == (200, 1, True, False)
    assert by_server[("replicas_grpc", "replica3")].retries == 1
    failed = by_server[("replicas_rest", "replica2")]
    assert (failed.status, failed.termination, failed.retries, failed.failed) == (503, "SC--", 2, True)
    assert by_server[("rest", "<NOSRV>")].failed is False  # the client closed its connection: not a failure served
    assert retried.accepted == epoch("06/Dec/2026:15:24:05.757")


def test_requests_outside_the_window_are_left_out() -> None:
    since, until = epoch("06/Dec/2026:15:24:06.000"), epoch("06/Dec/2026:15:25:00.000")
    found = balancer_with([RETRIED, FAILED]).requests(since, until)
    assert [r.server for r in found] == ["replica2"]


def test_a_state_change_is_read_once_from_the_log_line() -> None:
    balancer = balancer_with([f"[WARNING]  (23889) : {DOWN}", DOWN], at=50.0)
    assert balancer.state_changes(since=10.0) == [(50.0, "replicas_rest", "replica2", "DOWN")]
    assert balancer.state_changes(since=60.0) == []


def answer(at: float, version: int | None) -> Answer:
    return Answer(at, 0.001, "rest", version)


def test_interleave_window_from_first_new_to_last_old() -> None:
    answers = [answer(1.0, 1), answer(2.0, 2), answer(2.5, 1), answer(3.0, 2), answer(3.2, None)]
    assert interleave_window(answers, old=1, new=2) == 0.5
    assert interleave_window([answer(1.0, 1), answer(2.0, 2)], old=1, new=2) == 0.0  # a clean switch
    assert interleave_window([answer(1.0, 1)], old=1, new=2) == 0.0
