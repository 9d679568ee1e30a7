"""Texts that tokenizers disagree on: the corpus every serve-time tokenizer is proven against KerasHub with."""

from __future__ import annotations

TRICKY_TEXTS = (
    "",
    " ",
    "   \t\n  ",
    "The Quick Brown Fox",
    "café naïve résumé Ångström",  # accents: kept unless strip_accents
    "e\u0301 a\u0300 o\u0308",  # combining accents after plain letters
    "Straße STRASSE",  # ß case-folds to ss
    "İstanbul ıi",  # dotted capital I folds to i + U+0307
    "ﬁne ﬂow ﬀ",  # ligatures: NFKC makes them two letters
    "zero\u200bwidth\u200cjoin\u200d\ufeffbom",  # Cf: split and dropped
    "no\u00a0break\u2009thin\u202fnarrow\u3000ideographic",  # not ASCII spaces: RE2's \s does not match them
    "soft\u00adhyphen e\u00ad\u0301 e\ufe0f\u0301",  # default-ignorables between a letter and its accent
    "日本語のテキスト 中文 한국어",  # CJK ideographs split one by one, kana and hangul do not
    "control\x01\x07\x1b[0m chars\x7f\x85",
    "emoji 🤖👍🏽 👨‍👩‍👧 flags 🇫🇷",
    "a" * 99 + " " + "b" * 100 + " " + "c" * 101,  # WordPiece's 100-byte word limit
    "é" * 50 + " " + "é" * 51,  # 100 and 102 bytes
    "punctuation!?.,;:'\"()[]{}<>@#$%^&*_+=~`|\\/ — – … «» ¿¡",
    "numbers 123 4567890 ½ ² ٣ ④",
    "don't I'll we've they're she's DON'T",
    "<s> </s> <pad> <mask> [CLS] [SEP] [PAD] [MASK] [UNK]",  # special tokens typed by a client
    "ĴA ĴB xĴAy",  # KerasHub's stand-ins for unsplittable tokens
    "before\x00after",  # NUL ends the text in tf_text.regex_split
    "trailing spaces   ",
    "\u3000leading ideographic space",
    "mixed\r\nline\rendings\n\n\nand\ttabs\x0b\x0c",
    "Ǆ ǅ ǆ ΣΑΣ ς ᾼ ﬃ",  # title case, final sigma, iota subscript
    "\U0001d400\U0001d401 \u2160\u2161 \u2460",  # mathematical bold, roman numerals, circled digits
    "ᬎ᭎ \u1c89 \U000105c9",  # characters newer than Python 3.11's Unicode 14
    "\ue000 \U000f0000 \U0010fffd",  # private use
)
