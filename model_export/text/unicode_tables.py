"""Make `service/contract/text/unicode_tables.json`: the Unicode facts KerasHub's TensorFlow path uses.

KerasHub tokenizers run in TensorFlow when a task is fitted or predicts (tf.data traces them). There, character
classes (`\\p{P}`, `\\p{Mn}`, `\\p{L}`, ...) come from the RE2 bundled with TensorFlow, and NFD / NFKC_Casefold
come from the ICU bundled with tensorflow-text. Both know newer Unicode than Python 3.11's `unicodedata` (14.0).
The serve-time tokenizer must not import TensorFlow, so this module asks TensorFlow once, over every code point,
and records:

- `classes`: each RE2 class as code point ranges, read with `tf.strings.regex_full_match`;
- `nfd` / `casefold`: the code points whose ICU result differs from Python's `unicodedata`, with ICU's result
  (casefold: `tf_text.case_fold_utf8`);
- `compositions`: decomposed sequences of such code points that ICU's NFKC composes again;
- `casefold_removes`: the code points `tf_text.case_fold_utf8` drops (default-ignorable ones), as ranges.

Run `python -m model_export.text.unicode_tables` after upgrading tensorflow or tensorflow-text; the integration
test `test_unicode_tables_match_tensorflow` fails until the file is regenerated.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

TABLES_PATH = Path(__file__).resolve().parents[2] / "service/contract/text/unicode_tables.json"
CLASSES = {
    "Mn": r"\p{Mn}",
    "P": r"\p{P}",
    "Cc": r"\p{Cc}",
    "Cf": r"\p{Cf}",
    "L": r"\p{L}",
    "N": r"\p{N}",
    "space": r"\s",
}


def code_points() -> list[int]:
    """Every Unicode scalar value (surrogates cannot be UTF-8 encoded, so no client can send one)."""
    return [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]


def _ranges(members: list[int]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for cp in members:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return ranges


def python_casefold(text: str) -> str:
    """NFKC_Casefold as Python's unicodedata computes it (without default-ignorable removal)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def build_tables() -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf
    import tensorflow_text as tf_text

    cps = code_points()
    chars = tf.constant([chr(cp) for cp in cps])
    classes = {}
    for name, pattern in CLASSES.items():
        matched = tf.strings.regex_full_match(chars, pattern).numpy()
        classes[name] = _ranges([cp for cp, hit in zip(cps, matched, strict=True) if hit])
    # NUL cannot be examined by itself (tf_text drops what follows it); it is handled by the tokenizers.
    nfd = tf_text.normalize_utf8(chars, "NFD").numpy()
    folded = tf_text.case_fold_utf8(chars).numpy()
    nfd_changes, casefold_changes, removed = {}, {}, []
    for cp, icu_nfd, icu_folded in zip(cps, nfd, folded, strict=True):
        char = chr(cp)
        if (text := icu_nfd.decode()) != unicodedata.normalize("NFD", char):
            nfd_changes[str(cp)] = text
        if not (text := icu_folded.decode()):
            removed.append(cp)
        elif text != python_casefold(char):
            casefold_changes[str(cp)] = text
    # What ICU's NFKC composes back and Python's does not know (a decomposed new character, after strip_accents).
    decomposed = list(nfd_changes.values())
    recomposed = tf_text.normalize_utf8(tf.constant(decomposed or [""]), "NFKC").numpy()
    pairs = zip(decomposed, (text.decode() for text in recomposed), strict=False)
    compositions = {text: composed for text, composed in pairs if composed != text}
    return {
        "python_unicode_version": unicodedata.unidata_version,
        "made_with": {"tensorflow": tf.__version__, "tensorflow_text": tf_text.__version__, "numpy": np.__version__},
        "classes": classes,
        "nfd": nfd_changes,
        "casefold": casefold_changes,
        "casefold_removes": _ranges(removed),
        "compositions": compositions,
    }


def dump_tables(tables: dict[str, Any]) -> str:
    return json.dumps(tables, ensure_ascii=True, separators=(",", ":"), sort_keys=True) + "\n"


def main() -> int:
    TABLES_PATH.write_text(dump_tables(build_tables()), encoding="utf-8")
    print(f"wrote {TABLES_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
