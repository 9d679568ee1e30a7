"""Baseline: the naive service most people write first: FastAPI + Keras `model.predict` on every request.

`KERAS_PATH=... python -m uvicorn bench.baselines.naive_keras:app --port 8002`
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from pydantic import BaseModel  # noqa: E402

model = keras.models.load_model(os.environ["KERAS_PATH"])


class PredictRequest(BaseModel):
    instances: list


app = FastAPI()


@app.get("/health/ready")
def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/predict")
def predict(request: PredictRequest) -> dict:
    logits = model.predict(np.array(request.instances, dtype=np.float32), verbose=0)
    probabilities = 1 / (1 + np.exp(-logits))
    return {
        "predictions": [
            {"probabilities": p.tolist(), "multi_hot": (p >= 0.5).astype(int).tolist()} for p in probabilities
        ]
    }
