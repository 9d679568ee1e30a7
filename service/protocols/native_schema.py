"""OpenAPI description of the native API. Used for documentation only: the hot path parses with orjson."""

from typing import Any, Literal

from pydantic import BaseModel, Field

from .examples import (
    DEMO_INPUT,
    DEMO_LABELS,
    DEMO_MODEL,
    DEMO_PROVENANCE,
    DEMO_THRESHOLDS,
    DEMO_VERSION,
    DIGIT_0,
    DIGIT_3,
    DIGIT_3_PROBABILITIES,
    multi_hot,
    openapi_examples,
    positive_labels,
)

Row = list[Any]


class PredictRequest(BaseModel):
    instances: list[Row | dict[str, Any]] = Field(
        description="One entry per example: a (nested) list of numbers (or a text) for a one-input model, or an "
        "object {input_name: value}; an input's aliases (see the model's metadata) may stand for its name.",
        min_length=1,
    )
    threshold: float | dict[str, float] | None = Field(
        None, description="One threshold for every label, or {label: threshold}; default: the model's own."
    )


class Prediction(BaseModel):
    probabilities: list[float] = Field(description="Sigmoid of the logits, in label order.")
    multi_hot: list[int] = Field(description="1 where probability >= threshold, in label order.")
    labels: list[str] = Field(description="Names of the positive labels.")


class PredictResponse(BaseModel):
    model_name: str
    model_version: int
    labels: list[str] = Field(description="All label names, in the order of the lists above.")
    predictions: list[Prediction]


class InputInfo(BaseModel):
    name: str
    dtype: str = Field(description="A numpy dtype, or 'text' for an input that takes one string per row.")
    shape: list[int] = Field(description="-1 marks a dynamic dimension (the batch).")
    aliases: list[str] | None = Field(
        None,
        description="Other names /predict takes for this input: 'text' for a model whose only input is text and is "
        "named otherwise.",
    )
    needs_token: bool | None = Field(
        None, description="Text inputs: a text with no token after standardization is refused (400)."
    )
    needs_known_token: bool | None = Field(
        None,
        description="Text inputs: a text with no word of the model's vocabulary is refused (400) instead of answered "
        "from the model's biases (exported with --refuse-empty-texts).",
    )


class ModelInfo(BaseModel):
    name: str
    ready: bool = Field(description="Served by this server and not stopping: requests for it are answered.")
    state: Literal["loading", "ready", "draining", "failed", "unloaded"] = Field(
        description="loading (not served yet), ready, draining (the server is stopping), failed (no version loads, "
        "or none is on disk: see error), unloaded (through the repository API)."
    )
    version: int | None = Field(description="The version being served.")
    versions: list[int] = Field(description="Versions found in the repository.")
    labels: list[str]
    thresholds: list[float]
    inputs: list[InputInfo]
    outputs: list[str]
    provenance: dict[str, str] = Field(description="Export metadata: source, versions, export time.")
    error: str | None = Field(None, description="Why the model (or its newest version) is not served.")
    ignored: list[str] = Field(
        default_factory=list,
        description="Other files and folders in the model's folder, each with what was expected instead.",
    )
    reference_rates: dict[str, float] | None = Field(
        None,
        description="Each label's positive rate on validation data at the model's thresholds (recorded by "
        "calibrate, or the exporter given labelled sample data): what the live rate is compared with.",
    )
    calibration: dict[str, Any] | None = Field(
        None,
        description="How the thresholds were chosen: method, data file and sha256, scores (model_export calibrate).",
    )
    optimization: dict[str, Any] | None = Field(
        None,
        description="For an int8, float16 or graph-optimized variant (model_export optimize): what was done, the "
        "per-label precision/recall/F1 before and after, the probabilities' deviation and the measured speed-up.",
    )


PREDICT_REQUEST_EXAMPLES = openapi_examples(
    one_digit=("One 8x8 digit image (64 pixels, 0..16): a 3", {"instances": [DIGIT_3]}),
    two_digits=("A batch of two digits (a 3 and a 0)", {"instances": [DIGIT_3, DIGIT_0]}),
    threshold=("A 3 with one threshold for every label", {"instances": [DIGIT_3], "threshold": 0.9}),
    per_label_threshold=(
        "A 3 with a threshold for one label (the others keep the model's own)",
        {"instances": [DIGIT_3], "threshold": {"prime": 0.99}},
    ),
)
PREDICT_RESPONSE_EXAMPLE = {
    "model_name": DEMO_MODEL,
    "model_version": DEMO_VERSION,
    "labels": DEMO_LABELS,
    "predictions": [
        {
            "probabilities": DIGIT_3_PROBABILITIES,
            "multi_hot": multi_hot(DIGIT_3_PROBABILITIES),
            "labels": positive_labels(DIGIT_3_PROBABILITIES),
        }
    ],
}
MODEL_INFO_EXAMPLE = {
    "name": DEMO_MODEL,
    "ready": True,
    "state": "ready",
    "version": DEMO_VERSION,
    "versions": [DEMO_VERSION],
    "labels": DEMO_LABELS,
    "thresholds": DEMO_THRESHOLDS,
    "inputs": [{"name": DEMO_INPUT, "dtype": "float32", "shape": [-1, 64]}],
    "outputs": ["probabilities", "logits"],
    "provenance": DEMO_PROVENANCE,
    "error": None,
    "ignored": [],
    "reference_rates": None,
    "calibration": None,
    "optimization": None,
}
READY_EXAMPLE = {"status": "ready", "models": {DEMO_MODEL: DEMO_VERSION}, "problems": []}
