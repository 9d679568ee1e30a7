"""`verify` (exit 0 pass / 1 fail / 2 usage) and `inspect` (text and --json), as real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from model_export import export_model
from model_export.cli import SUBCOMMANDS
from model_export.parity.verify_command import verify_exported
from tests.support.server import ROOT

keras = pytest.importorskip("keras")

REPO = ROOT


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "model_export", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)


@pytest.fixture(scope="module")
def exported(model_files, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("verify") / "mlp" / "1" / "model.onnx"
    export_model(model_files("mlp.keras"), output, ["a", "b", "c"], thresholds={"b": 0.25})
    return output


@pytest.fixture(scope="module")
def impostor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same interface as the mlp fixture model, different weights."""
    keras.utils.set_random_seed(99)
    inputs = keras.Input((6,), name="features")
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(16, activation="relu")(inputs)))
    path = tmp_path_factory.mktemp("impostor") / "other.keras"
    model.save(path)
    return path


def test_subcommands_registered():
    assert {"export", "calibrate", "verify", "inspect"} <= set(SUBCOMMANDS)


def test_verify_passes_against_its_source(model_files, exported):
    result = _cli("verify", str(exported), "--keras", str(model_files("mlp.keras")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout and "batches [1, 7, 64]" in result.stdout
    assert "source matches the one recorded at export" in result.stdout


def test_verify_fails_against_another_model(exported, impostor):
    result = _cli("verify", str(exported), "--keras", str(impostor))
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "parity check failed" in result.stdout
    assert "DIFFERS from the one recorded" in result.stdout


def test_verify_usage_errors_exit_2(exported, tmp_path):
    missing = _cli("verify", str(exported), "--keras", str(tmp_path / "nope.keras"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    assert _cli("verify", str(exported)).returncode == 2  # argparse: --keras is required


def test_verify_with_sample_data_and_savedmodel(model_files, tmp_path):
    import numpy as np

    output = tmp_path / "sm.onnx"
    export_model(model_files("mlp.savedmodel"), output, ["a", "b", "c"])
    sample = tmp_path / "rows.npz"
    np.savez(sample, features=np.random.default_rng(0).normal(size=(9, 6)))
    outcome = verify_exported(output, model_files("mlp.savedmodel"), sample)
    assert outcome.passed and outcome.report.batch_sizes == [1, 9]


def test_inspect_text_and_json(exported):
    text = _cli("inspect", str(exported))
    assert text.returncode == 0, text.stderr
    for fragment in ("features", "probabilities", "logits", "[batch, 3]", "b  0.25", "source_sha256", "none"):
        assert fragment in text.stdout
    as_json = _cli("inspect", str(exported), "--json")
    info = json.loads(as_json.stdout)
    assert info["labels"] == ["a", "b", "c"] and info["thresholds"] == [0.5, 0.25, 0.5]
    assert info["inputs"] == [{"name": "features", "dtype": "float", "shape": ["batch", 6]}]
    assert [o["name"] for o in info["outputs"]] == ["probabilities", "logits"]
    assert info["provenance"]["head"] == "appended_sigmoid" and info["calibration"] is None


def test_inspect_refuses_foreign_files(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    result = _cli("inspect", str(junk))
    assert result.returncode == 2 and result.stderr.startswith("error: ")
