"""Batch inference with the quantized model."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from prefect import task

from tasks.quantize import QuantizedModel
from tasks.validate import PreparedData

SAMPLE_ROWS = 10


@dataclass(frozen=True)
class InferenceReport:
    n_rows: int
    seconds: float
    rows_per_second: float
    agreement_with_float: float
    sample: list[dict[str, Any]]


def predict_in_chunks(model: QuantizedModel, X: np.ndarray, chunk_rows: int = 65_536) -> np.ndarray:
    """Predictions for X, computed chunk by chunk so memory stays flat on large inputs."""
    if X.shape[0] == 0:
        return model.predict(X[:1])[:0]
    parts = [model.predict(X[start:start + chunk_rows]) for start in range(0, X.shape[0], chunk_rows)]
    return np.concatenate(parts)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def run_inference(model: QuantizedModel, float_estimator: Any, data: PreparedData) -> InferenceReport:
    """Predict the held-out split with the int8 model; compare with the float model row by row."""
    started = time.perf_counter()
    int8_predictions = predict_in_chunks(model, data.X_test)
    seconds = time.perf_counter() - started
    float_predictions = float_estimator.predict(data.X_test)
    if data.task == "classification":
        agreement = float(np.mean(int8_predictions == float_predictions))
    else:
        agreement = float(np.mean(np.isclose(int8_predictions, float_predictions, rtol=1e-3,
                                             atol=1e-3 * float(np.std(data.y_test)))))
    sample = [
        {"row": i, "true": _plain(data.y_test[i]), "float": _plain(float_predictions[i]),
         "int8": _plain(int8_predictions[i])}
        for i in range(min(SAMPLE_ROWS, data.X_test.shape[0]))
    ]
    n_rows = int(data.X_test.shape[0])
    return InferenceReport(n_rows, seconds, n_rows / seconds if seconds > 0 else float("inf"), agreement, sample)


@task(name="infer", persist_result=False)
def infer(model: QuantizedModel, float_estimator: Any, data: PreparedData) -> InferenceReport:
    """Batch predictions of the quantized model on the held-out split (the smoke test before promotion)."""
    return run_inference(model, float_estimator, data)
