"""The `quantize` task: int8 model from the float one, failing the run if it loses more than allowed."""

from __future__ import annotations

from typing import Any

import numpy as np
from prefect import task

from mlops_pipeline.config import ProblemKind, QuantizeConfig
from mlops_pipeline.quantize import QuantizationResult, check_quantization, quantize_and_compare


@task(name="quantize", persist_result=False)
def quantize(
    estimator: Any, X_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, feature_names: list[str],
    problem: ProblemKind, float_bytes: int, config: QuantizeConfig,
) -> QuantizationResult:
    """Quantize to int8 and fail the run if the held-out metric drops more than `quantize.max_metric_drop`."""
    result = quantize_and_compare(
        estimator, X_train, X_test, y_test, feature_names, problem, float_bytes, config
    )
    check_quantization(result.report)
    return result

