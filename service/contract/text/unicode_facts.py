"""The Unicode facts of KerasHub's TensorFlow path, for a serve-time tokenizer that runs without TensorFlow.

`unicode_tables.json` (made by `model_export/text/unicode_tables.py` from TensorFlow's RE2 and tensorflow-text's
ICU) holds RE2's character classes and the code points where ICU's NFD or NFKC_Casefold differs from Python's
`unicodedata`. Python 3.11 knows Unicode 14.0; RE2 and ICU in TensorFlow 2.21 know newer characters (the Balinese
inverter U+1B4E is punctuation there, U+1C89 folds to U+1C8A), so `unicodedata` alone differs from KerasHub on
about two hundred code points. Python's `unicodedata` still does the string-level work (composition, canonical
order); the tables only replace what it does not know.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLES_PATH = Path(__file__).with_name("unicode_tables.json")


@dataclass(frozen=True)
class UnicodeFacts:
    classes: dict[str, str]  # RE2 class name -> a `re` character-class body ("a-z...")
    nfd_changes: dict[int, str]
    casefold_changes: dict[int, str]  # ICU's result where Python's differs; "" where ICU drops the code point
    compositions: dict[str, str]  # decomposed -> composed, for characters Python's NFKC does not compose
    composable: re.Pattern[str] | None

    def nfd(self, text: str) -> str:
        return unicodedata.normalize("NFD", text.translate(self.nfd_changes))

    def casefold(self, text: str) -> str:
        """`tf_text.case_fold_utf8`: NFKC_Casefold, dropping default-ignorable code points."""
        text = text.translate(self.casefold_changes)
        if text.isascii():
            return text.lower()
        text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
        if self.composable is not None:
            text = self.composable.sub(lambda match: self.compositions[match.group()], text)
        return text


def class_body(ranges: list[list[int]]) -> str:
    """A `re` character-class body for code point ranges (escaped, so any code point is safe)."""
    return "".join(
        re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in ranges
    )


@cache
def unicode_facts() -> UnicodeFacts:
    tables = json.loads(TABLES_PATH.read_text(encoding="utf-8"))
    if tables["python_unicode_version"] != unicodedata.unidata_version:
        raise RuntimeError(
            f"{TABLES_PATH.name} was made against Python's Unicode {tables['python_unicode_version']}, this Python "
            f"has {unicodedata.unidata_version}: run `python -m model_export.text.unicode_tables` again"
        )
    removed = {cp: "" for low, high in tables["casefold_removes"] for cp in range(low, high + 1)}
    compositions = tables["compositions"]
    alternatives = "|".join(re.escape(text) for text in sorted(compositions, key=len, reverse=True))
    return UnicodeFacts(
        classes={name: class_body(ranges) for name, ranges in tables["classes"].items()},
        nfd_changes={int(cp): text for cp, text in tables["nfd"].items()},
        casefold_changes=removed | {int(cp): text for cp, text in tables["casefold"].items()},
        compositions=compositions,
        composable=re.compile(alternatives) if alternatives else None,
    )
