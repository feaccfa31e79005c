"""The quantization gate: the int8 model measured next to the float one on the held-out split; it raises with the
report when the primary metric drops by more than `quantize.max_metric_drop`."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from mlops_pipeline.config import QuantizeConfig
from mlops_pipeline.gate import QuantizationGateFailed, check_quantization, quantize_and_compare

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def fitted() -> dict[str, tuple[Any, Split]]:
    """The two digits models of tests/unit/test_quantize.py's MODELS these tests use, on the same split."""
    X, y = load_digits(return_X_y=True)
    split: Split = tuple(train_test_split(X, y, test_size=0.25, random_state=0))  # type: ignore[assignment]
    factories = {
        "logreg-multiclass": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        "linear-svc-multiclass": lambda: make_pipeline(StandardScaler(), LinearSVC(random_state=0)),
    }
    return {name: (factory().fit(split[0], split[2]), split) for name, factory in factories.items()}


def test_report_compares_float_and_int8_on_the_held_out_split(fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, X_test, _, y_test) = fitted["linear-svc-multiclass"]
    result = quantize_and_compare(
        estimator,
        X_train,
        X_test,
        y_test,
        [f"p{i}" for i in range(64)],
        "classification",
        float_bytes=8000,
        config=QuantizeConfig(),
    )
    report = result.report
    assert report.metric_name == "accuracy" and report.output_compared == "decision_function"
    assert report.int8_bytes == len(result.npz_bytes) and report.float_bytes == 8000
    assert report.agreement >= 0.99 and report.passed
    assert report.metric_drop == pytest.approx(report.float_metric - report.int8_metric)
    assert 0 < report.max_abs_output_delta < 0.5
    assert report.n_test_rows == len(X_test)


def test_gate_fails_with_the_report_when_the_drop_is_too_large(fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, X_test, _, y_test) = fitted["logreg-multiclass"]
    report = quantize_and_compare(
        estimator, X_train, X_test, y_test, [f"p{i}" for i in range(64)], "classification", 1, QuantizeConfig()
    ).report
    failing = type(report)(**{**report.__dict__, "int8_metric": report.float_metric - 0.01, "metric_drop": 0.01})
    check_quantization(report)
    with pytest.raises(QuantizationGateFailed, match="drop of 0.0100 > quantize.max_metric_drop 0.005") as error:
        check_quantization(failing)
    assert error.value.report is failing
    restored = pickle.loads(pickle.dumps(error.value))  # Prefect may pickle a task's exception
    assert restored.report == failing and str(restored) == str(error.value)
