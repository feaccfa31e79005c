"""Batch inference with the quantized model: the in-flow smoke test on the held-out split, and a batch helper."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from mlops_pipeline.gate import agreement_rate
from mlops_pipeline.plain import python_value
from mlops_pipeline.quantize import ModelInputError, QuantizedModel
from mlops_pipeline.validate import PreparedData

SAMPLE_ROWS = 10

# predict_with_proba yields (labels, probabilities) pairs
OutputMethod = Literal["predict", "predict_proba", "decision_function", "predict_with_proba"]


@dataclass(frozen=True)
class InferenceReport:
    n_rows: int
    seconds: float
    rows_per_second: float
    agreement_with_float: float
    sample: list[dict[str, Any]]  # first rows: row, true, float, int8


def predict_batches(model: Any, batches: Iterable[Any], method: OutputMethod = "predict") -> Iterator[Any]:
    """One output array per batch of rows, so data larger than memory streams through the model.

    Input errors name the batch and its absolute row range, not just the row within the batch.
    """
    predict = getattr(model, method)  # AttributeError for e.g. predict_proba of a LinearSVC, as in scikit-learn
    first_row = 0
    for number, batch in enumerate(batches):
        n_rows = len(batch)
        try:
            yield predict(batch)
        except ModelInputError as exc:
            raise ModelInputError(f"batch {number} (rows {first_row}..{first_row + n_rows - 1}): {exc}") from None
        first_row += n_rows


def run_inference(
    model: QuantizedModel, float_estimator: Any, data: PreparedData, sample_rows: int = SAMPLE_ROWS
) -> InferenceReport:
    """Predict the held-out split with the int8 model; compare with the float model row by row."""
    started = time.perf_counter()
    int8_predictions = model.predict(data.X_test)
    seconds = time.perf_counter() - started
    float_predictions = np.asarray(float_estimator.predict(data.X_test))
    sample = [
        {
            "row": i,
            "true": python_value(data.y_test[i]),
            "float": python_value(float_predictions[i]),
            "int8": python_value(int8_predictions[i]),
        }
        for i in range(min(sample_rows, data.X_test.shape[0]))
    ]
    n_rows = int(data.X_test.shape[0])
    return InferenceReport(
        n_rows=n_rows,
        seconds=seconds,
        rows_per_second=n_rows / seconds if seconds > 0 else float("inf"),
        agreement_with_float=agreement_rate(float_predictions, int8_predictions, data.y_test, data.problem),
        sample=sample,
    )
