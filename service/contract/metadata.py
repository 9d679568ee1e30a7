"""The ONNX metadata keys of an exported model, and their fixed values. Every reader and writer names them from here.

Each entry is a string; structured ones hold JSON. Written by the exporter (`model_export`), read by the service.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Graph outputs, in this order: per-label probabilities (after the appended Sigmoid) and the logits before it.
OUTPUT_PROBABILITIES = "probabilities"
OUTPUT_LOGITS = "logits"
OUTPUTS = (OUTPUT_PROBABILITIES, OUTPUT_LOGITS)

PRODUCER_NAME = "sigmoid-serve.model_export"

LABELS = "labels"  # JSON list of label names, one per output column
THRESHOLDS = "thresholds"  # JSON list of numbers in [0, 1], one per label (labels.py: the rule when absent)
REFERENCE_RATES = "reference_rates"  # JSON object (reference_rates.py)
CALIBRATION = "calibration"  # JSON object: how `calibrate` chose the thresholds, with per-label scores
OPTIMIZATION = "optimization"  # JSON object: int8 / float16 / graph-only, with its per-label proof
TEXT_STEPS = "text_steps"  # JSON object: the text steps between raw strings and the graph's inputs (text/spec.py)
INPUT_ALIASES = "input_aliases"  # JSON object {alias: input name}: other names the native API takes (input_aliases.py)
INPUT_RENAMES = "input_renames"  # JSON object {Keras name: served name}: the exporter's --input-name (provenance)
DROPPED_LABELS = "dropped_labels"  # JSON object {label: its column in the source}: the exporter's --drop-label
# JSON object: a transformer's tokenizer step, raw strings to token ids, segment ids and padding mask
# (text/transformer_spec.py)
TEXT_TRANSFORMER = "text_transformer"

# Provenance written by the exporter (strings).
HEAD = "head"  # one of the HEAD_* values below
LOGITS_EXACT = "logits_exact"  # "true" / "false": whether the `logits` output is the model's exact logits
SOURCE_SHA256 = "source_sha256"
EXPORTED_AT = "exported_at"
EXPORTER_VERSION = "exporter_version"

HEAD_APPENDED_SIGMOID = "appended_sigmoid"
HEAD_LOGITS_RECOVERED = "model_sigmoid_logits_recovered"
HEAD_SIGMOID_ACCEPTED = "model_sigmoid_output_accepted"

# Entries shown as fields of their own (in the service's model metadata and in `inspect`), not among the provenance
# strings. The text steps are not provenance but the inputs' spec (vocabularies of thousands of tokens).
SHOWN_APART = (
    LABELS,
    THRESHOLDS,
    REFERENCE_RATES,
    CALIBRATION,
    OPTIMIZATION,
    TEXT_STEPS,
    INPUT_ALIASES,
    TEXT_TRANSFORMER,
)


def provenance(metadata: Mapping[str, str]) -> dict[str, str]:
    """The metadata entries that are not shown apart, sorted by key."""
    return {key: value for key, value in sorted(metadata.items()) if key not in SHOWN_APART}


def json_object(metadata: Mapping[str, str], key: str) -> dict[str, Any] | None:
    """A JSON-object entry, or None when it is absent or not a JSON object."""
    try:
        entry = json.loads(metadata[key])
    except (KeyError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None
