"""In-flow inference with the quantized model, the batch helper, and the quantization / sample artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from mlops_pipeline.config import ProblemKind, QuantizeConfig
from mlops_pipeline.gate import quantize_and_compare
from mlops_pipeline.infer import SAMPLE_ROWS, predict_batches, run_inference
from mlops_pipeline.quantize import ModelInputError, QuantizedModel
from mlops_pipeline.reports import quantization_rows, sample_prediction_rows
from mlops_pipeline.validate import PreparedData


def _prepared(X: np.ndarray, y: np.ndarray, problem: ProblemKind) -> PreparedData:
    cut = int(0.8 * len(X))
    return PreparedData(
        X_train=X[:cut],
        X_test=X[cut:],
        y_train=y[:cut],
        y_test=y[cut:],
        feature_names=[f"f{i}" for i in range(X.shape[1])],
        target_name="target",
        source="test",
        problem=problem,
        fingerprint="0" * 64,
    )


@pytest.fixture(scope="module")
def digits_run() -> tuple[PreparedData, object, QuantizedModel]:
    X, y = load_digits(return_X_y=True)
    data = _prepared(X, y, "classification")
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(data.X_train, data.y_train)
    return data, estimator, QuantizedModel(estimator=estimator).fit(data.X_train)


@pytest.fixture(scope="module")
def diabetes_run() -> tuple[PreparedData, object, QuantizedModel]:
    X, y = load_diabetes(return_X_y=True, scaled=False)
    data = _prepared(X, y, "regression")
    estimator = LinearRegression().fit(data.X_train, data.y_train)
    return data, estimator, QuantizedModel(estimator=estimator).fit(data.X_train)


def test_inference_report_compares_int8_with_float_row_by_row(digits_run: tuple) -> None:
    data, estimator, model = digits_run
    report = run_inference(model, estimator, data)
    assert report.n_rows == len(data.X_test)
    assert report.agreement_with_float >= 0.99 and report.rows_per_second > 0
    assert [row["row"] for row in report.sample] == list(range(SAMPLE_ROWS))
    first = report.sample[0]
    assert first["true"] == data.y_test[0] and first["float"] == estimator.predict(data.X_test[:1])[0]
    assert first["int8"] == model.predict(data.X_test[:1])[0]
    json.dumps(report.sample)  # plain values: the report goes into the model card


def test_regression_agreement_is_within_a_small_fraction_of_the_target_spread(diabetes_run: tuple) -> None:
    data, estimator, model = diabetes_run
    report = run_inference(model, estimator, data, sample_rows=3)
    assert len(report.sample) == 3 and report.agreement_with_float >= 0.95
    assert all(isinstance(row["int8"], float) for row in report.sample)


def test_predict_batches_streams_and_matches_one_call(digits_run: tuple) -> None:
    data, _, model = digits_run
    batches = (data.X_test[start : start + 50] for start in range(0, len(data.X_test), 50))
    streamed = list(predict_batches(model, batches, method="predict_proba"))
    assert [len(b) for b in streamed][:2] == [50, 50]
    np.testing.assert_allclose(np.concatenate(streamed), model.predict_proba(data.X_test), rtol=1e-5, atol=1e-7)


def test_predict_batches_names_the_batch_and_absolute_rows(digits_run: tuple) -> None:
    data, _, model = digits_run
    bad = data.X_test[:10].copy()
    bad[3, 7] = np.nan
    with pytest.raises(ModelInputError, match=r"batch 1 \(rows 10\.\.19\): NaN or infinite .* in rows \[3\]"):
        list(predict_batches(model, [data.X_test[:10], bad]))


def test_predict_batches_refuses_probabilities_of_a_model_without_them(digits_run: tuple) -> None:
    data, _, _ = digits_run
    svc = make_pipeline(StandardScaler(), LinearSVC(random_state=0)).fit(data.X_train, data.y_train)
    with pytest.raises(AttributeError):
        list(predict_batches(QuantizedModel(estimator=svc).fit(data.X_train), [data.X_test], "predict_proba"))


# ---- artifact tables ---------------------------------------------------------------------------------------------
def test_quantization_table_has_bytes_metric_agreement_and_output_delta(digits_run: tuple) -> None:
    data, estimator, _ = digits_run
    result = quantize_and_compare(
        estimator, data.X_train, data.X_test, data.y_test, data.feature_names, "classification", 8000, QuantizeConfig()
    )
    rows = {row["quantity"].split(" (")[0]: row for row in quantization_rows(result.report)}
    assert rows["file bytes"]["int8"] == len(result.npz_bytes) and rows["file bytes"]["float"] == 8000
    assert rows["accuracy"]["float"] == round(result.report.float_metric, 4)
    assert "passed" in rows["accuracy"]["note"]
    assert rows["prediction agreement"]["int8"].endswith("%")
    assert rows["max |Δ output|"]["int8"] == float(f"{result.report.max_abs_output_delta:.4g}")


@pytest.mark.parametrize(
    "problem, extra_column", [("classification", "int8 = float"), ("regression", "|int8 - float|")]
)
def test_sample_prediction_table_columns(
    problem: ProblemKind, extra_column: str, digits_run: tuple, diabetes_run: tuple
) -> None:
    data, estimator, model = digits_run if problem == "classification" else diabetes_run
    rows = sample_prediction_rows(run_inference(model, estimator, data), problem)
    assert list(rows[0]) == ["row", "true", "float", "int8", extra_column]
    assert len(rows) == SAMPLE_ROWS


# ---- the flow ----------------------------------------------------------------------------------------------------
def test_training_flow_publishes_quantization_and_sample_tables(prefect_harness: Path, tmp_path: Path) -> None:
    from mlops_pipeline.flows.pipeline import training_pipeline
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from mlops_pipeline.config import parse_config

    config = parse_config({"registry": {"root": str(tmp_path / "models"), "model_name": "digits-int8-test"}})
    summary = training_pipeline(config)
    assert summary.int8_metrics["accuracy"] == pytest.approx(summary.metrics["accuracy"], abs=0.005)
    keys = ["digits-int8-test-quantization", "digits-int8-test-sample-predictions"]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    tables = {a.key: json.loads(a.data) if isinstance(a.data, str) else a.data for a in artifacts}
    assert set(tables) == set(keys)
    assert tables[keys[0]][0]["quantity"] == "file bytes"
    assert [row["row"] for row in tables[keys[1]]] == list(range(SAMPLE_ROWS))
