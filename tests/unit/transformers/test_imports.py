"""The serve-time package stays light: stdlib, numpy and sentencepiece; no TensorFlow, Keras or exporter code."""

from __future__ import annotations

import json
import subprocess
import sys

ALLOWED_THIRD_PARTY = {"numpy", "sentencepiece", "tokenizers"}


def test_transformer_step_imports_no_tensorflow_keras_or_exporter() -> None:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "from service.contract.text.transformer_step import TransformerTextStep\n"
        "from service.contract.text.transformer_spec import parse_spec\n"
        "from service.contract.text.unicode_facts import unicode_facts\n"
        "unicode_facts()\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(result.stdout)}
    project = {name for name in loaded if name in ("service", "model_export", "tests")}
    third_party = loaded - set(sys.stdlib_module_names) - project - {"_distutils_hack"}
    assert third_party <= ALLOWED_THIRD_PARTY, third_party
    inside = {name for name in json.loads(result.stdout) if name.startswith(("service.", "model_export"))}
    assert all(name.startswith("service.contract") for name in inside), inside
