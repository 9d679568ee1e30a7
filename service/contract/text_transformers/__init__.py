"""Serve-time preprocessing of KerasHub text classifiers: raw strings -> token_ids, segment_ids, padding_mask.

No TensorFlow and no Keras: stdlib, numpy and sentencepiece only. `docs.md` beside this file explains the choices.
"""

from service.contract.text_transformers.spec import (
    METADATA_KEY,
    TransformerTextSpec,
    dump_spec,
    parse_spec,
    spec_from_json,
)
from service.contract.text_transformers.step import TransformerTextStep

__all__ = ["METADATA_KEY", "TransformerTextSpec", "TransformerTextStep", "dump_spec", "parse_spec", "spec_from_json"]
