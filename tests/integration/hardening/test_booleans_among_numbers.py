"""A true or false among numbers is refused like an all-boolean row, on every protocol.

numpy would read `[true, 0, 2.5]` as `[1.0, 0.0, 2.5]`: a client that sent booleans by mistake would get
predictions for numbers it never sent.
"""

from __future__ import annotations

import httpx
import pytest

NUMBERS = [0.1, 0.2, 0.3, 0.4]
MIXED = {
    "true first": [True, 0, 0, 0],
    "false among floats": [0.5, False, 1.5, 2.0],
    "true last, integers": [1, 2, 3, True],
}
PAIR_TOKENS_MIXED = {"numbers": [0.1, 0.2, 0.3], "tokens": [True, 0, 0, 0, 0]}  # an int64 input


def assert_refused_for_booleans(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert "true/false" in response.json()["error"]


@pytest.mark.parametrize("row", MIXED.values(), ids=MIXED.keys())
def test_native_refuses_a_boolean_among_numbers(client: httpx.Client, row: list) -> None:
    assert_refused_for_booleans(client.post("/models/linear/predict", json={"instances": [NUMBERS, row]}))
    assert client.post("/models/linear/predict", json={"instances": [NUMBERS]}).status_code == 200


def test_native_refuses_a_boolean_in_an_integer_input(client: httpx.Client) -> None:
    assert_refused_for_booleans(client.post("/models/pair/predict", json={"instances": [PAIR_TOKENS_MIXED]}))


def test_native_still_refuses_an_all_boolean_row(client: httpx.Client) -> None:
    response = client.post("/models/linear/predict", json={"instances": [[True, False, True, False]]})
    assert response.status_code == 400 and "must hold numbers" in response.json()["error"]


@pytest.mark.parametrize("row", MIXED.values(), ids=MIXED.keys())
def test_tfserving_refuses_a_boolean_among_numbers(client: httpx.Client, row: list) -> None:
    assert_refused_for_booleans(client.post("/v1/models/linear:predict", json={"instances": [row]}))
    assert_refused_for_booleans(client.post("/v1/models/linear:predict", json={"inputs": {"features": [row]}}))


def v2_body(name: str, datatype: str, data: list, shape: list[int]) -> dict:
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}


@pytest.mark.parametrize("row", MIXED.values(), ids=MIXED.keys())
def test_v2_fp32_refuses_a_boolean_among_numbers(client: httpx.Client, row: list) -> None:
    assert_refused_for_booleans(client.post("/v2/models/linear/infer", json=v2_body("features", "FP32", row, [1, 4])))
    nested = v2_body("features", "FP32", [NUMBERS, row], [2, 4])
    assert_refused_for_booleans(client.post("/v2/models/linear/infer", json=nested))
    numbers = v2_body("features", "FP32", NUMBERS, [1, 4])
    assert client.post("/v2/models/linear/infer", json=numbers).status_code == 200


def test_v2_int64_refuses_a_boolean_among_integers(client: httpx.Client) -> None:
    body = {
        "inputs": [
            {"name": "numbers", "shape": [1, 3], "datatype": "FP32", "data": [0.1, 0.2, 0.3]},
            {"name": "tokens", "shape": [1, 5], "datatype": "INT64", "data": [0, 1, False, 3, 4]},
        ]
    }
    assert_refused_for_booleans(client.post("/v2/models/pair/infer", json=body))
