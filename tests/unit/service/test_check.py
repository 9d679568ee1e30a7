"""`python -m service check`: what the server would say of a repository, offline, with its exit status."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.repository_files import publish_corrupt, publish_linear
from tests.support.server import ROOT


def check(root: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "service", "check", str(root)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_a_messy_but_servable_repository_is_explained_and_passes(tmp_path: Path) -> None:
    publish_linear(tmp_path, "mymodel", 1, seed=1)
    (tmp_path / "mymodel" / "v4").mkdir()
    (tmp_path / "newmodel").mkdir()
    shutil.copy(tmp_path / "mymodel" / "1" / "model.onnx", tmp_path / "newmodel" / "model.onnx")
    result = check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mymodel: would serve version 1 (versions on disk: 1)" in result.stdout
    assert "ignored: v4/: not a version number" in result.stdout
    assert "ignored: model.onnx: a model file directly in newmodel/ (expected newmodel/1/model.onnx)" in result.stdout
    assert result.stdout.rstrip().endswith("the server would be ready (what is listed above does not stop it)")


def test_a_model_that_would_not_load_fails_the_check_with_the_reason(tmp_path: Path) -> None:
    publish_linear(tmp_path, "good", 1, seed=1)
    publish_corrupt(tmp_path, "broken", 1)
    result = check(tmp_path)
    assert result.returncode == 2
    assert "broken: would serve nothing" in result.stdout and "version 1: ONNX Runtime cannot load" in result.stdout
    assert "the server would not be ready: broken:" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
