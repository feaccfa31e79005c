"""The `quantize` task: int8 model from the float one, failing the run if it loses more than allowed."""

from __future__ import annotations

from prefect import task

from mlops_pipeline.config import QuantizeConfig
from mlops_pipeline.gate import QuantizationResult, quantize_trained
from mlops_pipeline.train import TrainedModel
from mlops_pipeline.validate import PreparedData


@task(name="quantize", persist_result=False)
def quantize(trained: TrainedModel, data: PreparedData, config: QuantizeConfig) -> QuantizationResult:
    """Quantize to int8 and fail the run if the held-out metric drops more than `quantize.max_metric_drop`."""
    return quantize_trained(trained, data, config)
