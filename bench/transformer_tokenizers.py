"""KerasHub text classifiers: what the serve-time tokenizer step costs per text, against the alternatives.

For each family, µs per text (CPU time of this process, median of interleaved rounds) for:
- `serve step`: service/contract/text (the chosen implementation, exact);
- `keras-hub eager`: KerasHub's own Python path (what `preprocessor(texts)` runs outside tf.data; not exact);
- `keras-hub tf.data`: KerasHub's TensorFlow path (what fit and predict run; the reference);
- `hf stock`: HF tokenizers' closest stock pipeline (BertNormalizer + BertPreTokenizer + WordPiece, or ByteLevel BPE),
  which does not give KerasHub's ids (kept as the native-speed yardstick);
- `sentencepiece`: the sentencepiece library (the chosen implementation for ALBERT, exact).
Texts: realistic sentences of 5 to 60 words drawn from a fixed word list with accents, CJK and emoji, 1/5 of the
words made unique (so the per-word caches are not all hits). Run: `python -m bench.transformer_tokenizers`.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WORDS = tuple(
    "the service answers every request with a probability for each label model exported ONNX runs without "  # noqa: SIM905
    "TensorFlow tokenizers split text into words pieces Straße İstanbul café naïve ﬁne 日本語 中文 🤖 don't it's "
    "thresholds calibrated held-out data publishing quick brown fox jumps over lazy dog 2026 3.14 #tag @user".split()
)


def sample_texts(count: int, seed: int = 0, words_per_text: tuple[int, int] = (5, 60)) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for index in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(*words_per_text))]
        words = [
            word + str(index * 100 + position) if rng.random() < 0.2 else word for position, word in enumerate(words)
        ]
        texts.append(" ".join(words))
    return texts


def cpu_us_per_text(run: Callable[[list[str]], object], texts: list[str]) -> float:
    start = time.process_time()
    run(texts)
    return (time.process_time() - start) / len(texts) * 1e6


def measure(candidates: dict[str, Callable[[], Callable[[list[str]], object]]], rounds: int = 5) -> dict[str, float]:
    """Each candidate is built fresh per round (cold caches) and fed new texts; rounds interleave candidates."""
    timings: dict[str, list[float]] = {name: [] for name in candidates}
    for round_index in range(rounds):
        texts = sample_texts(400, seed=round_index)
        for name, make in candidates.items():
            timings[name].append(cpu_us_per_text(make(), texts))
    return {name: statistics.median(values) for name, values in timings.items()}


def family_candidates(family: str) -> dict[str, Callable[[], Callable[[list[str]], object]]]:
    import tensorflow as tf

    from model_export.demos.kerashub_tasks import preprocessor
    from model_export.text.kerashub_preprocessor import preprocessor_spec
    from service.contract.text.transformer_step import TransformerTextStep

    keras_preprocessor = preprocessor(family, sequence_length=128)
    tokenizer = keras_preprocessor.tokenizer
    feeds = {"token_ids": "token_ids", "padding_mask": "padding_mask"}
    spec = preprocessor_spec(keras_preprocessor, feeds, tokenizer.vocabulary_size())

    def serve_step() -> Callable[[list[str]], object]:
        step = TransformerTextStep(spec)
        return lambda texts: step.encode(texts, pad_to_longest=True)

    def tf_data() -> Callable[[list[str]], object]:
        return lambda texts: list(tf.data.Dataset.from_tensor_slices(texts).batch(len(texts)).map(keras_preprocessor))

    candidates = {"serve step": serve_step, "keras-hub eager": lambda: keras_preprocessor, "keras-hub tf.data": tf_data}
    if family == "bert":
        candidates["hf stock"] = lambda: hf_wordpiece(list(tokenizer.get_vocabulary()))
    if family == "roberta":
        candidates["hf stock"] = lambda: hf_byte_level(tokenizer.vocabulary, tokenizer.merges)
    if family == "albert":
        import sentencepiece

        processor = sentencepiece.SentencePieceProcessor(model_proto=tokenizer.proto)
        candidates["sentencepiece"] = lambda: processor.encode
    return candidates


def hf_wordpiece(vocabulary: list[str]) -> Callable[[list[str]], object]:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    hf = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocabulary)}, unk_token="[UNK]"))
    hf.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=False)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return lambda texts: hf.encode_batch(texts)


def hf_byte_level(vocabulary: dict[str, int], merges: list[str]) -> Callable[[list[str]], object]:
    from tokenizers import Tokenizer, models, pre_tokenizers

    hf = Tokenizer(models.BPE(vocabulary, [tuple(rule.split(" ")) for rule in merges if "#version" not in rule]))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return lambda texts: hf.encode_batch(texts)


def main() -> None:
    print("| family | implementation | CPU µs per text |\n|---|---|---|")
    for family in ("bert", "roberta", "albert"):
        for name, value in measure(family_candidates(family)).items():
            print(f"| {family} | {name} | {value:.0f} |")


if __name__ == "__main__":
    main()
