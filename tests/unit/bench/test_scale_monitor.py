"""make scale-test's Prometheus: asked only once it is ready (while it starts, its API answers a plain-text 503,
which ended a CI run in a JSONDecodeError)."""

from pathlib import Path

import httpx

from bench.scale.monitor import Monitor


class _Running:
    def poll(self) -> None:
        return None


def test_wait_scraping_waits_until_prometheus_is_ready() -> None:
    calls: list[str] = []

    def prometheus(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) <= 4:  # starting: every path answers as Prometheus does before it is ready
            return httpx.Response(503, text="Service Unavailable")
        if request.url.path == "/-/ready":
            return httpx.Response(200, text="Prometheus Server is Ready.")
        result = [{"metric": {}, "value": [0, "3"]}]
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": result}})

    monitor = Monitor.__new__(Monitor)  # the waiting logic alone, on a scripted Prometheus
    monitor.folder, monitor.process = Path("."), _Running()
    monitor.client = httpx.Client(base_url="http://prometheus", transport=httpx.MockTransport(prometheus))
    monitor.wait_scraping(3, timeout=10)
    assert calls[-1] == "/api/v1/query" and "/api/v1/query" not in calls[:4]
