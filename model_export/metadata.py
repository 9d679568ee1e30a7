"""Labels, thresholds and provenance stored in the ONNX `metadata_props`, and reading them back.

Only `onnx` is imported here, so the serving side and tests can read an exported model's
labels without TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from model_export.errors import ExportError, reading_problem

PRODUCER_NAME = "sigmoid-serve.model_export"

# Values of the `head` key.
HEAD_APPENDED_SIGMOID = "appended_sigmoid"
HEAD_LOGITS_RECOVERED = "model_sigmoid_logits_recovered"
HEAD_SIGMOID_ACCEPTED = "model_sigmoid_output_accepted"


@dataclass(frozen=True)
class ModelMetadata:
    labels: list[str]
    thresholds: list[float]
    props: dict[str, str] = field(default_factory=dict)

    @property
    def logits_exact(self) -> bool:
        return self.props.get("logits_exact", "true") == "true"


def build_metadata_props(labels: list[str], thresholds: list[float], provenance: dict[str, Any]) -> dict[str, str]:
    props = {"labels": json.dumps(labels), "thresholds": json.dumps(thresholds)}
    for key, value in provenance.items():
        props[key] = value if isinstance(value, str) else json.dumps(value)
    return props


def apply_metadata(model: onnx.ModelProto, props: dict[str, str], doc_string: str, version: str) -> None:
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, props)
    model.producer_name = PRODUCER_NAME
    model.producer_version = version
    model.doc_string = doc_string


def read_metadata(onnx_path: str | Path) -> ModelMetadata:
    """Labels, thresholds and all metadata props of an exported model."""
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except OSError as exc:
        raise ExportError(f"cannot read {onnx_path}: {reading_problem(exc)}") from None
    except Exception:  # protobuf's DecodeError and others: the bytes are not an ONNX model
        raise ExportError(f"{onnx_path} is not an ONNX model (it does not parse as one)") from None
    props = {p.key: p.value for p in model.metadata_props}
    try:
        labels = json.loads(props["labels"])
        thresholds = [float(t) for t in json.loads(props["thresholds"])]
    except (KeyError, ValueError, TypeError) as exc:
        raise ExportError(
            f"{onnx_path} has no valid 'labels'/'thresholds' metadata; was it written by model_export?"
        ) from exc
    if len(labels) != len(thresholds):
        raise ExportError(f"{onnx_path}: {len(labels)} labels but {len(thresholds)} thresholds in metadata")
    return ModelMetadata(labels=labels, thresholds=thresholds, props=props)
