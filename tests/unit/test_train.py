"""Training: the model zoo's pipelines, candidate scoring on validation rows, selection, cache keys."""

from __future__ import annotations

import numpy as np
import pytest
from mlops_pipeline.tasks.train import _candidate_cache_key
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

from mlops_pipeline.config import (
    DataConfig,
    LinearRegressionConfig,
    LinearSVMConfig,
    LinearSVRConfig,
    LogisticRegressionConfig,
    MLPClassifierConfig,
    MLPRegressorConfig,
    ModelSection,
    RidgeConfig,
)
from mlops_pipeline.train import (
    CandidateResult,
    build_estimator,
    candidate_rows,
    fit_model,
    score_candidate,
    select_best,
    validation_split,
)
from mlops_pipeline.validate import PreparedData


def _classification(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return X, y


def _regression(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ np.array([2.0, -1.0, 0.5]) + 0.1 * rng.normal(size=n)


@pytest.mark.parametrize(
    ("spec", "estimator_type", "scaled"),
    [
        (LogisticRegressionConfig(C=0.5), LogisticRegression, True),
        (LogisticRegressionConfig(standardize=False), LogisticRegression, False),
        (LinearRegressionConfig(), LinearRegression, False),
        (RidgeConfig(alpha=2.0), Ridge, True),
        (LinearSVMConfig(C=0.3), LinearSVC, True),
        (LinearSVRConfig(epsilon=0.1), LinearSVR, True),
        (MLPClassifierConfig(hidden_layer_sizes=[8, 4]), MLPClassifier, True),
        (MLPRegressorConfig(hidden_layer_sizes=[8]), MLPRegressor, True),
    ],
)
def test_every_kind_builds_its_pipeline_with_the_hyperparameters(spec, estimator_type, scaled) -> None:
    pipeline = build_estimator(spec, seed=7)
    model = pipeline.named_steps["model"]
    assert isinstance(model, estimator_type)
    assert isinstance(pipeline.named_steps.get("scaler"), StandardScaler) is scaled
    params = model.get_params()
    for key, value in spec.model_dump().items():
        if key in params:
            assert params[key] == (tuple(value) if key == "hidden_layer_sizes" else value), key
    if "random_state" in params:
        assert params["random_state"] == 7


@pytest.mark.parametrize(
    ("spec", "data"),
    [
        (LinearSVMConfig(), _classification),
        (MLPClassifierConfig(hidden_layer_sizes=[8], max_iter=50), _classification),
        (LinearSVRConfig(), _regression),
        (MLPRegressorConfig(hidden_layer_sizes=[8], max_iter=50), _regression),
    ],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_seeded_fits_give_identical_model_bytes(spec, data) -> None:
    X, y = data()
    first, second = fit_model(X, y, spec, seed=3), fit_model(X, y, spec, seed=3)
    assert first.model_bytes == second.model_bytes
    assert first.model_config == spec.model_dump(mode="json")


@pytest.mark.parametrize("problem", ["classification", "regression"])
def test_validation_rows_come_from_the_training_rows_only(problem) -> None:
    X, y = _classification() if problem == "classification" else _regression()
    X_fit, X_val, y_fit, y_val = validation_split(X, y, problem, 0.25, seed=1)
    assert X_fit.shape[0] + X_val.shape[0] == X.shape[0]
    assert X_val.shape[0] == 30
    fit_rows = {row.tobytes() for row in X_fit}
    assert not any(row.tobytes() in fit_rows for row in X_val)
    training_rows = {row.tobytes() for row in X}
    assert all(row.tobytes() in training_rows for row in X_val)


def test_validation_split_of_tiny_classes_falls_back_to_a_plain_split() -> None:
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array([0] * 9 + [1])  # one row of class 1: cannot stratify
    X_fit, X_val, _, _ = validation_split(X, y, "classification", 0.3, seed=0)
    assert (X_fit.shape[0], X_val.shape[0]) == (7, 3)


def test_holdout_score_is_measured_on_the_validation_rows() -> None:
    X, y = _classification()
    result = score_candidate(X, y, "classification", LogisticRegressionConfig(), ModelSection(), seed=0)
    _, X_val, _, y_val = validation_split(X, y, "classification", 0.2, seed=0)
    assert result.model is not None
    assert result.score == pytest.approx(float(np.mean(result.model.estimator.predict(X_val) == y_val)))
    assert (result.n_fit_rows, result.n_validation_rows) == (96, 24)
    assert result.fold_scores == [result.score]


def test_cross_validation_scores_every_fold_and_keeps_no_model() -> None:
    X, y = _regression()
    selection = ModelSection(candidates=[RidgeConfig()], cv_folds=4)
    result = score_candidate(X, y, "regression", RidgeConfig(), selection, seed=0)
    assert result.model is None
    assert len(result.fold_scores) == 4
    assert result.metric_name == "r2"
    assert result.score == pytest.approx(np.mean(result.fold_scores))
    assert result.score_std == pytest.approx(np.std(result.fold_scores))


def test_more_folds_than_rows_is_a_clear_error() -> None:
    X, y = _regression(n=5)
    selection = ModelSection(candidates=[RidgeConfig()], cv_folds=6)
    with pytest.raises(ValueError, match="model.cv_folds 6: the training split has only 5 rows"):
        score_candidate(X, y, "regression", RidgeConfig(), selection, seed=0)


def _result(score: float, metric: str = "accuracy") -> CandidateResult:
    return CandidateResult(
        spec={},
        metric_name=metric,
        metrics={metric: score},
        fold_scores=[score],
        fit_seconds=0.1,
        n_fit_rows=8,
        n_validation_rows=2,
        model=None,
    )


@pytest.mark.parametrize(
    ("scores", "metric", "best"),
    [
        ([0.90, 0.95, 0.93], "accuracy", 1),
        ([0.95, 0.95, 0.93], "accuracy", 0),  # ties go to the candidate listed first
        ([None, 0.80, 0.85], "r2", 2),  # a failed candidate is skipped
        ([30.0, 20.0, 25.0], "rmse", 1),  # lower is better
    ],
)
def test_select_best(scores, metric, best) -> None:
    results = [None if s is None else _result(s, metric) for s in scores]
    assert select_best(results) == best


def test_select_best_with_no_trained_candidate_fails() -> None:
    with pytest.raises(ValueError, match="no candidate could be trained"):
        select_best([None, None])


def test_candidate_rows_share_columns_and_mark_the_selected_one() -> None:
    specs = [LogisticRegressionConfig(C=0.1), LogisticRegressionConfig(C=1.0)]
    rows = candidate_rows(
        specs, [_result(0.9), None], ["Completed", "Failed"], ["", "boom"], selected=0, cross_validated=False
    )
    assert rows[0]["selected"] == "yes" and rows[1]["selected"] == ""
    assert rows[0]["score"] == 0.9 and rows[1]["score"] is None
    assert rows[1]["error"] == "boom"
    assert "C=0.1" in rows[0]["settings"]


def _prepared(fingerprint: str) -> PreparedData:
    X, y = _classification(n=10)
    return PreparedData(X, X, y, y, ["a", "b", "c", "d"], "t", "test", "classification", fingerprint)


def test_candidate_cache_key_is_per_candidate_and_ignores_its_position() -> None:
    selection = ModelSection(candidates=[LogisticRegressionConfig(C=0.1), LogisticRegressionConfig(C=1.0)])
    wider = ModelSection(candidates=[*selection.candidates, LogisticRegressionConfig(C=10.0)])

    def key(spec, index=0, data="abc", chosen=selection, data_config=None):
        return _candidate_cache_key(
            None,
            {
                "data": _prepared(data),
                "spec": spec,
                "index": index,
                "selection": chosen,
                "data_config": data_config or DataConfig(),
            },
        )

    base = key(LogisticRegressionConfig(C=0.1))
    assert key(LogisticRegressionConfig(C=0.1), index=2, chosen=wider) == base
    assert key(LogisticRegressionConfig(C=1.0)) != base
    assert key(LogisticRegressionConfig(C=0.1), data="other") != base
    # the seed, test_size and imputation reach the key through the split fingerprint (`data`); the rest of the data
    # section (retries, timeouts) must not force a retrain
    assert key(LogisticRegressionConfig(C=0.1), data_config=DataConfig(retries=1, timeout_seconds=5)) == base
    assert key(LogisticRegressionConfig(C=0.1), chosen=selection.model_copy(update={"cv_folds": 3})) != base
