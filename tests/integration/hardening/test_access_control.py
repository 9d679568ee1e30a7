"""API keys, CORS and what the OpenAPI document says about them, against real servers."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.guarded import ALLOWED_ORIGIN, KEY_IN_ENV, KEYS_IN_FILE
from tests.support.server import RunningServer

OPEN = ["/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs"]


def operations(server: RunningServer) -> list[tuple[str, str, str]]:
    """(method, template, concrete path) of every operation in the live document, path parameters filled in."""
    document = httpx.get(f"{server.url}/openapi.json").json()
    found = []
    for template, item in document["paths"].items():
        path = re.sub(r"\{[^}]*version[^}]*\}", "2", template)
        path = re.sub(r"\{[^}]*\}", "linear", path)
        found += [(method.upper(), template, path) for method in item if method in ("get", "post", "put", "delete")]
    return found


def test_every_protected_operation_needs_a_key(guarded: RunningServer) -> None:
    """Read from the live document: routes any router adds later are covered without changes here."""
    document = httpx.get(f"{guarded.url}/openapi.json").json()
    protected = 0
    with httpx.Client(base_url=guarded.url) as client:
        for method, template, path in operations(guarded):
            open_ = document["paths"][template][method.lower()].get("security") == []
            anonymous = client.request(method, path, json={})
            wrong = client.request(method, path, json={}, headers={"authorization": "Bearer not-a-key"})
            if method == "GET":  # not POST: a valid key on /v2/repository/.../unload would unload the model
                good = client.get(path, headers={"authorization": f"Bearer {KEYS_IN_FILE[1]}"})
                assert good.status_code != 401, (method, path)
            if open_:
                assert anonymous.status_code != 401, (method, path)
                continue
            protected += 1
            assert anonymous.status_code == 401, (method, path, anonymous.status_code)
            assert anonymous.headers["www-authenticate"] == "Bearer"
            assert "missing API key" in anonymous.json()["error"]
            assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer error=")
            assert wrong.json()["error"] == "invalid API key"
            assert "401" in document["paths"][template][method.lower()]["responses"]
    assert protected >= 5


@pytest.mark.parametrize("path", OPEN)
def test_health_metrics_and_docs_stay_open(guarded: RunningServer, path: str) -> None:
    assert httpx.get(f"{guarded.url}{path}").status_code == 200


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (f"Bearer {KEY_IN_ENV}", 200),
        (f"bearer {KEYS_IN_FILE[0]}", 200),
        (f"Bearer {KEYS_IN_FILE[1]}", 200),
        ("Bearer # keys for the tests", 401),  # a comment line of the file is no key
        ("Bearer", 401),
        (f"Basic {KEY_IN_ENV}", 401),
        (KEY_IN_ENV, 401),
        (f"Bearer {KEY_IN_ENV}x", 401),
        (f"Bearer {KEY_IN_ENV[:-1]}", 401),
        ("Bearer é-not-ascii", 401),
    ],
)
def test_key_forms(guarded: RunningServer, authorization: str, status: int) -> None:
    response = httpx.get(f"{guarded.url}/models/linear", headers={"authorization": authorization.encode()}, timeout=5)
    assert response.status_code == status, response.text


def test_openapi_declares_the_bearer_scheme(guarded: RunningServer) -> None:
    document = httpx.get(f"{guarded.url}/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "One of the keys in API_KEYS / API_KEYS_FILE.",
    }
    assert document["security"] == [{"bearer": []}]
    assert document["paths"]["/health/live"]["get"]["security"] == []
    unauthorized = document["paths"]["/predict"]["post"]["responses"]["401"]
    assert unauthorized["content"]["application/json"]["schema"]["required"] == ["error"]


def test_without_keys_nothing_is_asked_and_nothing_documented(client: httpx.Client) -> None:
    assert client.get("/models/linear").status_code == 200
    document = client.get("/openapi.json").json()
    assert "securitySchemes" not in document.get("components", {}) and "security" not in document
    assert all("401" not in op["responses"] for item in document["paths"].values() for op in item.values())


def test_no_cors_unless_configured(client: httpx.Client) -> None:
    origin = {"origin": ALLOWED_ORIGIN}
    assert "access-control-allow-origin" not in client.get("/models", headers=origin).headers
    preflight = client.options("/predict", headers={**origin, "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_for_the_configured_origin_only(guarded: RunningServer, key_header: dict[str, str]) -> None:
    with httpx.Client(base_url=guarded.url) as client:
        allowed = client.get("/models", headers={**key_header, "origin": ALLOWED_ORIGIN})
        assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
        other = client.get("/models", headers={**key_header, "origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
        # A browser's preflight carries no key: it must pass so the real request can send one.
        preflight = client.options(
            "/predict",
            headers={
                "origin": ALLOWED_ORIGIN,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        # A 401 still carries the CORS header, so a browser page can read why it was refused.
        refused = client.get("/models", headers={"origin": ALLOWED_ORIGIN})
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
