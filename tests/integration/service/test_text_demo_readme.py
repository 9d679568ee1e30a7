"""The README's curl examples of the text demo, run as written against a real server on models/: each answers the
JSON the README shows (probabilities within float32 rounding)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator

import numpy as np
import pytest

from tests.support.server import DEMO_REPOSITORY, ROOT, RunningServer, serving

SECTION = (ROOT / "README.md").read_text().split("### The text demo model", 1)[1].split("\n## ", 1)[0]
EXAMPLES = re.findall(r"```bash\n(curl .*?)```\n```json\n(.*?)\n```", SECTION, re.DOTALL)


@pytest.fixture(scope="module")
def demo_server() -> Iterator[RunningServer]:
    # The demo is shipped in models/ (git): a missing file is a failure of the checkout, not a reason to skip.
    assert (DEMO_REPOSITORY / "docstrings" / "1" / "model.onnx").exists(), "models/docstrings/1/model.onnx missing"
    yield from serving({"MODEL_REPOSITORY": str(DEMO_REPOSITORY), "DEFAULT_MODEL": "digits"})


def test_the_readme_shows_a_native_and_a_v2_example() -> None:
    assert len(EXAMPLES) == 2
    assert "localhost:8000/models/docstrings/predict" in EXAMPLES[0][0]
    assert "localhost:8000/v2/models/docstrings/infer" in EXAMPLES[1][0]


@pytest.mark.parametrize("command, shown", EXAMPLES, ids=["native", "v2"])
def test_the_readme_text_demo_curl_answers_as_shown(demo_server: RunningServer, command: str, shown: str) -> None:
    command = command.replace("localhost:8000", demo_server.url.removeprefix("http://"))
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True)
    assert_same(json.loads(done.stdout), json.loads(shown))


def assert_same(answer: object, shown: object) -> None:
    if isinstance(shown, float) or (
        isinstance(shown, int) and not isinstance(shown, bool) and isinstance(answer, float)
    ):
        assert answer == pytest.approx(shown, abs=1e-6)
    elif isinstance(shown, list) and shown and isinstance(shown[0], float):
        np.testing.assert_allclose(np.array(answer, np.float64), np.array(shown, np.float64), rtol=0, atol=1e-6)
    elif isinstance(shown, list):
        assert isinstance(answer, list) and len(answer) == len(shown)
        for a, s in zip(answer, shown, strict=True):
            assert_same(a, s)
    elif isinstance(shown, dict):
        assert isinstance(answer, dict) and answer.keys() == shown.keys()
        for key in shown:
            assert_same(answer[key], shown[key])
    else:
        assert answer == shown
