"""Texts that the parity check of a text model runs: the tricky ones, and sentences made of the model's vocabulary.

The tricky texts are where a reimplementation of TensorFlow's string ops goes wrong: Unicode case and spaces that
TensorFlow leaves alone, punctuation outside ASCII, combining marks, zero-width characters, texts with no token.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence

from service.contract.text.spec import TextStepSpec

TRICKY_TEXTS: tuple[str, ...] = (
    # no token after standardization
    "",
    " ",
    "     ",
    "\t",
    "\n\n",
    " \t\n\r\x0b\x0c ",
    "!!!",
    "...",
    string.punctuation,
    "?! ,; :-)",
    # mixed case, runs of whitespace
    "The QUICK brown Fox",
    "tHe CaT sAt On ThE mAt",
    "the  cat\t\tsat\n\non   the\r\nmat",
    "  leading and trailing  ",
    "word,word.word!word?word",
    "don't stop-believing (really) [yes] {no} <maybe> a/b a\\b a|b a_b a~b a`b a^b a@b a#b a$b a%b a&b a*b a+b a=b",
    # letters Python's str.lower() changes and TensorFlow's does not
    "café Café CAFÉ",
    "Straße STRASSE ẞ",
    "ﬁle ﬂow ﬃ",
    "İstanbul ISTANBUL ıstanbul",
    "ΣΊΣΥΦΟΣ σίσυφος ΟΔΟΣ οδος",
    "Москва МОСКВА москва Ёж",
    "ǅemal ǲ Ǆ",
    "Ⅻ ⅻ Ⓐ ⓐ",
    "ＡＢＣ ａｂｃ",
    # scripts without case
    "東京 北京 中文 日本語のテキスト",
    "한국어 텍스트",
    "عربي نص",
    "हिन्दी पाठ",
    # punctuation outside ASCII
    "¡Hola! ¿Qué? «quoted» „quoted“ — – … · • ′ ″",
    "。、「」『』【】",
    # emoji, alone and in sequences
    "😀",
    "I ❤️ NY",
    "👩‍👩‍👧‍👦 family",
    "thumbs 👍🏽 up 🇫🇷",
    # combining characters
    "cafe\u0301 vs café",
    "e\u0301\u0301\u0301",
    "a\u0308 o\u0308 u\u0308",
    # spaces TensorFlow does not split on, zero-width and control characters
    "the\u00a0cat sat",
    "the\u2028cat\u2029sat",
    "the\u3000cat\u2003sat\u202fon",
    "the\u200bcat",
    "zero\u200dwidth\u200cjoiner\ufeff",
    "\u200e\u200f",
    "\x00",
    "a\x1cb\x1dc\x1ed\x1fe",
    "next\x85line",
    # words no vocabulary holds
    "xylophone quixotic zzzzzz qwertyuiop",
    "supercalifragilisticexpialidocious " * 3,
)


def corpus_for(specs: Sequence[TextStepSpec], extra: Sequence[str] = (), seed: int = 0) -> list[str]:
    """Tricky texts, then texts made of the steps' vocabularies (so known ids are read too), long texts, `extra`."""
    rng = random.Random(seed)
    texts = list(TRICKY_TEXTS)
    for spec in specs:
        texts += _vocabulary_texts(spec, rng)
    texts += [str(text) for text in extra]
    return texts


def _vocabulary_texts(spec: TextStepSpec, rng: random.Random) -> list[str]:
    vocabulary = [token for token in spec.vocabulary if token]
    if not vocabulary:
        return []
    if spec.split is None:
        # Whole texts are the tokens (StringLookup categories, or split=None): each, and variants of some.
        picked = vocabulary[:200] + rng.sample(vocabulary, min(50, len(vocabulary)))
        return picked + [token.upper() for token in picked[:20]] + [f" {token}" for token in picked[:10]]
    joiner = "" if spec.split == "character" else " "
    frequent = vocabulary[: min(len(vocabulary), 300)]
    texts = []
    for _ in range(60):
        words = [_decorate(rng.choice(frequent), rng) for _ in range(rng.randint(1, 12))]
        texts.append(joiner.join(words) if joiner == "" else _join_with_whitespace(words, rng))
    long_length = max(10 * (spec.output_sequence_length or 0), 400)
    texts.append(_join_with_whitespace([rng.choice(vocabulary) for _ in range(long_length)], rng))
    texts.append(" ".join(rng.choice(frequent) for _ in range(2000))[:2000])
    return texts


def _decorate(token: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.15:
        return token.upper()
    if roll < 0.3:
        return token.capitalize()
    if roll < 0.4:
        return token + rng.choice([",", ".", "!", "?", ";", ":", "'s", "\u00a0"])
    if roll < 0.45:
        return "(" + token + ")"
    return token


def _join_with_whitespace(words: list[str], rng: random.Random) -> str:
    separators = [" "] * 8 + ["  ", "\t", "\n", " \r\n "]
    return "".join(word + rng.choice(separators) for word in words).rstrip(" ")
