"""Labels, thresholds and provenance stored in the ONNX `metadata_props`, and reading them back.

The format is the contract's (`service/contract/`): labels and thresholds are read by its one rule, so every exporter
command sees a file as the server does. Only `onnx` is imported here: no TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from model_export.errors import ExportError, reading_problem
from service.contract.errors import InvalidModelFile
from service.contract.labels import dump_labels_and_thresholds, read_labels_and_thresholds
from service.contract.metadata import LOGITS_EXACT, PRODUCER_NAME


@dataclass(frozen=True)
class ModelMetadata:
    labels: list[str]
    thresholds: list[float]
    props: dict[str, str] = field(default_factory=dict)
    note: str | None = None  # the contract's note when the thresholds are the default (the file has none)

    @property
    def logits_exact(self) -> bool:
        return self.props.get(LOGITS_EXACT, "true") == "true"


def build_metadata_props(labels: list[str], thresholds: list[float], provenance: dict[str, Any]) -> dict[str, str]:
    props = dump_labels_and_thresholds(labels, thresholds)
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
        read = read_labels_and_thresholds(props)
    except InvalidModelFile as exc:
        raise ExportError(f"{onnx_path}: {exc}") from None
    return ModelMetadata(labels=read.labels, thresholds=read.thresholds, props=props, note=read.note)
