"""unicode_tables.json still says what this TensorFlow's RE2 and tensorflow-text's ICU do."""

from __future__ import annotations

import pytest

from model_export.text.unicode_tables import TABLES_PATH, build_tables, dump_tables

pytest.importorskip("tensorflow_text")


def test_unicode_tables_match_tensorflow() -> None:
    assert TABLES_PATH.read_text(encoding="utf-8") == dump_tables(build_tables()), (
        "TensorFlow's Unicode data changed: run `python -m model_export.text.unicode_tables` and commit the file"
    )
