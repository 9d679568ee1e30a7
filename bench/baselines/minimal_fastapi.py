"""Baseline: the minimal FastAPI + ONNX Runtime service most people write second.

A pydantic request model (float lists validated by pydantic), stdlib JSON through FastAPI's defaults
(jsonable_encoder), one uvicorn worker with its default access log, `session.run` inline in the endpoint.
`MODEL_PATH=... python -m uvicorn bench.baselines.minimal_fastapi:app --port 8001`
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI
from pydantic import BaseModel

session = ort.InferenceSession(os.environ["MODEL_PATH"], providers=["CPUExecutionProvider"])
INPUT = session.get_inputs()[0]
RANK = len(INPUT.shape) - 1  # dimensions of one row

Row = float
for _ in range(RANK):
    Row = list[Row]


class PredictRequest(BaseModel):
    instances: list[Row]  # type: ignore[valid-type]


class Prediction(BaseModel):
    probabilities: list[float]
    multi_hot: list[int]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


app = FastAPI()


@app.get("/health/ready")
def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/predict", response_model=PredictResponse)
def predict(request: PredictRequest) -> dict:
    rows = np.asarray(request.instances, dtype=np.float32)
    probabilities = session.run(["probabilities"], {INPUT.name: rows})[0]
    return {
        "predictions": [
            {"probabilities": p.tolist(), "multi_hot": (p >= 0.5).astype(int).tolist()} for p in probabilities
        ]
    }
