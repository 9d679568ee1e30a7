"""The Dockerfile passes hadolint, and its stage order suits the classic builder (no BuildKit here)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import ROOT

DOCKERFILE = ROOT / "Dockerfile"


@pytest.mark.smoke
def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stage_order_builds_serve_without_tensorflow_and_defaults_to_serve() -> None:
    stages = re.findall(r"^FROM \S+(?: AS (\S+))?$", DOCKERFILE.read_text(), re.M)
    # The classic builder builds every stage above --target: the TensorFlow stages must come after `serve`.
    assert stages.index("serve") < stages.index("export-builder") < stages.index("exporter")
    assert re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.M)[-1] == "serve"
    assert "# syntax=" not in DOCKERFILE.read_text()  # a syntax line would make the builder pull from a registry
