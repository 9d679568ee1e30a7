"""No JSON body earns a 5xx, on native /predict, v2 infer and TF Serving :predict: any JSON document, valid bodies
with one field mutated, any text for the text model, and rows that mix booleans, nulls, strings and numbers.

Each answer is a 2xx (the input happened to be valid) or a 4xx with a JSON `error`; the server is still live after.
A row with anything but numbers in it is refused, on every protocol; a row of numbers is served.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import DIGITS_ROW, JSON_VALUES, assert_clean, assert_still_serving, fuzz_settings
from tests.support.server import RunningServer

TEXT = "Return a new compressed file object, reading from the given file name."
PIXELS = {"name": "pixels", "datatype": "FP32", "shape": [1, 64], "data": DIGITS_ROW}
VALID = {  # (path, a valid body): each mutated below
    "native digits": ("/predict", {"instances": [DIGITS_ROW], "threshold": 0.5}),
    "native labels": ("/models/digits/predict", {"instances": [DIGITS_ROW, DIGITS_ROW], "threshold": {"even": 0.3}}),
    "v2": (
        "/v2/models/digits/infer",
        {
            "id": "r1",
            "inputs": [PIXELS],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": False}}, {"name": "predictions"}],
            "parameters": {"threshold": 0.5, "binary_data_output": False},
        },
    ),
    "tfserving rows": ("/v1/models/digits:predict", {"signature_name": "serving_default", "instances": [DIGITS_ROW]}),
    "tfserving columns": ("/v1/models/digits/versions/1:predict", {"inputs": {"pixels": [DIGITS_ROW]}, "threshold": 1}),
}
# The text model's bodies: mutated like the others, but not asserted to be served (its raw-text input is the text
# step's; before that it takes tf-idf numbers, and a text is a 400).
TEXT_BODIES = {
    "native text": ("/models/docstrings/predict", {"instances": [TEXT], "threshold": {"files": 0.2}}),
    "tfserving text": ("/v1/models/docstrings:predict", {"instances": [TEXT, ""]}),
}
TARGETS = sorted({path for path, _ in [*VALID.values(), *TEXT_BODIES.values()]})


@pytest.fixture(scope="module")
def http(demo: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.url, timeout=20, headers={"content-type": "application/json"}) as client:
        yield client


def post(http: httpx.Client, path: str, document: Any) -> httpx.Response:
    return http.post(path, content=json.dumps(document).encode())


def test_every_valid_body_is_served(http: httpx.Client) -> None:
    """The bodies mutated below are valid as they are: a mutation is what makes one fail."""
    for path, document in VALID.values():
        assert post(http, path, document).status_code == 200, (path, document)


@given(
    path=st.sampled_from(TARGETS),
    document=st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries({"instances": JSON_VALUES}, optional={"threshold": JSON_VALUES}),
        st.fixed_dictionaries({"inputs": JSON_VALUES}, optional={"outputs": JSON_VALUES, "parameters": JSON_VALUES}),
    ),
)
@fuzz_settings(examples=250)
def test_no_json_document_earns_a_5xx(demo: RunningServer, http: httpx.Client, path: str, document: Any) -> None:
    assert_clean(post(http, path, document), (path, document))


def locations(document: Any, at: tuple = ()) -> Iterator[tuple]:
    """Every place in a JSON document: the keys and indexes leading to it."""
    yield at
    if isinstance(document, dict):
        for key, value in document.items():
            yield from locations(value, (*at, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from locations(value, (*at, index))


ODD_VALUES = st.one_of(
    JSON_VALUES,
    st.sampled_from([True, False, None, "1", "", 0, -1, 1e39, -1e39, 2**63, 2**64, -(2**63) - 1, 5e-324, [], {}]),
    st.integers(),
)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any]:
    path, valid = draw(st.sampled_from([*VALID.values(), *TEXT_BODIES.values()]))
    document = copy.deepcopy(valid)
    at = draw(st.sampled_from(list(locations(document))[1:]))
    *parents, last = at
    owner = document
    for step in parents:
        owner = owner[step]
    how = draw(st.sampled_from(["replace", "delete", "add"]))
    if how == "replace":
        owner[last] = draw(ODD_VALUES)
    elif how == "delete":
        del owner[last]
    elif isinstance(owner[last], dict):
        owner[last][draw(st.text(max_size=12))] = draw(ODD_VALUES)
    elif isinstance(owner[last], list):
        owner[last].insert(draw(st.integers(0, len(owner[last]))), draw(ODD_VALUES))
    else:
        owner[last] = [owner[last], draw(ODD_VALUES)]
    return path, document


@given(case=mutated())
@fuzz_settings(examples=400)
def test_no_mutated_body_earns_a_5xx(demo: RunningServer, http: httpx.Client, case: tuple[str, Any]) -> None:
    path, document = case
    assert_clean(post(http, path, document), case)


# hypothesis' text() never holds a lone surrogate: some are put in (json.dumps writes them as escapes, \ud800).
ODD_CHARACTERS = st.sampled_from(["\ud800", "\udfff", "\udc80", "\x00", "\u2028", "\ufeff", "\u0301", "\U0001f600"])
ANY_TEXT = st.lists(st.text(max_size=12) | ODD_CHARACTERS, max_size=6).map("".join)


@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=4), path=st.sampled_from(["native", "tfserving"]))
@fuzz_settings(examples=120)
def test_no_text_earns_a_5xx(demo: RunningServer, http: httpx.Client, texts: list[str], path: str) -> None:
    """Any text, lone surrogates and NUL included."""
    target = "/models/docstrings/predict" if path == "native" else "/v1/models/docstrings:predict"
    assert_clean(post(http, target, {"instances": texts}), texts)


NUMBERS = st.floats(-1e6, 1e6) | st.integers(-(2**53), 2**53)
NOT_NUMBERS = st.one_of(
    st.booleans(), st.none(), st.text(max_size=4), st.lists(NUMBERS, max_size=2), st.dictionaries(st.text(), NUMBERS)
)


@st.composite
def mixed_rows(draw: st.DrawFn) -> tuple[list, bool]:
    """A row of 64 numbers with 0 to 3 values that are not numbers put in; and whether it holds only numbers."""
    row = draw(st.lists(NUMBERS, min_size=64, max_size=64))
    odd = draw(st.lists(st.tuples(st.integers(0, 63), NOT_NUMBERS), max_size=3))
    for index, value in odd:
        row[index] = value
    return row, not odd


def bodies_for(row: list) -> dict[str, tuple[str, Any]]:
    return {
        "native": ("/predict", {"instances": [row]}),
        "v2 flat": ("/v2/models/digits/infer", {"inputs": [{**PIXELS, "data": row}]}),
        "v2 nested": ("/v2/models/digits/infer", {"inputs": [{**PIXELS, "data": [row]}]}),
        "tfserving rows": ("/v1/models/digits:predict", {"instances": [row]}),
        "tfserving columns": ("/v1/models/digits:predict", {"inputs": {"pixels": [row]}}),
    }


@given(case=mixed_rows(), protocol=st.sampled_from(list(bodies_for([]))))
@fuzz_settings(examples=200)
def test_only_numbers_are_served_on_every_protocol(
    demo: RunningServer, http: httpx.Client, case: tuple[list, bool], protocol: str
) -> None:
    row, only_numbers = case
    path, document = bodies_for(row)[protocol]
    response = post(http, path, document)
    assert_clean(response, (protocol, row))
    assert response.status_code == (200 if only_numbers else 400), (protocol, row, response.text)


def test_the_server_is_still_serving_after_the_bodies(demo: RunningServer) -> None:
    assert_still_serving(demo, 0)
