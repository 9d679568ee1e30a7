"""OpenAPI request bodies of the v2 infer and TF Serving predict routes. Documentation only: the routes parse
the body themselves (binary tensors cannot go through a JSON schema validator anyway)."""

from typing import Any

from .examples import TFSERVING_PREDICT_REQUEST_EXAMPLES, V2_INFER_REQUEST_EXAMPLES

_THRESHOLD = {
    "description": "One threshold for every label, or {label: threshold}; default: the model's own.",
    "oneOf": [{"type": "number"}, {"type": "object", "additionalProperties": {"type": "number"}}],
}
_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "enum": ["FP32", "FP64", "INT32", "INT64"]},
        "data": {"type": "array", "description": "Flat (row-major) or nested; prod(shape) values."},
        "parameters": {
            "type": "object",
            "properties": {"binary_data_size": {"type": "integer", "description": "Bytes after the JSON header."}},
        },
    },
}
_V2_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string", "description": "Echoed in the response."},
        "inputs": {"type": "array", "items": _TENSOR, "minItems": 1},
        "outputs": {
            "type": "array",
            "description": "Which of probabilities, logits, predictions to return (default: all).",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "enum": ["probabilities", "logits", "predictions"]},
                    "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}},
                },
            },
        },
        "parameters": {
            "type": "object",
            "properties": {
                "threshold": _THRESHOLD,
                "binary_data_output": {"type": "boolean"},
            },
        },
    },
}
V2_INFER_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "JSON, or JSON followed by binary tensors (Inference-Header-Content-Length gives the JSON "
        "length; Triton's binary_tensor_data extension).",
        "content": {
            "application/json": {
                "schema": _V2_REQUEST,
                "examples": V2_INFER_REQUEST_EXAMPLES,
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
TF_PREDICT_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "instances": {"type": "array", "description": "Row format: one entry per example."},
                        "inputs": {"description": "Columnar format: {input: batch}, or a one-input model's batch."},
                        "signature_name": {"type": "string", "enum": ["serving_default"]},
                        "threshold": _THRESHOLD,
                    },
                },
                "examples": TFSERVING_PREDICT_REQUEST_EXAMPLES,
            }
        },
    }
}
