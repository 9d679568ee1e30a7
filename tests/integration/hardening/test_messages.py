"""Every error reads as English for a person: the words a client sent come back as it wrote them (JSON), never as
numpy dtype codes, Python type names or Python reprs. A table: what was sent, what the answer must say."""

from __future__ import annotations

import re

import httpx
import pytest

ROW = [0.1, 0.2, 0.3, 0.4]
DEEP = "[" * 70 + "]" * 70
# Words that only a program's internals would say.
INTERNALS = re.compile(r"<U\d+|NoneType|\bTrue\b|\bFalse\b|\bNone\b|\{'|surrogates|dimension of 64")

TABLE = [
    # (what, path, raw body, must say)
    ("text where numbers belong", "/models/linear/predict", '{"instances": [["a", "b", "c", "d"]]}', "holds text"),
    ("a null body", "/models/linear/predict", "null", "got null"),
    ("an array body", "/models/linear/predict", "[1, 2]", "got an array"),
    ("nesting past numpy's limit", "/models/linear/predict", '{"instances": ' + DEEP + "}", "same length and nesting"),
    ("a boolean threshold", "/models/linear/predict", '{"instances": [[1, 2, 3, 4]], "threshold": true}', "got true"),
    ("a label's threshold as text", "/models/linear/predict", '{"instances": [[1,2,3,4]], "threshold": {"a": "x"}}',
     'got "x"'),
    ("a string threshold", "/models/linear/predict", '{"instances": [[1, 2, 3, 4]], "threshold": "x"}', 'got "x"'),
    ("v2: a non-string id", "/v2/models/linear/infer", '{"id": {"a": 1}, "inputs": []}', "non-empty list"),
    ("v2: an object id", "/v2/models/linear/infer",
     '{"id": {"a": 1}, "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}',
     'got {"a": 1}'),
    ("v2: a number datatype", "/v2/models/linear/infer",
     '{"inputs": [{"name": "features", "datatype": 7, "shape": [1, 4], "data": [1, 2, 3, 4]}]}', "got 7"),
    ("v2: a flag that is not true/false", "/v2/models/linear/infer",
     '{"inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}], '
     '"parameters": {"binary_data_output": "yes"}}', 'got "yes"'),
    ("a wrong shape", "/models/linear/predict", '{"instances": [[1, 2, 3]]}', "has shape [1, 3], expected [rows, 4]"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "path", "body", "says"), TABLE, ids=[row[0] for row in TABLE])
def test_each_error_reads_as_english(client: httpx.Client, what: str, path: str, body: str, says: str) -> None:
    response = client.post(path, content=body.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert says in message, message
    assert not INTERNALS.search(message), message


def test_a_utf16_body_is_named_as_such(client: httpx.Client) -> None:
    body = '{"instances": [[1, 2, 3, 4]]}'.encode("utf-16")
    response = client.post("/models/linear/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "body is not UTF-8 (it looks like UTF-16): send JSON encoded as UTF-8"


def test_head_works_on_the_health_endpoints(client: httpx.Client) -> None:
    for path in ("/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready"):
        response = client.head(path)
        assert response.status_code == 200, path
        assert response.content == b"" and int(response.headers["content-length"]) > 0


def test_a_trailing_slash_is_served_not_redirected(client: httpx.Client) -> None:
    for path in ("/models/linear/predict/", "/v2/models/linear/infer/", "/v1/models/linear:predict/"):
        body = {"instances": [ROW]} if "infer" not in path else {
            "inputs": [{"name": "features", "datatype": "FP32", "shape": [1, 4], "data": ROW}]
        }  # fmt: skip
        response = client.post(path, json=body)
        assert response.status_code == 200, (path, response.status_code, response.text)
    assert client.get("/models/linear/").json()["name"] == "linear"
