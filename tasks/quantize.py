"""The `quantize` task: int8 model from the float one, failing the run if it loses more than allowed.

A model without a quantized form (a custom estimator that is neither linear, an MLP nor a tree ensemble) is kept
as a skops file instead, with `quantize.enabled` auto; the task logs why.
"""

from __future__ import annotations

from prefect import get_run_logger, task

from mlops_pipeline.config import QuantizeConfig
from mlops_pipeline.gate import QuantizationResult, quantize_or_keep_float
from mlops_pipeline.skops_form import SKOPS_MODEL_FILE, FloatForm
from mlops_pipeline.train import TrainedModel
from mlops_pipeline.validate import PreparedData


@task(name="quantize", persist_result=False)
def quantize(trained: TrainedModel, data: PreparedData, config: QuantizeConfig) -> QuantizationResult | FloatForm:
    """Quantize to int8 and fail the run if the held-out metric drops more than `quantize.max_metric_drop`; a
    model that has no quantized form comes back as its skops form (checked by loading it back)."""
    result = quantize_or_keep_float(trained, data, config)
    if isinstance(result, FloatForm):
        get_run_logger().info(
            "not quantized: %s; the float model is stored as %s and loaded from it by batch scoring and the "
            "service (trusted types: %s)",
            result.reason,
            SKOPS_MODEL_FILE,
            ", ".join(result.trusted_types),
        )
    return result
