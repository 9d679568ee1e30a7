from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.guarded import ALLOWED_ORIGIN, KEY_IN_ENV, KEYS_IN_FILE
from tests.support.onnx_models import linear_model
from tests.support.server import RunningServer, serving


@pytest.fixture(scope="session")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """API keys (env and file), CORS for one origin, the access log on, a 16 MB body limit; `linear` v3 is
    broken (a failed load)."""
    root = tmp_path_factory.mktemp("guarded")
    linear_model(root / "repository" / "linear" / "1" / "model.onnx", seed=1)
    linear_model(root / "repository" / "linear" / "2" / "model.onnx", seed=2)
    (root / "repository" / "linear" / "3").mkdir()
    (root / "repository" / "linear" / "3" / "model.onnx").write_bytes(b"not an onnx model")
    keys_file = root / "keys.txt"
    keys_file.write_text(f"# keys for the tests\n{KEYS_IN_FILE[0]}\n\n  {KEYS_IN_FILE[1]}  \n")
    yield from serving(
        {
            "MODEL_REPOSITORY": str(root / "repository"),
            "API_KEYS": f"{KEY_IN_ENV}, ",
            "API_KEYS_FILE": str(keys_file),
            "CORS_ORIGINS": ALLOWED_ORIGIN,
            "ACCESS_LOG": "true",
            "MAX_BODY_BYTES": str(16 * 1024 * 1024),
        }
    )


@pytest.fixture(scope="session")
def key_header() -> dict[str, str]:
    return {"authorization": f"Bearer {KEY_IN_ENV}"}


@pytest.fixture(scope="session")
def demo() -> Iterator[RunningServer]:
    """The shipped demo models (`digits`: 64 numbers; `docstrings`: a text), HTTP and gRPC, for the property-based
    input tests (one server for all of them). A body that stops short is answered 408 after one second."""
    yield from serving({"MODEL_REPOSITORY": "models", "DEFAULT_MODEL": "digits", "BODY_CHUNK_TIMEOUT_SECONDS": "1"})
