"""describe_model(): what an exported model takes, returns and records (onnx only, no TensorFlow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from model_export.errors import ExportError
from model_export.metadata import read_metadata
from service.contract.metadata import (
    CALIBRATION,
    INPUT_ALIASES,
    OPTIMIZATION,
    REFERENCE_RATES,
    TEXT_TRANSFORMER,
    provenance,
)
from service.contract.metadata import TEXT_STEPS as TEXT_METADATA_KEY
from service.contract.text.spec import parse_specs
from service.contract.text.transformer_spec import parse_spec

_TYPE_NAMES = {v: k.lower() for k, v in onnx.TensorProto.DataType.items()}


def describe_model(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    metadata = read_metadata(path)  # ExportError for files that are not exporter-made
    model = onnx.load(str(path), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    calibration = metadata.props.get(CALIBRATION)
    reference_rates = metadata.props.get(REFERENCE_RATES)
    optimization = metadata.props.get(OPTIMIZATION)
    return {
        "path": str(path),
        "inputs": [_tensor(v) for v in model.graph.input if v.name not in initializers],
        "outputs": [_tensor(v) for v in model.graph.output],
        "labels": metadata.labels,
        "thresholds": metadata.thresholds,
        "thresholds_note": metadata.note,
        "opset": next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "provenance": provenance(metadata.props),
        "calibration": json.loads(calibration) if calibration else None,
        "reference_rates": json.loads(reference_rates) if reference_rates else None,
        "optimization": json.loads(optimization) if optimization else None,
        "text_inputs": _text_inputs(metadata.props, path),
        "input_aliases": _input_aliases(metadata.props, path),
        "tokenizer": _tokenizer(metadata.props, path),
    }


def _tokenizer(props: dict[str, str], path: Path) -> dict[str, Any] | None:
    """A transformer's tokenizer step, without its vocabulary."""
    if TEXT_TRANSFORMER not in props:
        return None
    try:
        spec = parse_spec(props[TEXT_TRANSFORMER])
    except ValueError as exc:
        raise ExportError(f"{path}: {exc}") from None
    return {
        "input": spec.input,
        "tokenizer": spec.tokenizer,
        "keras_tokenizer": spec.keras_tokenizer,
        "lowercase": spec.lowercase,
        "strip_accents": spec.strip_accents,
        "sequence_length": spec.sequence_length,
        "vocabulary_size": spec.vocabulary_size,
        "feeds": list(spec.onnx_inputs),
    }


def _input_aliases(props: dict[str, str], path: Path) -> dict[str, str]:
    try:
        return json.loads(props[INPUT_ALIASES]) if INPUT_ALIASES in props else {}
    except ValueError:
        raise ExportError(f"{path}: metadata '{INPUT_ALIASES}' is not valid JSON") from None


def _text_inputs(props: dict[str, str], path: Path) -> list[dict[str, Any]]:
    """The text steps, without their vocabularies (thousands of tokens)."""
    if TEXT_METADATA_KEY not in props:
        return []
    try:
        specs = parse_specs(props[TEXT_METADATA_KEY])
    except ValueError as exc:
        raise ExportError(f"{path}: {exc}") from None
    return [
        {
            "input": spec.input,
            "feeds": spec.feeds,
            "layer": spec.layer,
            "standardize": spec.standardize,
            "split": spec.split,
            "ngrams": list(spec.ngrams) if spec.ngrams else None,
            "output_mode": spec.output_mode,
            "output_sequence_length": spec.output_sequence_length,
            "vocabulary_size": len(spec.vocabulary),
            "variable_length": spec.variable_length,
            "needs_token": spec.needs_token,
            "needs_known_token": spec.needs_known_token,
        }
        for spec in specs
    ]


def _tensor(value: onnx.ValueInfoProto) -> dict[str, Any]:
    tensor = value.type.tensor_type
    shape = [d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in tensor.shape.dim]
    return {"name": value.name, "dtype": _TYPE_NAMES.get(tensor.elem_type, str(tensor.elem_type)), "shape": shape}


def format_description(info: dict[str, Any]) -> str:
    def tensors(items: list[dict[str, Any]]) -> list[str]:
        return [f"  {t['name']:<16} {t['dtype']:<8} [{', '.join(str(d) for d in t['shape'])}]" for t in items]

    width = max(len(label) for label in info["labels"])
    lines = [f"model       {info['path']}", "inputs", *tensors(info["inputs"]), "outputs", *tensors(info["outputs"])]
    for text in info["text_inputs"]:
        length = text["output_sequence_length"] or ("each text's own" if text["variable_length"] else None)
        lines.append(
            f"text input  {text['input']} -> {text['layer']} -> {text['feeds']}: standardize {text['standardize']}, "
            f"split {text['split']}, ngrams {text['ngrams']}, {text['output_mode']}"
            + (f" (length {length})" if length else "")
            + f", {text['vocabulary_size']} tokens"
            + (", no token: 400" if text["needs_token"] else "")
            + (", no known word: 400" if text["needs_known_token"] else "")
        )
    for alias, name in info["input_aliases"].items():
        lines.append(f"alias       {alias} -> {name} (native API)")
    tokenizer = info.get("tokenizer")
    if tokenizer:
        options = "" if tokenizer["lowercase"] is None else f", lowercase {tokenizer['lowercase']}"
        options += "" if tokenizer["strip_accents"] is None else f", strip_accents {tokenizer['strip_accents']}"
        lines.append(
            f"text input  {tokenizer['input']} -> {tokenizer['keras_tokenizer']} ({tokenizer['tokenizer']}{options}), "
            f"sequence_length {tokenizer['sequence_length']}, {tokenizer['vocabulary_size']} token ids -> "
            + ", ".join(tokenizer["feeds"])
        )
    lines.append(f"labels ({len(info['labels'])}) and thresholds (positive when probability >= threshold)")
    if info["thresholds_note"]:
        lines.append(f"  ({info['thresholds_note']})")
    lines += [f"  {label:<{width}}  {t:g}" for label, t in zip(info["labels"], info["thresholds"], strict=True)]
    lines.append(f"opset       {info['opset']}   producer {info['producer']}")
    lines.append("provenance")
    lines += [f"  {key:<20} {value}" for key, value in info["provenance"].items()]
    calibration = info["calibration"]
    if calibration:
        lines.append(
            f"calibration {calibration.get('method')} on {calibration.get('data_file')} "
            f"({calibration.get('rows')} rows, sha256 {str(calibration.get('data_sha256'))[:12]}...) "
            f"at {calibration.get('date')}"
        )
    else:
        lines.append("calibration none (thresholds as given at export)")
    rates = info["reference_rates"]
    if rates:
        shares = ", ".join(f"{label} {rate:.1%}" for label, rate in rates.get("positive_rates", {}).items())
        lines.append(f"reference   positive rates on {rates.get('data_file')} ({rates.get('rows')} rows): {shares}")
    optimization = info.get("optimization")
    if optimization:
        speedups = ", ".join(f"{s}x at batch {b}" for b, s in optimization.get("speedup", {}).items())
        worst = max((entry["f1_drop"] for entry in optimization.get("labels", {}).values()), default=0.0)
        deviation = optimization.get("deviation", {})
        lines.append(
            f"optimization {optimization.get('variant')} ({optimization.get('candidate')}) from "
            f"{optimization.get('source_model')}: {speedups}; worst F1 drop {worst:.3f}, probabilities max abs "
            f"deviation {deviation.get('max_abs')}, multi-hot changed on {deviation.get('changed_rows')} of "
            f"{deviation.get('rows')} rows"
        )
    return "\n".join(lines)
