"""Text models from strings on every protocol, against a real server: native JSON (one text per instance, or objects
for mixed inputs), v2 BYTES in JSON, in binary (tritonclient.http) and over gRPC (raw and bytes_contents), and TF
Serving REST (row and columnar). Each answer is what the model's text step + ONNX Runtime give that text alone; bad
text gets a 400 (INVALID_ARGUMENT) naming the problem, and the server stays up.

The models are built with onnx.helper (tests/support/onnx_text_models.py): no TensorFlow here. The exporter's tests
serve real Keras models through the same protocols (tests/integration/export/test_text_serving.py).
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http

from tests.support.grpc_helpers import grpc_client, status_of
from tests.support.onnx_text_models import nan_on_empty_model, text_model
from tests.support.server import RunningServer, client_for, serving
from tests.support.text_requests import alone, native, native_probabilities, serialized, text_tensor, v2_binary, v2_json

MAX_TEXT_CHARS = 5000
TEXTS = [
    "The cat and the dog",
    "bread",
    "Été, rain and SUN!",
    "cheese\tbread\nrain  sun the the the cat",
    "東京 unknown words 😀",
    "dog " * 40,
]
AMOUNTS = np.array([[0.5, -1.0], [2.0, 0.0], [0.0, 0.0], [-3.0, 1.5], [1.0, 1.0], [0.25, 4.0]], np.float32)


@pytest.fixture(scope="module")
def text_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("text_repository")
    text_model(root / "words" / "1" / "model.onnx")  # variable length: each text at its own token count
    text_model(root / "padded" / "1" / "model.onnx", variable_length=False)
    text_model(root / "mixed" / "1" / "model.onnx", numbers=2)  # inputs: text, amount
    nan_on_empty_model(root / "nan_on_empty" / "1" / "model.onnx")
    return root


@pytest.fixture(scope="module")
def server(text_repository: Path) -> Iterator[RunningServer]:
    yield from serving(
        {
            "MODEL_REPOSITORY": str(text_repository),
            "MAX_TEXT_CHARS": str(MAX_TEXT_CHARS),
            "MAX_BATCH_DELAY_MS": "20",  # room for concurrent requests to share ONNX Runtime calls
        }
    )


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    yield from client_for(server)


@pytest.fixture(scope="module")
def http_triton(server: RunningServer) -> Iterator[triton_http.InferenceServerClient]:
    client = triton_http.InferenceServerClient(server.url.removeprefix("http://"), concurrency=8)
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_triton(server: RunningServer) -> Iterator[triton_grpc.InferenceServerClient]:
    yield from grpc_client(server)


def mixed_rows() -> list[dict]:
    """The mixed model's native rows: one object per example, its text and its numbers."""
    return [{"text": text, "amount": amount.tolist()} for text, amount in zip(TEXTS, AMOUNTS, strict=True)]


def test_native_texts_are_answered_as_each_text_alone(client, text_repository):
    for model in ("words", "padded"):
        served = native_probabilities(client, model, TEXTS)
        # The server's session options may round a last bit differently from a default session's.
        np.testing.assert_allclose(served, alone(text_repository, model, TEXTS), rtol=0, atol=1e-6)
        # a row may also be a list holding its one text, as rows of a [rows, 1] tensor are
        np.testing.assert_array_equal(native_probabilities(client, model, [[t] for t in TEXTS]), served)


def test_native_mixed_inputs_take_objects(client, text_repository):
    expected = alone(text_repository, "mixed", TEXTS, AMOUNTS)
    np.testing.assert_allclose(native_probabilities(client, "mixed", mixed_rows()), expected, rtol=0, atol=1e-6)


@pytest.mark.smoke
def test_every_protocol_gives_the_native_answer(client, http_triton, grpc_triton):
    expected = native_probabilities(client, "words", TEXTS)

    def v2_data(answer: dict) -> np.ndarray:
        (probabilities,) = [o for o in answer["outputs"] if o["name"] == "probabilities"]
        return np.array(probabilities["data"], np.float32).reshape(probabilities["shape"])

    flat = v2_json(client, "words", [{"name": "text", "shape": [len(TEXTS)], "datatype": "BYTES", "data": TEXTS}])
    column = [[t] for t in TEXTS]
    nested = v2_json(client, "words", [{"name": "text", "shape": [len(TEXTS), 1], "datatype": "BYTES", "data": column}])
    answers = {"v2 JSON [n]": v2_data(flat), "v2 JSON [n, 1]": v2_data(nested)}
    for binary in (False, True):
        result = http_triton.infer("words", [text_tensor(triton_http, TEXTS, binary=binary)])
        answers[f"tritonclient.http binary={binary}"] = result.as_numpy("probabilities")
    answers["tritonclient.grpc raw"] = grpc_triton.infer("words", [text_tensor(triton_grpc, TEXTS)]).as_numpy(
        "probabilities"
    )
    typed = triton_grpc.InferInput("text", [len(TEXTS), 1], "BYTES")
    typed._get_tensor().contents.bytes_contents.extend(t.encode() for t in TEXTS)
    # Typed inputs get typed outputs (fp32_contents), which tritonclient's as_numpy does not read.
    typed_output = grpc_triton.infer("words", [typed]).get_output("probabilities")
    answers["gRPC bytes_contents"] = np.array(typed_output.contents.fp32_contents, np.float32).reshape(-1, 3)
    tf_rows = client.post("/v1/models/words:predict", json={"instances": TEXTS}).json()["predictions"]
    answers["TF Serving rows"] = np.array([row["probabilities"] for row in tf_rows], np.float32)
    tf_columns = client.post("/v1/models/words:predict", json={"inputs": TEXTS}).json()["outputs"]
    answers["TF Serving columnar"] = np.array(tf_columns["probabilities"], np.float32)
    named = client.post("/v1/models/words:predict", json={"inputs": {"text": TEXTS}}).json()["outputs"]
    answers["TF Serving columnar, named"] = np.array(named["probabilities"], np.float32)
    for protocol, answer in answers.items():
        np.testing.assert_array_equal(answer, expected, err_msg=protocol)


def test_mixed_inputs_on_every_protocol(client, http_triton, grpc_triton, text_repository):
    expected = alone(text_repository, "mixed", TEXTS, AMOUNTS)
    answers = {}
    answers["v2 JSON"] = np.array(
        v2_json(
            client,
            "mixed",
            [
                {"name": "text", "shape": [len(TEXTS), 1], "datatype": "BYTES", "data": TEXTS},
                {"name": "amount", "shape": list(AMOUNTS.shape), "datatype": "FP32", "data": AMOUNTS.ravel().tolist()},
            ],
        )["outputs"][0]["data"],
        np.float32,
    ).reshape(-1, 3)
    for module, client_ in ((triton_http, http_triton), (triton_grpc, grpc_triton)):
        amount = module.InferInput("amount", list(AMOUNTS.shape), "FP32")
        amount.set_data_from_numpy(AMOUNTS)
        result = client_.infer("mixed", [text_tensor(module, TEXTS, [len(TEXTS), 1]), amount])
        answers[module.__name__] = result.as_numpy("probabilities")
    columnar = {"inputs": {"text": TEXTS, "amount": AMOUNTS.tolist()}}
    answers["TF Serving columnar"] = np.array(
        client.post("/v1/models/mixed:predict", json=columnar).json()["outputs"]["probabilities"], np.float32
    )
    predictions = client.post("/v1/models/mixed:predict", json={"instances": mixed_rows()}).json()["predictions"]
    answers["TF Serving rows"] = np.array([p["probabilities"] for p in predictions], np.float32)
    for protocol, answer in answers.items():
        np.testing.assert_allclose(answer, expected, rtol=0, atol=1e-6, err_msg=protocol)


def test_metadata_shows_text_inputs(client, http_triton, grpc_triton):
    described = client.get("/models/mixed").json()["inputs"]
    assert described == [
        {"name": "text", "dtype": "text", "shape": [-1, 1], "needs_token": True, "needs_known_token": False},
        {"name": "amount", "dtype": "float32", "shape": [-1, 2]},
    ]
    v2_inputs = [
        {"name": "text", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "amount", "datatype": "FP32", "shape": [-1, 2]},
    ]
    assert client.get("/v2/models/mixed").json()["inputs"] == v2_inputs
    assert http_triton.get_model_metadata("mixed")["inputs"] == v2_inputs
    grpc_inputs = grpc_triton.get_model_metadata("mixed", as_json=True)["inputs"]
    assert [(i["name"], i["datatype"]) for i in grpc_inputs] == [("text", "BYTES"), ("amount", "FP32")]
    signature = client.get("/v1/models/mixed/metadata").json()["metadata"]["signature_def"]["signature_def"]
    assert signature["serving_default"]["inputs"]["text"]["dtype"] == "DT_STRING"
    config = http_triton.get_model_config("words")
    assert [(i["name"], i["data_type"]) for i in config["input"]] == [("text", "TYPE_STRING")]


TOO_LONG = "cat " * (MAX_TEXT_CHARS // 4 + 1)
TOO_LONG_MESSAGE = f"row 1 of input 'text' has {len(TOO_LONG):,} characters, over the limit of {MAX_TEXT_CHARS:,}"
NO_TOKEN = "has no token after standardization"

BAD_NATIVE = {
    "a number where text is expected": ("words", ["cat", 3], "input 'text' takes text, but row 1 is a number"),
    "null where text is expected": ("words", [None], "input 'text' takes text, but row 0 is null"),
    "a list of two texts in a row": ("words", [["cat", "dog"]], "input 'text' takes text, but row 0 is a list"),
    "a number for the text of a mixed row": (
        "mixed",
        [{"text": 1.5, "amount": [0, 0]}],
        "input 'text' takes text, but row 0 is a number",
    ),
    "text where numbers are expected": (
        "mixed",
        [{"text": "cat", "amount": ["a", "b"]}],
        "input 'amount' must hold numbers, but it holds text",
    ),
    "a bare text for a mixed model": ("mixed", ["cat"], "each instance must be an object"),
    "over MAX_TEXT_CHARS": ("words", ["cat", TOO_LONG], TOO_LONG_MESSAGE + " (MAX_TEXT_CHARS)"),
    "a text with no token": ("words", ["cat", "  ?! "], f"row 1 of input 'text' {NO_TOKEN}"),
    "an empty text": ("padded", [""], None),  # a fixed-length model answers it, as Keras does
}


@pytest.mark.parametrize("case", BAD_NATIVE, ids=list(BAD_NATIVE))
def test_native_bad_text_is_a_400_naming_it(client, case):
    model, instances, message = BAD_NATIVE[case]
    if message is None:
        native(client, model, instances)
        return
    assert message in native(client, model, instances, 400)["error"]


def test_v2_json_bad_text(client):
    def error(data: list, shape: list[int], model: str = "words", datatype: str = "BYTES") -> str:
        return v2_json(client, model, [{"name": "text", "shape": shape, "datatype": datatype, "data": data}], 400)[
            "error"
        ]

    assert "datatype BYTES takes strings in 'data', but element 1 is a number" in error(["cat", 7], [2])
    assert "input 'text' takes datatype BYTES, got FP32" in error([1.0], [1], datatype="FP32")
    assert "'data' holds 1 value but shape [2] needs 2" in error(["cat"], [2])
    assert TOO_LONG_MESSAGE in error(["cat", TOO_LONG], [2])
    assert NO_TOKEN in error([""], [1])


BAD_BINARY = {
    "invalid UTF-8": (serialized(b"cat", b"caf\xe9"), [2], "element 1 is not valid UTF-8 text (byte 3"),
    "a length prefix past the end": (
        serialized(b"cat") + struct.pack("<I", 50) + b"dog",
        [2],
        "the length prefix of element 1 of the binary data says 50 bytes, past the end of the data (3 bytes left)",
    ),
    "a cut length prefix": (serialized(b"cat") + b"\x01\x00", [2], "needs a 4-byte length prefix, but only 2 bytes"),
    "fewer elements than the shape": (serialized(b"cat"), [2], "holds 1 element but shape [2] needs 2"),
    "bytes after the last element": (serialized(b"cat") + b"x", [1], "holds more than the 1 element of shape [1]"),
    "over MAX_TEXT_CHARS": (serialized(b"cat", TOO_LONG.encode()), [2], TOO_LONG_MESSAGE),
}


@pytest.mark.parametrize("case", BAD_BINARY, ids=list(BAD_BINARY))
def test_v2_binary_bad_text(client, case):
    payload, shape, message = BAD_BINARY[case]
    response = v2_binary(client, "words", "text", shape, payload)
    assert response.status_code == 400 and message in response.json()["error"], response.text


def test_grpc_bad_text(grpc_triton):
    invalid = triton_grpc.InferInput("text", [2], "BYTES")
    invalid._get_tensor().contents.bytes_contents.extend([b"cat", b"\xff"])
    raw_past_end = triton_grpc.InferInput("text", [2], "BYTES")
    raw_past_end._raw_content = serialized(b"cat") + struct.pack("<I", 9)
    raw_invalid = triton_grpc.InferInput("text", [1], "BYTES")
    raw_invalid._raw_content = serialized(b"\xc3")
    numbers = triton_grpc.InferInput("text", [1], "FP32")
    numbers.set_data_from_numpy(np.array([1.0], np.float32))
    expected = {
        "numbers for a text input": ([numbers], "input 'text' takes datatype BYTES, got FP32"),
        "bytes_contents, invalid UTF-8": ([invalid], "element 1 is not valid UTF-8 text"),
        "raw, a length prefix past the end": ([raw_past_end], "says 9 bytes, past the end"),
        "raw, invalid UTF-8": ([raw_invalid], "element 0 is not valid UTF-8 text"),
        "over MAX_TEXT_CHARS": ([text_tensor(triton_grpc, ["cat", TOO_LONG])], TOO_LONG_MESSAGE),
        "no token": ([text_tensor(triton_grpc, ["..."])], NO_TOKEN),
    }
    for case, (inputs, message) in expected.items():
        code, text = status_of(grpc_triton.infer, "words", inputs)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and message in text, case


def test_tfserving_bad_text(client):
    def error(body: dict) -> str:
        response = client.post("/v1/models/words:predict", json=body)
        assert response.status_code == 400, response.text
        return response.json()["error"]

    assert "input 'text' takes text, but row 0 is a number" in error({"instances": [4]})
    assert "input 'text' takes text, but row 1 is a boolean" in error({"inputs": ["cat", True]})
    assert TOO_LONG_MESSAGE in error({"inputs": {"text": ["cat", TOO_LONG]}})


def test_a_text_with_no_answer_gets_a_400_never_nan(client):
    # This model divides word counts by their sum: 0/0 for a text with no word, and its step does not warn.
    assert "computes no probability for row 1 (NaN)" in native(client, "nan_on_empty", ["cat", "!?"], 400)["error"]
    assert client.get("/health/ready").status_code == 200
    assert all(np.isfinite(native_probabilities(client, "nan_on_empty", ["cat", "the dog"])).ravel())


TARGET = "The cat and the dog eat bread"  # 7 tokens
MATES = ["dog", "rain " * 200, "cheese, bread", "sun and snow " * 30, "été été", "the " * 1000, "cat dog rain sun"]


def execution_and_inference_counts(client: httpx.Client, model: str) -> tuple[int, int]:
    stats = client.get(f"/v2/models/{model}/stats").json()["model_stats"][0]
    return stats["execution_count"], stats["inference_count"]


@pytest.mark.parametrize("model", ["words", "padded"])
def test_a_text_answer_never_depends_on_its_batch_mates(client, server, model):
    """A text alone and among texts of very different lengths (in one request, and in concurrent requests that the
    batcher runs together) gets the same probabilities, bit for bit. A variable-length model pads nothing: texts
    share an ONNX Runtime call only with texts of the same token count."""
    alone = native_probabilities(client, model, [TARGET])[0]
    assert np.all(np.isfinite(alone))
    one_request = native_probabilities(client, model, [*MATES, TARGET, *reversed(MATES), TARGET])
    assert np.array_equal(one_request[len(MATES)], alone) and np.array_equal(one_request[-1], alone)

    singles = [[TARGET] if i % 3 == 0 else [MATES[i % len(MATES)]] for i in range(96)]
    triples = [[MATES[i % len(MATES)], TARGET, MATES[(i + 3) % len(MATES)]] for i in range(24)]
    limits = httpx.Limits(max_connections=16)
    with httpx.Client(base_url=server.url, timeout=30, limits=limits) as concurrent, ThreadPoolExecutor(16) as pool:
        for burst in (singles, triples):
            executions_before, rows_before = execution_and_inference_counts(client, model)
            answers = list(pool.map(lambda texts: native_probabilities(concurrent, model, texts), burst))
            executions, rows = execution_and_inference_counts(client, model)
            assert rows - rows_before == sum(map(len, burst))
            for texts, answer in zip(burst, answers, strict=True):
                assert np.all(np.isfinite(answer))
                for text, probabilities in zip(texts, answer, strict=True):
                    if text == TARGET:
                        assert np.array_equal(probabilities, alone), f"{probabilities} != {alone} among {texts}"
            if burst is singles:  # one text per request: fewer ONNX Runtime calls than requests means shared calls
                assert executions - executions_before < len(burst)


def test_tfserving_binary_strings_are_base64_text(client):
    """TF Serving's way to send a binary string, {"b64": ...}: decoded, it must be UTF-8 text."""
    encoded = [{"b64": base64.b64encode(text.encode()).decode()} for text in TEXTS]
    expected = native_probabilities(client, "words", TEXTS)
    rows = client.post("/v1/models/words:predict", json={"instances": encoded}).json()["predictions"]
    np.testing.assert_array_equal(np.array([row["probabilities"] for row in rows], np.float32), expected)
    mixed = [{"text": e, "amount": a.tolist()} for e, a in zip(encoded, AMOUNTS, strict=True)]
    rows = client.post("/v1/models/mixed:predict", json={"instances": mixed}).json()["predictions"]
    np.testing.assert_array_equal(
        np.array([row["probabilities"] for row in rows], np.float32),
        native_probabilities(client, "mixed", mixed_rows()),
    )

    def error(body: dict) -> str:
        response = client.post("/v1/models/words:predict", json=body)
        assert response.status_code == 400, response.text
        return response.json()["error"]

    assert "is not UTF-8 text (byte 0" in error({"inputs": [{"b64": base64.b64encode(b"\xff").decode()}]})
    assert "must hold a base64 string" in error({"inputs": [{"b64": "not base64!"}]})
    assert "must hold a base64 string" in error({"inputs": [{"b64": 3}]})
    deep = '{"instances": ' + "[" * 990 + '{"b64": "YQ=="}' + "]" * 990 + "}"
    response = client.post("/v1/models/words:predict", content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "too deeply" in response.json()["error"], response.text
