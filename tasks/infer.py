"""The `infer` task: the int8 model's batch predictions on the held-out split, the smoke test before promotion."""

from __future__ import annotations

from typing import Any

from prefect import task

from mlops_pipeline.infer import InferenceReport, run_inference
from mlops_pipeline.quantize import QuantizedModel
from mlops_pipeline.validate import PreparedData


@task(name="infer", persist_result=False)
def infer(model: QuantizedModel, float_estimator: Any, data: PreparedData) -> InferenceReport:
    """Batch predictions of the quantized model on the held-out split (the smoke test before promotion)."""
    return run_inference(model, float_estimator, data)
