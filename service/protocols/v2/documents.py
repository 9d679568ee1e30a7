"""What the Open Inference Protocol v2 says about a model, as plain documents that REST sends as JSON and gRPC turns
into its messages: the metadata, Triton's model configuration and Triton's statistics, and the output tensors.

Shapes follow Triton's answers (`model_config.proto` and `grpc_service.proto` field names, JSON numbers for int64),
so `tritonclient`'s `get_model_metadata`, `get_model_config` and `get_inference_statistics` read them over either
protocol.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...contract.metadata import OUTPUT_LOGITS, OUTPUT_PROBABILITIES
from ...core.statistics import Duration, VersionStatistics
from ...core.types import BatchingPolicy, InferenceResult, InputSpec, ModelHandle
from ..json_body import dump_json
from .codec import datatype_of

OUTPUT_PREDICTIONS = "predictions"
OUTPUTS = [OUTPUT_PROBABILITIES, OUTPUT_LOGITS, OUTPUT_PREDICTIONS]
OUTPUT_DATATYPES = {OUTPUT_PROBABILITIES: "FP32", OUTPUT_LOGITS: "FP32", OUTPUT_PREDICTIONS: "BOOL"}
PLATFORM = "onnxruntime_onnx"
# Triton's extension names, beyond the core protocol, served over REST and gRPC alike.
MODEL_EXTENSIONS = ["model_repository", "model_configuration", "statistics"]


def output_tensor(result: InferenceResult, name: str) -> np.ndarray:
    """One of OUTPUTS, worked out only when asked for (the predictions: the multi-hot rows as BOOL)."""
    if name == OUTPUT_PROBABILITIES:
        return result.probabilities
    if name == OUTPUT_LOGITS:
        return result.logits
    return result.multi_hot.view(np.bool_)


def model_metadata(model: ModelHandle) -> dict[str, Any]:
    n_labels = len(model.labels)
    return {
        "name": model.name,
        "versions": [str(model.version)],
        "platform": PLATFORM,
        "inputs": [
            {"name": s.name, "datatype": datatype_of(s.dtype), "shape": [-1 if d is None else d for d in s.shape]}
            for s in model.inputs
        ],
        "outputs": [{"name": name, "datatype": OUTPUT_DATATYPES[name], "shape": [-1, n_labels]} for name in OUTPUTS],
        # v2 parameter values are scalars: the lists travel as JSON text, as in the ONNX metadata_props.
        "parameters": {"labels": json_text(model.labels), "thresholds": json_text(model.thresholds)},
    }


def model_config(model: ModelHandle, batching: BatchingPolicy) -> dict[str, Any]:
    """Triton's ModelConfig of a served version: its tensors, batch limit and dynamic batching, as they really are.

    A model whose inputs all have a variable first dimension batches (max_batch_size > 0, dims without the batch
    dimension, as Triton writes them); one with a fixed first dimension takes its shape as it is (max_batch_size 0).
    """
    batches = all(spec.shape and spec.shape[0] is None for spec in model.inputs)
    skip = 1 if batches else 0
    n_labels = len(model.labels)
    output_dims = [n_labels] if batches else [model.inputs[0].shape[0] or -1, n_labels]
    return {
        "name": model.name,
        "platform": PLATFORM,
        "backend": "onnxruntime",
        "version_policy": {"latest": {"num_versions": 1}},  # the newest version that loads is served
        "max_batch_size": batching.max_batch_size if batches else 0,
        "input": [
            {
                "name": spec.name,
                "data_type": "TYPE_STRING" if spec.is_text else f"TYPE_{datatype_of(spec.dtype)}",
                "format": "FORMAT_NONE",
                "dims": _config_dims(spec, skip),
            }
            for spec in model.inputs
        ],
        "output": [
            {"name": name, "data_type": f"TYPE_{OUTPUT_DATATYPES[name]}", "dims": output_dims} for name in OUTPUTS
        ],
        "dynamic_batching": {"max_queue_delay_microseconds": round(batching.max_delay_ms * 1000)},
        # One ONNX Runtime session per worker process, on the CPU.
        "instance_group": [{"name": model.name, "kind": "KIND_CPU", "count": 1}],
        "default_model_filename": model.path.name,
        "parameters": {
            "labels": {"string_value": json_text(model.labels)},
            "thresholds": {"string_value": json_text(model.thresholds)},
        },
    }


def _config_dims(spec: InputSpec, skip: int) -> list[int]:
    # One text per row. Triton writes a batched input's dims without the batch dimension and never empty: a text
    # input is [1] there, whether the model's rows are [] or [1] (both shapes are taken, [rows] and [rows, 1]).
    if spec.is_text:
        return [1]
    return [-1 if d is None else d for d in spec.shape[skip:]]


def model_statistics(counters: VersionStatistics) -> dict[str, Any]:
    """Triton's ModelStatistics. Input and output preparation are not timed apart (they are inside `success`),
    and there is no response cache: those durations stay zero."""
    return {
        "name": counters.name,
        "version": str(counters.version),
        "last_inference": counters.last_inference_ms,
        "inference_count": counters.inference_count,
        "execution_count": counters.execution_count,
        "inference_stats": {
            "success": _duration(counters.success),
            "fail": _duration(counters.fail),
            "queue": _duration(counters.queue),
            "compute_input": _duration(Duration()),
            "compute_infer": _duration(counters.compute_infer),
            "compute_output": _duration(Duration()),
            "cache_hit": _duration(Duration()),
            "cache_miss": _duration(Duration()),
        },
        "response_stats": {},
        "batch_stats": [
            {
                "batch_size": size,
                "compute_input": _duration(Duration()),
                "compute_infer": _duration(duration),
                "compute_output": _duration(Duration()),
            }
            for size, duration in sorted(counters.batches.items())
        ],
        "memory_usage": [],
    }


def _duration(duration: Duration) -> dict[str, int]:
    return {"count": duration.count, "ns": duration.ns}


def json_text(value: object) -> str:
    return dump_json(value).decode()
