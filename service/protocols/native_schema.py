"""OpenAPI description of the native API. Used for documentation only: the hot path parses with orjson."""

from typing import Any

from pydantic import BaseModel, Field

Row = list[Any]


class PredictRequest(BaseModel):
    instances: list[Row | dict[str, Any]] = Field(
        description="One entry per example: a (nested) list of numbers for a one-input model, or an object "
        "{input_name: value} for a model with several inputs.",
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
    dtype: str
    shape: list[int] = Field(description="-1 marks a dynamic dimension (the batch).")


class ModelInfo(BaseModel):
    name: str
    ready: bool
    version: int | None = Field(description="The version being served.")
    versions: list[int] = Field(description="Versions found in the repository.")
    labels: list[str]
    thresholds: list[float]
    inputs: list[InputInfo]
    outputs: list[str]
    provenance: dict[str, str] = Field(description="Export metadata: source, versions, export time.")
    error: str | None = Field(None, description="Why the model (or its newest version) is not served.")
