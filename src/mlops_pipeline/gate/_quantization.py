"""The quantization gate: the int8 model of a trained candidate, measured next to the float model on the held-out
split; the run fails (`QuantizationGateFailed`, a `QuantizationError`) when it loses more of the primary metric
than `quantize.max_metric_drop` allows.

Pipeline side: it takes the pipeline's `TrainedModel`, `PreparedData` and `QuantizeConfig`; the estimator it builds
(`mlops_pipeline.quantize.QuantizedModel`) knows none of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, r2_score

from mlops_pipeline.config import ProblemKind, QuantizeConfig, primary_metric
from mlops_pipeline.quantize import AnyQuantizedModel, QuantizationError, QuantizedModel, QuantizedTrees, is_tree_model
from mlops_pipeline.train import TrainedModel, rows_agree
from mlops_pipeline.validate import PreparedData


class QuantizationGateFailed(QuantizationError):
    """The quantized model lost more of the held-out metric than `quantize.max_metric_drop` allows."""

    def __init__(self, report: QuantizationReport):
        self.report = report
        super().__init__(
            f"quantization gate failed: {report.metric_name} fell from {report.float_metric:.4f} (float) to "
            f"{report.int8_metric:.4f} (int8), a drop of {report.metric_drop:.4f} > quantize.max_metric_drop "
            f"{report.max_metric_drop}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions are pickled as cls(*args); args here is the message, not the report.
        return (type(self), (self.report,))


# A regression prediction "agrees" when int8 is within this fraction of the target's standard deviation of float.
REGRESSION_AGREEMENT_TOLERANCE = 0.01


def agreement_rate(
    float_predictions: np.ndarray, int8_predictions: np.ndarray, y_true: np.ndarray, problem: str
) -> float:
    """Share of rows where int8 agrees with float: same class, or within a small fraction of the target's spread."""
    if len(float_predictions) == 0:
        return 1.0
    tolerance = (
        0.0 if problem == "classification" else REGRESSION_AGREEMENT_TOLERANCE * max(float(np.std(y_true)), 1e-12)
    )
    return float(np.mean(rows_agree(float_predictions, int8_predictions, problem, tolerance)))


@dataclass(frozen=True)
class QuantizationReport:
    float_metric: float
    int8_metric: float
    metric_name: str
    metric_drop: float
    max_metric_drop: float
    agreement: float
    max_abs_output_delta: float
    output_compared: str  # which output max_abs_output_delta is measured on: predict_proba, decision_function, ...
    float_bytes: int
    int8_bytes: int
    int8_predict_seconds: float
    n_test_rows: int

    @property
    def passed(self) -> bool:
        return self.metric_drop <= self.max_metric_drop


@dataclass(frozen=True)
class QuantizationResult:
    model: AnyQuantizedModel
    npz_bytes: bytes
    report: QuantizationReport


def comparable_outputs(float_model: Any, int8_model: AnyQuantizedModel, X: np.ndarray) -> tuple[str, Any, Any]:
    """The richest output both models have: probabilities, else decision function, else predictions."""
    for method in ("predict_proba", "decision_function"):
        if hasattr(int8_model, method) and hasattr(float_model, method):
            return method, np.asarray(getattr(float_model, method)(X)), getattr(int8_model, method)(X)
    return "predict", np.asarray(float_model.predict(X)), int8_model.predict(X)


def compare_models(
    float_model: Any,
    int8_model: AnyQuantizedModel,
    X_test: np.ndarray,
    y_test: np.ndarray,
    problem: ProblemKind,
) -> dict[str, Any]:
    """Held-out metric of both models, prediction agreement and the largest output difference."""
    started = time.perf_counter()
    int8_predictions = int8_model.predict(X_test)
    predict_seconds = time.perf_counter() - started
    float_predictions = np.asarray(float_model.predict(X_test))
    metric_name = primary_metric(problem)
    metric = {"accuracy": accuracy_score, "r2": r2_score}[metric_name]
    output_compared, float_out, int8_out = comparable_outputs(float_model, int8_model, X_test)
    return {
        "metric_name": metric_name,
        "float_metric": float(metric(y_test, float_predictions)),
        "int8_metric": float(metric(y_test, int8_predictions)),
        "agreement": agreement_rate(float_predictions, int8_predictions, y_test, problem),
        "max_abs_output_delta": float(np.max(np.abs(float_out - int8_out))) if len(X_test) else 0.0,
        "output_compared": output_compared,
        "int8_predict_seconds": predict_seconds,
    }


def quantize_and_compare(
    estimator: Any,
    X_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    feature_names: list[str],
    problem: ProblemKind,
    float_bytes: int,
    config: QuantizeConfig,
) -> QuantizationResult:
    """Quantize the float model, then measure it next to the float model on the held-out split.

    A tree ensemble gets the tree form (`QuantizedTrees`: uint8 bins, exact for HistGradientBoosting, snapped
    thresholds for forests), measured and gated the same way.
    """
    model: AnyQuantizedModel
    if is_tree_model(estimator):
        model = QuantizedTrees(estimator=estimator, feature_names=feature_names).fit(X_train)
    else:
        model = QuantizedModel(
            estimator=estimator, feature_names=feature_names, calibration_rows=config.calibration_rows
        ).fit(X_train)
    npz_bytes = model.to_bytes()
    comparison = compare_models(estimator, model, X_test, y_test, problem)
    report = QuantizationReport(
        **comparison,
        metric_drop=comparison["float_metric"] - comparison["int8_metric"],
        max_metric_drop=config.max_metric_drop,
        float_bytes=float_bytes,
        int8_bytes=len(npz_bytes),
        n_test_rows=int(X_test.shape[0]),
    )
    return QuantizationResult(model=model, npz_bytes=npz_bytes, report=report)


def check_quantization(report: QuantizationReport) -> None:
    """Raise QuantizationGateFailed when int8 lost more of the primary metric than the config allows."""
    if not report.passed:
        raise QuantizationGateFailed(report)


def quantize_trained(trained: TrainedModel, data: PreparedData, config: QuantizeConfig) -> QuantizationResult:
    """The int8 model of a trained candidate, measured on the held-out split; raises if it loses too much.

    Calibrates on the training rows and compares on the test rows; `QuantizationGateFailed` (with the report)
    when the metric drops by more than `quantize.max_metric_drop`.
    """
    result = quantize_and_compare(
        trained.estimator,
        data.X_train,
        data.X_test,
        data.y_test,
        data.feature_names,
        data.problem,
        len(trained.model_bytes),
        config,
    )
    check_quantization(result.report)
    return result
