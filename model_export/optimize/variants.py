"""The candidate models `optimize` builds with ONNX Runtime's own tools: int8, float16, graph-optimized.

Every candidate keeps the source's inputs, its outputs `probabilities` and `logits`, and the head in float32:
the nodes from the last Conv/MatMul/Gemm to the outputs (the logits layer and the appended Sigmoid) are never
quantized or cast, so probabilities keep full resolution where thresholds cut them. Which int8 candidate is
written is decided by measurement (optimize.py), not here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from model_export.errors import ExportError

OUTPUTS = ("probabilities", "logits")
_WEIGHT_OPS = {"Conv", "MatMul", "Gemm"}
_CALIBRATION_CHUNK = 64

VARIANT_INT8 = "int8"
VARIANT_FP16 = "float16"
VARIANT_GRAPH = "graph-only"


@dataclass(frozen=True)
class Candidate:
    name: str  # e.g. "int8 static QDQ"
    variant: str  # VARIANT_*
    path: Path
    settings: dict[str, Any] = field(default_factory=dict)  # what was done, recorded in the metadata
    must_be_faster: bool = False  # only ever written when measured faster than float32, whatever the options


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes between the last weight layer and the outputs, that layer included."""
    producer = {out: node for node in model.graph.node for out in node.output}
    found: dict[str, None] = {}
    pending = [name for name in OUTPUTS if name in producer]
    while pending:
        node = producer.get(pending.pop())
        if node is None or node.name in found:
            continue
        found[node.name] = None
        if node.op_type not in _WEIGHT_OPS:
            pending.extend(node.input)
    return list(found)


class _Rows:
    """ONNX Runtime's CalibrationDataReader over in-memory rows, in chunks."""

    def __init__(self, inputs: dict[str, np.ndarray]) -> None:
        self.inputs = inputs
        self.rows = next(iter(inputs.values())).shape[0]

    def chunks(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, self.rows, _CALIBRATION_CHUNK):
            yield {name: array[start : start + _CALIBRATION_CHUNK] for name, array in self.inputs.items()}

    def reader(self):  # noqa: ANN201 - CalibrationDataReader is imported lazily with onnxruntime.quantization
        from onnxruntime.quantization import CalibrationDataReader

        chunks = self.chunks()

        class Reader(CalibrationDataReader):
            def get_next(self) -> dict[str, np.ndarray] | None:
                return next(chunks, None)

        return Reader()


def int8_candidates(source: Path, calibration: dict[str, np.ndarray], workdir: Path) -> list[Candidate]:
    """Static (QDQ and QOperator, per-tensor; QDQ per-channel) and dynamic int8 models of `source`.

    Candidates that quantize nothing are dropped. Weights are quantized to 7 bits (reduce_range): without VNNI,
    x86's uint8 x int8 multiply-add saturates at 8 bits; measured on an AVX2 CPU, full-range weights moved
    probabilities by up to 0.7. A model quantized on a VNNI machine may be served on one without, so the portable
    setting is used everywhere.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with _quiet_root_logger():  # ORT's quantizer warns through the root logger
        # Shape inference and ORT's basic fusions (e.g. MatMul+Add -> Gemm), as ORT recommends before quantizing.
        fused = workdir / "prepared.onnx"
        quant_pre_process(str(source), str(fused), skip_symbolic_shape=True)
        # Dynamic quantization has no integer Gemm: it gets the graph unfused (shape inference only).
        unfused = workdir / "prepared_unfused.onnx"
        quant_pre_process(str(source), str(unfused), skip_symbolic_shape=True, skip_optimization=True)
        candidates = [*_static(fused, calibration, workdir), *_dynamic(unfused, workdir)]
    if not candidates:
        raise ExportError(
            f"{source.name} has no convolution or matrix product outside its output layer: int8 has nothing to "
            "make cheaper"
        )
    return candidates


def _static(prepared: Path, calibration: dict[str, np.ndarray], workdir: Path) -> list[Candidate]:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    excluded = head_nodes(onnx.load(str(prepared)))
    rows = _Rows(calibration)
    cache = workdir / "calibration_ranges.json"  # one calibration pass, shared by every static candidate
    candidates = []
    for fmt, per_channel in ((QuantFormat.QDQ, False), (QuantFormat.QOperator, False), (QuantFormat.QDQ, True)):
        name = f"int8 static {fmt.name}" + (" per-channel" if per_channel else "")
        path = workdir / f"{name.replace(' ', '_')}.onnx"
        quantize_static(
            str(prepared),
            str(path),
            rows.reader() if not cache.exists() else None,
            quant_format=fmt,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibration_cache_path=str(cache),
            nodes_to_exclude=excluded,
            reduce_range=True,
        )
        settings = {
            "quantization": "static",
            "format": fmt.name,
            "per_channel": per_channel,
            "activations": "uint8",
            "weights": "int8 (7-bit range)",
            "calibration": f"MinMax on {rows.rows} rows",
            "float_nodes": excluded,
        }
        candidates += _if_quantized(Candidate(name, VARIANT_INT8, path, settings))
    return candidates


def _dynamic(prepared: Path, workdir: Path) -> list[Candidate]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(prepared))
    excluded = head_nodes(model)
    has_conv = any(node.op_type == "Conv" for node in model.graph.node)
    candidates = []
    for op_types in (["MatMul"], ["MatMul", "Conv"]) if has_conv else (["MatMul"],):
        name = "int8 dynamic" + (" with Conv" if "Conv" in op_types else "")
        path = workdir / f"{name.replace(' ', '_')}.onnx"
        quantize_dynamic(
            str(prepared),
            str(path),
            op_types_to_quantize=op_types,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            reduce_range=True,
        )
        settings = {"quantization": "dynamic", "ops": op_types, "weights": "int8 (7-bit range)"}
        settings["float_nodes"] = excluded
        # Dynamic int8 convolutions (ConvInteger) are usually far slower: never written unless measured faster.
        candidates += _if_quantized(Candidate(name, VARIANT_INT8, path, settings, must_be_faster="Conv" in op_types))
    return candidates


def _if_quantized(candidate: Candidate) -> list[Candidate]:
    """[candidate], or [] when it quantized nothing (e.g. the only matrix product is the float head)."""
    return [candidate] if _quantized_ops(onnx.load(str(candidate.path))) else []


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantized_ops(model: onnx.ModelProto) -> int:
    """Nodes that compute in integers (QLinear*, *Integer) or feed them (QuantizeLinear)."""
    return sum(
        node.op_type.startswith("QLinear") or node.op_type.endswith("Integer") or node.op_type == "QuantizeLinear"
        for node in model.graph.node
    )


def float16_candidate(source: Path, workdir: Path) -> Candidate:
    """Weights and activations in float16, inputs and outputs float32 (Cast nodes at the edges), head float32."""
    # ORT ships onnxconverter-common's float16 converter; using ORT's copy adds no dependency.
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(source))
    excluded = head_nodes(model)
    converted = convert_float_to_float16(model, keep_io_types=True, node_block_list=excluded)
    path = workdir / "float16.onnx"
    onnx.save(converted, str(path))
    return Candidate("float16", VARIANT_FP16, path, {"float_nodes": excluded, "inputs_outputs": "float32"})


def graph_candidate(source: Path, workdir: Path) -> Candidate:
    """ONNX Runtime's graph optimizations applied offline and saved, precision unchanged.

    Extended level, not "all": "all" adds layout changes for the CPU it runs on, which ORT advises against saving.
    """
    import onnxruntime as ort

    path = workdir / "graph_optimized.onnx"
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(path)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    return Candidate("graph-only", VARIANT_GRAPH, path, {"graph_optimization_level": "extended"})
