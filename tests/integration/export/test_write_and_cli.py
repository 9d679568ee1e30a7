"""Atomic writing, nothing written on failure, and the CLI end to end in a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from model_export import ExportError, export_model, read_metadata
from model_export.cli import SUBCOMMANDS
from tests.support.onnx_checks import temp_leftovers
from tests.support.server import ROOT

REPO = ROOT


def test_parity_failure_writes_nothing_and_keeps_existing_file(model_files, tmp_path):
    output = tmp_path / "m" / "1" / "model.onnx"
    output.parent.mkdir(parents=True)
    output.write_bytes(b"previous version")
    with pytest.raises(ExportError, match="parity check failed.*Nothing was written"):
        # A negative bound makes any model fail the comparison: the path that must not write.
        export_model(model_files("mlp.keras"), output, ["a", "b", "c"], tolerance=-1.0)
    assert output.read_bytes() == b"previous version"
    assert not temp_leftovers(output.parent)


def test_atomic_replace_of_existing_file(model_files, tmp_path):
    output = tmp_path / "deep" / "er" / "model.onnx"
    export_model(model_files("mlp.keras"), output, ["a", "b", "c"])
    first = output.read_bytes()
    export_model(model_files("mlp.keras"), output, ["x", "y", "z"])
    assert output.read_bytes() != first and read_metadata(output).labels == ["x", "y", "z"]
    assert sorted(p.name for p in output.parent.iterdir()) == ["model.onnx"]
    assert output.stat().st_mode & 0o777 == 0o644  # readable by a server running as another user


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the CLI must quiet TensorFlow by itself
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "model_export", *args], capture_output=True, text=True, env=env, cwd=REPO
    )


@pytest.mark.smoke
def test_cli_exports(model_files, tmp_path):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("alpha\nbeta\n\ngamma\n")
    output = tmp_path / "models" / "mlp" / "3" / "model.onnx"
    result = _cli(
        str(model_files("mlp.keras")), "--output", str(output), "--labels", f"@{labels_file}",
        "--thresholds", "beta=0.25", "--threshold", "0.6",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "appended_sigmoid" in result.stdout and "max abs error probabilities" in result.stdout
    meta = read_metadata(output)
    assert meta.labels == ["alpha", "beta", "gamma"] and meta.thresholds == [0.6, 0.25, 0.6]


def test_cli_explicit_export_subcommand_and_refusal(model_files, tmp_path):
    assert "export" in SUBCOMMANDS
    output = tmp_path / "softmax" / "1" / "model.onnx"
    result = _cli("export", str(model_files("softmax.keras")), "-o", str(output), "--labels", "a,b,c")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "softmax" in result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists() and not output.parent.exists()


def test_cli_bad_opset_refused_before_loading(tmp_path):
    result = _cli("missing.keras", "-o", str(tmp_path / "m.onnx"), "--labels", "a", "--opset", "19")
    assert result.returncode == 2 and "up to opset 18" in result.stderr


def test_read_metadata_needs_no_tensorflow(model_files, tmp_path):
    output = tmp_path / "m.onnx"
    export_model(model_files("mlp.keras"), output, ["a", "b", "c"])
    code = (
        "import sys; from model_export import read_metadata; "
        f"m = read_metadata({str(output)!r}); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; print(m.labels)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "['a', 'b', 'c']" in result.stdout
