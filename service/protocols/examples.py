"""Example payloads for the OpenAPI docs, shaped for the demo model `digits` so "Try it out" works in one click.

The rows are real 8x8 images from scikit-learn's digits data set (`load_digits()`, pixel values 0..16), the data
the demo model is trained on. Every protocol module takes its examples from here.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Path

from ..contract.version import VERSION

DEMO_MODEL = "digits"
DEMO_VERSION = 1
DEMO_INPUT = "pixels"
DEMO_LABELS = ["even", "prime", "at_least_5", "closed_loop", "multiple_of_3"]
DEMO_THRESHOLDS = [0.5, 0.5, 0.5, 0.5, 0.5]

# load_digits().data[3]: a handwritten 3 (odd, prime, below 5, open loops, a multiple of 3).
DIGIT_3 = [
    0.0, 0.0, 7.0, 15.0, 13.0, 1.0, 0.0, 0.0,
    0.0, 8.0, 13.0, 6.0, 15.0, 4.0, 0.0, 0.0,
    0.0, 2.0, 1.0, 13.0, 13.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 2.0, 15.0, 11.0, 1.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 1.0, 12.0, 12.0, 1.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 1.0, 10.0, 8.0, 0.0,
    0.0, 0.0, 8.0, 4.0, 5.0, 14.0, 9.0, 0.0,
    0.0, 0.0, 7.0, 13.0, 13.0, 9.0, 0.0, 0.0,
]  # fmt: skip
# load_digits().data[0]: a handwritten 0 (even, not prime, below 5, a closed loop, a multiple of 3).
DIGIT_0 = [
    0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0,
    0.0, 0.0, 13.0, 15.0, 10.0, 15.0, 5.0, 0.0,
    0.0, 3.0, 15.0, 2.0, 0.0, 11.0, 8.0, 0.0,
    0.0, 4.0, 12.0, 0.0, 0.0, 8.0, 8.0, 0.0,
    0.0, 5.0, 8.0, 0.0, 0.0, 9.0, 8.0, 0.0,
    0.0, 4.0, 11.0, 0.0, 1.0, 12.0, 7.0, 0.0,
    0.0, 2.0, 14.0, 5.0, 10.0, 12.0, 0.0, 0.0,
    0.0, 0.0, 6.0, 13.0, 10.0, 0.0, 0.0, 0.0,
]  # fmt: skip

# What the demo model (models/digits/1) answers for the rows above, rounded, for the response examples.
DIGIT_3_PROBABILITIES = [1.01e-06, 0.9999996, 3.0e-07, 1.4e-06, 0.9999975]
DIGIT_0_PROBABILITIES = [1.0, 0.0, 1.5e-07, 1.0, 0.9999996]
DIGIT_3_LOGITS = [-13.782, 14.654, -14.93, -13.492, 12.879]
DEMO_PROVENANCE = {
    "head": "appended_sigmoid",
    "head_detail": "last layer 'logits' is linear: appended an ONNX Sigmoid",
    "logits_exact": "true",
    "source_file": "digits.keras",
    "source_format": "keras",
    "keras_version": "3.15.1",
    "tf2onnx_version": "1.17.0",
    "opset": "17",
    "exported_at": "2026-11-27T03:45:58Z",
    "exporter_version": "0.1.0",
}


def ok_example(example: Any) -> dict[int | str, dict[str, Any]]:
    """A 200 response entry showing `example`: merge it into a route's `responses`."""
    return {200: {"content": {"application/json": {"example": example}}}}


def _demo(value: Any) -> dict[str, dict[str, Any]]:
    return {"demo": {"summary": "the demo model", "value": value}}


# Path parameters prefilled in "Try it out" (use as the parameter's type: `name: ModelName`).
ModelName = Annotated[str, Path(description="A model in the repository.", openapi_examples=_demo(DEMO_MODEL))]
ModelVersion = Annotated[int, Path(description="A version number.", openapi_examples=_demo(DEMO_VERSION))]
NameAndVerb = Annotated[str, Path(description="`{name}:predict`", openapi_examples=_demo(f"{DEMO_MODEL}:predict"))]
VersionAndVerb = Annotated[
    str, Path(description="`{version}:predict`", openapi_examples=_demo(f"{DEMO_VERSION}:predict"))
]
ModelVersionText = Annotated[str, Path(description="A version number.", openapi_examples=_demo(str(DEMO_VERSION)))]


def openapi_examples(**examples: tuple[str, Any]) -> dict[str, dict[str, Any]]:
    """OpenAPI `examples` map, {key: (summary, value)} -> {key: {summary, value}}; Swagger UI preselects the first."""
    return {key: {"summary": summary, "value": value} for key, (summary, value) in examples.items()}


def multi_hot(probabilities: list[float]) -> list[int]:
    return [int(p >= t) for p, t in zip(probabilities, DEMO_THRESHOLDS, strict=True)]


def positive_labels(probabilities: list[float]) -> list[str]:
    return [label for label, hot in zip(DEMO_LABELS, multi_hot(probabilities), strict=True) if hot]


def _v2_pixels(*rows: list[float]) -> dict[str, Any]:
    return {"name": DEMO_INPUT, "shape": [len(rows), 64], "datatype": "FP32", "data": [v for row in rows for v in row]}


# Open Inference Protocol v2 (/v2/models/{name}/infer).
V2_INFER_REQUEST_EXAMPLES = openapi_examples(
    one_digit=("One 8x8 digit image (a 3) as an FP32 tensor [1, 64]", {"inputs": [_v2_pixels(DIGIT_3)]}),
    two_digits=("Two digits (a 3 and a 0): a [2, 64] tensor", {"inputs": [_v2_pixels(DIGIT_3, DIGIT_0)]}),
    probabilities_only=(
        "A 3, asking for the probabilities output only",
        {"inputs": [_v2_pixels(DIGIT_3)], "outputs": [{"name": "probabilities"}]},
    ),
)
V2_INFER_RESPONSE_EXAMPLE = {
    "model_name": DEMO_MODEL,
    "model_version": str(DEMO_VERSION),
    "outputs": [
        {"name": "probabilities", "datatype": "FP32", "shape": [1, 5], "data": DIGIT_3_PROBABILITIES},
        {"name": "logits", "datatype": "FP32", "shape": [1, 5], "data": DIGIT_3_LOGITS},
        {
            "name": "predictions",
            "datatype": "BOOL",
            "shape": [1, 5],
            "data": [bool(h) for h in multi_hot(DIGIT_3_PROBABILITIES)],
        },
    ],
}

# TensorFlow Serving REST (/v1/models/{name}:predict).
TFSERVING_PREDICT_REQUEST_EXAMPLES = openapi_examples(
    row_format=("One digit (a 3), row format", {"instances": [DIGIT_3]}),
    columnar_format=("One digit (a 3), columnar format", {"inputs": {DEMO_INPUT: [DIGIT_3]}}),
)
TFSERVING_PREDICT_RESPONSE_EXAMPLE = {
    "predictions": [
        {
            "probabilities": DIGIT_3_PROBABILITIES,
            "logits": DIGIT_3_LOGITS,
            "multi_hot": multi_hot(DIGIT_3_PROBABILITIES),
        }
    ]
}

V2_SERVER_METADATA_EXAMPLE = {
    "name": "sigmoid-serve",
    "version": VERSION,
    "extensions": ["binary_tensor_data", "model_repository", "model_configuration", "statistics"],
}
V2_HEALTH_EXAMPLES = {"live": {"live": True}, "ready": {"ready": True}}
V2_MODEL_READY_EXAMPLE = {"name": DEMO_MODEL, "ready": True}
V2_MODEL_METADATA_EXAMPLE = {
    "name": DEMO_MODEL,
    "versions": [str(DEMO_VERSION)],
    "platform": "onnxruntime_onnx",
    "inputs": [{"name": DEMO_INPUT, "datatype": "FP32", "shape": [-1, 64]}],
    "outputs": [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 5]},
        {"name": "logits", "datatype": "FP32", "shape": [-1, 5]},
        {"name": "predictions", "datatype": "BOOL", "shape": [-1, 5]},
    ],
    # v2 parameter values are scalars: the lists travel as JSON text.
    "parameters": {"labels": json.dumps(DEMO_LABELS), "thresholds": json.dumps(DEMO_THRESHOLDS)},
}


def _tf_tensor(name: str, dtype: str, dims: list[int]) -> dict[str, Any]:
    shape = {"dim": [{"size": str(d), "name": ""} for d in dims], "unknown_rank": False}
    return {"dtype": dtype, "tensor_shape": shape, "name": name}


TFSERVING_STATUS_EXAMPLE = {
    "model_version_status": [
        {"version": str(DEMO_VERSION), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
}
TFSERVING_METADATA_EXAMPLE = {
    "model_spec": {"name": DEMO_MODEL, "signature_name": "", "version": str(DEMO_VERSION)},
    "metadata": {
        "signature_def": {
            "signature_def": {
                "serving_default": {
                    "inputs": {DEMO_INPUT: _tf_tensor(DEMO_INPUT, "DT_FLOAT", [-1, 64])},
                    "outputs": {
                        "probabilities": _tf_tensor("probabilities", "DT_FLOAT", [-1, 5]),
                        "logits": _tf_tensor("logits", "DT_FLOAT", [-1, 5]),
                        "multi_hot": _tf_tensor("multi_hot", "DT_UINT8", [-1, 5]),
                    },
                    "method_name": "tensorflow/serving/predict",
                }
            }
        }
    },
    "labels": DEMO_LABELS,
    "thresholds": DEMO_THRESHOLDS,
}

# Triton's model repository extension (/v2/repository/...).
V2_REPOSITORY_INDEX_EXAMPLE = [{"name": DEMO_MODEL, "version": str(DEMO_VERSION), "state": "READY", "reason": ""}]
V2_REPOSITORY_INDEX_DOC = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"ready": {"type": "boolean", "description": "List only the models served."}},
                },
                "examples": openapi_examples(
                    everything=("Every model, served or not", {}), ready=("Only the models served", {"ready": True})
                ),
            }
        },
    }
}

# Triton's model configuration and statistics extensions (/v2/models/{name}/config, .../stats), with the defaults.
V2_MODEL_CONFIG_EXAMPLE = {
    "name": DEMO_MODEL,
    "platform": "onnxruntime_onnx",
    "backend": "onnxruntime",
    "version_policy": {"latest": {"num_versions": 1}},
    "max_batch_size": 64,
    "input": [{"name": DEMO_INPUT, "data_type": "TYPE_FP32", "format": "FORMAT_NONE", "dims": [64]}],
    "output": [
        {"name": "probabilities", "data_type": "TYPE_FP32", "dims": [5]},
        {"name": "logits", "data_type": "TYPE_FP32", "dims": [5]},
        {"name": "predictions", "data_type": "TYPE_BOOL", "dims": [5]},
    ],
    "dynamic_batching": {"max_queue_delay_microseconds": 0},
    "instance_group": [{"name": DEMO_MODEL, "kind": "KIND_CPU", "count": 1}],
    "default_model_filename": "model.onnx",
    "parameters": {
        "labels": {"string_value": json.dumps(DEMO_LABELS, separators=(",", ":"))},
        "thresholds": {"string_value": json.dumps(DEMO_THRESHOLDS, separators=(",", ":"))},
    },
}
_NONE = {"count": 0, "ns": 0}
V2_MODEL_STATS_EXAMPLE = {
    "model_stats": [
        {
            "name": DEMO_MODEL,
            "version": str(DEMO_VERSION),
            "last_inference": 1795910000000,
            "inference_count": 12,
            "execution_count": 9,
            "inference_stats": {
                "success": {"count": 10, "ns": 4_210_000},
                "fail": {"count": 1, "ns": 95_000},
                "queue": {"count": 10, "ns": 310_000},
                "compute_input": _NONE,
                "compute_infer": {"count": 10, "ns": 190_000},
                "compute_output": _NONE,
                "cache_hit": _NONE,
                "cache_miss": _NONE,
            },
            "response_stats": {},
            "batch_stats": [
                {"batch_size": 1, "compute_input": _NONE, "compute_infer": {"count": 8, "ns": 120_000},
                 "compute_output": _NONE},
                {"batch_size": 3, "compute_input": _NONE, "compute_infer": {"count": 1, "ns": 24_000},
                 "compute_output": _NONE},
            ],
            "memory_usage": [],
        }
    ]
}  # fmt: skip
