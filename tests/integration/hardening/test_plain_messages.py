"""Messages a person reads: `python -m service --help`, a reader that stops reading, and errors in plain words
(NaN and infinity named as such, an extra input named as not one of the model's, "1 value" not "1 values")."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from service.server.usage import setting_rows
from tests.support.server import ROOT, RunningServer

ROW = [0.0] * 64
NON_FINITE = ["NaN", "Infinity", "-Infinity"]


def test_service_help_prints_usage_and_every_setting_and_exits_0() -> None:
    done = subprocess.run([sys.executable, "-m", "service", "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m service")
    for name, default, meaning in setting_rows():
        line = next(line for line in done.stdout.splitlines() if line.split()[:1] == [name])
        assert (default or "(empty)") in line and meaning in line, line


def test_service_refuses_an_argument_it_does_not_take_with_its_usage() -> None:
    done = subprocess.run([sys.executable, "-m", "service", "--port", "9"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("unknown argument '--port'\nusage: python -m service")


@pytest.mark.parametrize(
    "command", [["model_export", "inspect", "models/digits/1/model.onnx"], ["service", "--help"]], ids=" ".join
)
def test_a_command_ends_quietly_when_its_reader_stops_reading(command: list[str]) -> None:
    """`inspect ... | head`, `python -m service --help | head`: the pipe is closed before anything is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", *command], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


@pytest.mark.parametrize("literal", NON_FINITE)
@pytest.mark.parametrize(
    "path, body",
    [
        ("/predict", '{"instances": [[%s, 0]]}'),
        (
            "/v2/models/digits/infer",
            '{"inputs": [{"name": "pixels", "shape": [1, 1], "datatype": "FP32", "data": [%s]}]}',
        ),
        ("/v1/models/digits:predict", '{"instances": [[%s]]}'),
    ],
    ids=["native", "v2", "tfserving"],
)
def test_nan_and_infinity_in_json_are_named(demo: RunningServer, path: str, body: str, literal: str) -> None:
    answer = httpx.post(demo.url + path, content=body % literal, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert f"{literal} (line 1 column" in error and "is not a JSON number" in error, error


def test_tfserving_names_an_extra_input_as_not_the_models(demo: RunningServer) -> None:
    body = {"inputs": {"pixels": [ROW], "extra": [[1.0]]}}
    answer = httpx.post(demo.url + "/v1/models/digits:predict", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"] == "model 'digits' takes the input 'pixels': 'extra' is not one of its inputs"


def test_a_missing_input_is_named_as_missing(demo: RunningServer) -> None:
    answer = httpx.post(demo.url + "/v1/models/digits:predict", json={"inputs": {"pictures": [ROW]}})
    assert answer.json()["error"] == (
        "model 'digits' takes the input 'pixels': 'pixels' is missing, and 'pictures' is not one of its inputs"
    )


def test_one_value_is_one_value(demo: RunningServer) -> None:
    body = {"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32", "data": [1.0]}]}
    answer = httpx.post(demo.url + "/v2/models/digits/infer", json=body)
    assert answer.json()["error"] == "input 'pixels': 'data' holds 1 value but shape [1, 64] needs 64"
