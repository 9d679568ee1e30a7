"""KerasHub's `WordPieceTokenizer` (BertTokenizer, DistilBertTokenizer) as its TensorFlow path computes it.

The steps, in KerasHub's order (`keras_hub/src/tokenizers/word_piece_tokenizer.py`, `pretokenize`):

1. A NUL ends the text: `tf_text.regex_split` reads its input as a C string, so nothing after a NUL is tokenized.
2. CJK ideographs (KerasHub's ranges) are set apart with spaces (`split_on_cjk`).
3. `strip_accents`: NFD (ICU), then every RE2 `\\p{Mn}` removed.
4. Split on RE2 `\\s` (ASCII whitespace only: a no-break space does not split), `\\p{Cc}` and `\\p{Cf}` (dropped),
   and on punctuation (ASCII non-alphanumerics and `\\p{P}`) and CJK ideographs (each kept as a word).
5. `lowercase`: each word becomes its NFKC_Casefold (ICU's `case_fold_utf8`: `ß` -> `ss`, `ﬁ` -> `fi`, the
   no-break space inside a word -> a space, zero-width characters dropped). Done after the split, so a word can
   come out holding a space, or empty (then it gives no token).
6. Greedy longest-match-first WordPiece per word (`tf_text.FastWordpieceTokenizer`); a word that cannot be
   covered, or longer than 100 UTF-8 bytes, becomes the OOV token.

Python's `unicodedata` and `re` reproduce it, with `unicode_facts` standing in for RE2's and ICU's newer Unicode.
No configuration of HF `tokenizers` does (its BertNormalizer strips accents with lowercase, splits on every Unicode
space, lowercases instead of case folding, and counts characters, not bytes, against its length limit).
"""

from __future__ import annotations

import re

from .unicode_facts import unicode_facts

MAX_BYTES_PER_WORD = 100
# KerasHub's CJK_REGEX ranges (from the original BERT tokenizer).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# ASCII characters KerasHub treats as punctuation although Unicode does not (`^`, `$`, `` ` ``, ...).
ASCII_PUNCTUATION = r"!-/:-@\[-`{-~"


class WordPieceTokenizer:
    """Text -> WordPiece token ids, exactly as KerasHub's TensorFlow path gives them."""

    def __init__(
        self,
        vocabulary: list[str],
        *,
        lowercase: bool,
        strip_accents: bool,
        split_on_cjk: bool,
        suffix_indicator: str,
        oov_token: str,
    ) -> None:
        self._ids = {token: index for index, token in reversed(list(enumerate(vocabulary)))}
        if oov_token not in self._ids:
            raise ValueError(f"the OOV token {oov_token!r} is not in the vocabulary")
        self._oov_id = self._ids[oov_token]
        self._suffix = suffix_indicator
        self._lowercase = lowercase
        self._strip_accents = strip_accents
        facts = unicode_facts()
        self._facts = facts
        cjk = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in CJK_RANGES)
        dropped = facts.classes["space"] + facts.classes["Cc"] + facts.classes["Cf"]
        kept = ASCII_PUNCTUATION + facts.classes["P"] + (cjk if split_on_cjk else "")
        self._cjk = re.compile(f"[{cjk}]") if split_on_cjk else None
        self._marks = re.compile(f"[{facts.classes['Mn']}]+")
        self._words = re.compile(f"[{kept}]|[^{kept}{dropped}]+")
        self._cache: dict[str, list[int]] = {}

    def words(self, text: str) -> list[str]:
        """The words KerasHub's `pretokenize` makes of `text` (before WordPiece)."""
        text = text.split("\0", 1)[0]
        if self._cjk is not None:
            text = self._cjk.sub(r" \g<0> ", text)
        if self._strip_accents and not text.isascii():
            text = self._marks.sub("", self._facts.nfd(text))
        words = self._words.findall(text)
        if self._lowercase:
            words = [self._facts.casefold(word) for word in words]
        return words

    def token_ids(self, text: str) -> list[int]:
        ids: list[int] = []
        for word in self.words(text):
            cached = self._cache.get(word)
            if cached is None:
                cached = self._word_ids(word)
                if len(self._cache) < 100_000:
                    self._cache[word] = cached
            ids.extend(cached)
        return ids

    def _word_ids(self, word: str) -> list[int]:
        if not word:
            return []
        if len(word.encode("utf-8")) > MAX_BYTES_PER_WORD:
            return [self._oov_id]
        ids, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else self._suffix + word[start:end]
                found = self._ids.get(piece)
                if found is not None:
                    ids.append(found)
                    start = end
                    break
            else:
                return [self._oov_id]
        return ids
