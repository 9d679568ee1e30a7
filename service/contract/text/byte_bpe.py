"""KerasHub's `BytePairTokenizer` (RobertaTokenizer) as its TensorFlow path computes it.

The split (`split_strings_for_bpe` in `keras_hub/src/tokenizers/byte_pair_tokenizer.py`) is KerasHub's own, not
GPT-2's: RE2 cannot look ahead, so KerasHub marks spaces with "६", splits with two RE2 patterns and drops the marks.
It is reproduced here step by step with RE2's character classes (`unicode_facts`), including its quirks: `\\s` is
ASCII whitespace only; a NUL ends the text at each `regex_split`; special ("unsplittable") tokens such as `<s>` are
cut out first and stood in for by "ĴA", "ĴB", ... while the text is split, so those strings typed by a client
become special tokens too. Each piece's UTF-8 bytes are then mapped to GPT-2's byte symbols and merged by rank,
one leftmost lowest-rank pair at a time, as KerasHub's `tf.while_loop` does.

Neither HF `tokenizers`' ByteLevel pre-tokenizer (GPT-2's regex with Unicode `\\s`) nor KerasHub's own eager path
(the Llama 3 regex) splits as KerasHub's TensorFlow path does, so the split is owned here.
"""

from __future__ import annotations

import re

from .unicode_facts import unicode_facts

SPECIAL_SPACES = "\u00a0\u2009\u202f\u3000"
MARK = "६"
ASCII_SPACE = "\t\n\f\r "  # RE2's \s


def byte_symbols() -> list[str]:
    """GPT-2's printable stand-in for each byte value (index = byte)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols: dict[int, str] = {byte: chr(byte) for byte in printable}
    extra = 0
    for byte in range(256):
        if byte not in symbols:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[byte] for byte in range(256)]


def stand_ins(count: int) -> list[str]:
    """KerasHub's stand-in for the i-th unsplittable token: "Ĵ" + the digits of i written as letters A-J."""
    return ["Ĵ" + "".join(chr(ord("A") + int(digit)) for digit in str(index)) for index in range(count)]


def _regex_split(text: str, pattern: re.Pattern[str]) -> list[str]:
    """`tf_text.regex_split(text, pattern, pattern)`: matches and the text between them, in order."""
    text = text.split("\0", 1)[0]
    pieces, position = [], 0
    for match in pattern.finditer(text):
        if match.start() > position:
            pieces.append(text[position : match.start()])
        pieces.append(match.group())
        position = match.end()
    if position < len(text):
        pieces.append(text[position:])
    return pieces


class ByteLevelBpeTokenizer:
    """Text -> byte-level BPE token ids, exactly as KerasHub's TensorFlow path gives them."""

    def __init__(
        self, vocabulary: dict[str, int], merges: list[str], *, unsplittable: list[str], add_prefix_space: bool
    ) -> None:
        self._ids = dict(vocabulary)
        self._ranks = {tuple(merge.split(" ")): rank for rank, merge in enumerate(merges)}
        self._unsplittable = list(unsplittable)
        self._stand_ins = stand_ins(len(unsplittable))
        self._add_prefix_space = add_prefix_space
        self._symbols = byte_symbols()
        classes = unicode_facts().classes
        letter, number = classes["L"], classes["N"]
        self._mark_space = re.compile(f"( )([^{ASCII_SPACE}{SPECIAL_SPACES}])")
        self._mark_end = re.compile(f"([{ASCII_SPACE}]{SPECIAL_SPACES})\\Z")
        self._pieces = re.compile(
            r"'s|'t|'re|'ve|'m|'ll|'d"
            f"|[{ASCII_SPACE}{SPECIAL_SPACES}]+[\n\r\t\f{MARK}{SPECIAL_SPACES}]"
            f"| ?[{letter}]+| ?[{number}]+| ?[^{ASCII_SPACE}{letter}{number}{SPECIAL_SPACES}]+"
        )
        self._last_space = re.compile(f"[ \t\r\f\v{MARK}{SPECIAL_SPACES}]\\Z")
        self._cut = [re.compile(re.escape(token)) for token in unsplittable]
        self._cache: dict[str, list[int]] = {token: [self._ids.get(token, -1)] for token in unsplittable}

    def pieces(self, text: str) -> list[str]:
        """The pieces KerasHub's `split_strings_for_bpe` makes of `text` (before merging)."""
        if self._add_prefix_space:
            text = " " + text
        text = self._mark_space.sub(f"{MARK}\\1\\2", text)
        text = self._mark_end.sub(f"\\1{MARK}", text)
        parts = [text]
        for cut, token, stand_in in zip(self._cut, self._unsplittable, self._stand_ins, strict=True):
            parts = [piece.replace(token, stand_in) for part in parts for piece in _regex_split(part, cut)]
        pieces = [
            last
            for part in parts
            for piece in _regex_split(part, self._pieces)
            for last in _regex_split(piece, self._last_space)
        ]
        for token, stand_in in zip(self._unsplittable, self._stand_ins, strict=True):
            pieces = [piece.replace(stand_in, token) for piece in pieces]
        return [piece for piece in pieces if piece != MARK]

    def token_ids(self, text: str) -> list[int]:
        ids: list[int] = []
        for piece in self.pieces(text):
            cached = self._cache.get(piece)
            if cached is None:
                cached = self._merge(piece)
                if len(self._cache) < 100_000:
                    self._cache[piece] = cached
            ids.extend(cached)
        return ids

    def _merge(self, piece: str) -> list[int]:
        symbols = [self._symbols[byte] for byte in piece.encode("utf-8")]
        ranks = self._ranks
        while len(symbols) > 1:
            best, at = None, -1
            for index in range(len(symbols) - 1):
                rank = ranks.get((symbols[index], symbols[index + 1]))
                if rank is not None and (best is None or rank < best):
                    best, at = rank, index
            if best is None:
                break
            symbols[at : at + 2] = [symbols[at] + symbols[at + 1]]
        return [self._ids.get(symbol, -1) for symbol in symbols]
