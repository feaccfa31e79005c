"""Training: the model zoo, candidate selection on a validation split, and the final fit.

Every model is a scikit-learn Pipeline, so preprocessing is fitted on training rows only and travels with the model
file: [scaler] -> model for an all-numeric table without missing cells (imputation, when configured, happens in
`validate` with training-split statistics), else table -> features -> model (`mlops_pipeline.features`: the raw
columns read by name, then one-hot / date parts / imputation / scaling as the model's family needs).
Candidates are compared on rows carved from the training split (a hold-out validation split, or k folds); the test
split is never seen here, it belongs to the test-gate.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

from mlops_pipeline.config import LOWER_IS_BETTER, ModelConfig, ModelSection, ProblemKind, primary_metric
from mlops_pipeline.features import (
    ColumnSpec,
    TableEncoder,
    categorical_output_mask,
    feature_steps,
    is_all_numeric,
    numeric_specs,
    preprocessing_family,
)
from mlops_pipeline.validate import PreparedData


@dataclass(frozen=True)
class TrainedModel:
    estimator: Pipeline
    # joblib bytes taken right after fitting: an estimator restored from the cache pickles to different (equal
    # in value) bytes, and stored model files must be identical for identical inputs.
    model_bytes: bytes
    fit_seconds: float
    model_config: dict[str, Any]


def serialize_estimator(estimator: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    return buffer.getvalue()


def _final_estimator(config: ModelConfig, seed: int) -> BaseEstimator:
    match config.kind:
        case "logistic_regression":
            return LogisticRegression(C=config.C, solver=config.solver, max_iter=config.max_iter, random_state=seed)
        case "linear_regression":
            return LinearRegression(fit_intercept=config.fit_intercept)
        case "ridge":
            return Ridge(alpha=config.alpha, random_state=seed)
        case "linear_svm":
            return LinearSVC(C=config.C, loss=config.loss, max_iter=config.max_iter, random_state=seed)
        case "linear_svr":
            return LinearSVR(
                C=config.C, epsilon=config.epsilon, loss=config.loss, max_iter=config.max_iter, random_state=seed
            )
        case "mlp_classifier" | "mlp_regressor":
            mlp = MLPClassifier if config.kind == "mlp_classifier" else MLPRegressor
            return mlp(
                hidden_layer_sizes=tuple(config.hidden_layer_sizes),
                activation=config.activation,
                solver=config.solver,
                alpha=config.alpha,
                learning_rate_init=config.learning_rate_init,
                max_iter=config.max_iter,
                early_stopping=config.early_stopping,
                random_state=seed,
            )
        case other:  # pragma: no cover - the config model rejects unknown kinds
            raise ValueError(f"model.kind '{other}' has no estimator")


def build_estimator(
    config: ModelConfig, seed: int, columns: Sequence[ColumnSpec] | None = None, *, missing_cells: bool = False
) -> Pipeline:
    """The configured model inside a Pipeline with its preprocessing.

    An all-numeric table without missing cells (`columns` None, or only numeric / boolean specs, and
    `missing_cells` false) gets [scaler] -> model, as always: `validate` imputes missing values (when `data.impute`
    asks) with training-split statistics that the contract stores and applies at inference, so the int8 model sees
    the same inputs. Any other table gets table -> features -> model: `TableEncoder` reads raw columns by name
    (and passes an encoded matrix through), `feature_steps` of the kind's family turns codes, dates and missing
    cells into features (`model.standardize` does not apply: the one-hot family always scales its numbers).
    """
    final = _final_estimator(config, seed)
    if columns is None or (is_all_numeric(list(columns)) and not missing_cells):
        steps: list[tuple[str, Any]] = []
        if config.standardize:
            steps.append(("scaler", StandardScaler()))
        steps.append(("model", final))
        return Pipeline(steps)
    specs = list(columns)
    family = preprocessing_family(config.kind)
    mask = categorical_output_mask(specs, family)
    if mask is not None and "categorical_features" in final.get_params():
        final.set_params(categorical_features=mask)
    return Pipeline(
        [
            ("table", TableEncoder(columns=[spec.to_dict() for spec in specs])),
            ("features", feature_steps(specs, family)),
            ("model", final),
        ]
    )


def has_missing_cells(*matrices: np.ndarray) -> bool:
    """Whether any of the (encoded) matrices holds a missing cell (NaN): the model then handles them itself."""
    return any(bool(np.isnan(np.dot(np.ones(X.shape[0]), X)).any()) for X in matrices if X.size)


def data_has_missing_cells(data: PreparedData) -> bool:
    """Whether the table has a missing cell, in either split: only the *kind* of pipeline depends on it (one that
    imputes), so a model trained on a split without one still scores the other split's, and later files'; what is
    imputed is learnt from the training split alone."""
    return has_missing_cells(data.X_train, data.X_test)


def fit_model(
    X: np.ndarray,
    y: np.ndarray,
    config: ModelConfig,
    seed: int,
    columns: Sequence[ColumnSpec] | None = None,
    *,
    missing_cells: bool | None = None,
) -> TrainedModel:
    """Build and fit one model on the rows given; time the fit and keep the model's bytes.

    `missing_cells` None: whether X has one (callers fitting on parts of a split pass the whole split's answer, so
    every fold gets the same pipeline).
    """
    if missing_cells is None:
        missing_cells = has_missing_cells(X)
    if columns is None and missing_cells:  # data without column typing: every column is a number
        columns = numeric_specs([f"x{i}" for i in range(X.shape[1])])
    estimator = build_estimator(config, seed, columns, missing_cells=missing_cells)
    started = time.perf_counter()
    estimator.fit(X, y)
    return TrainedModel(
        estimator=estimator,
        model_bytes=serialize_estimator(estimator),
        fit_seconds=time.perf_counter() - started,
        model_config=config.model_dump(mode="json"),
    )


def data_columns(data: PreparedData) -> list[ColumnSpec]:
    """The column specs of prepared data (every feature numeric for data prepared without column typing)."""
    return list(data.columns) if data.columns else numeric_specs(data.feature_names)


def train_model(data: PreparedData, config: ModelConfig, seed: int) -> TrainedModel:
    """Fit the configured estimator on the whole training split (the test split is never used)."""
    return fit_model(
        data.X_train, data.y_train, config, seed, data_columns(data), missing_cells=data_has_missing_cells(data)
    )


def rows_agree(a: np.ndarray, b: np.ndarray, problem: ProblemKind | str, tolerance: float) -> np.ndarray:
    """Row-wise: do two prediction vectors agree (equal labels; regression values within `tolerance`)?

    The one rule behind the gate's noise check and the float-vs-int8 agreement rate.
    """
    a, b = np.asarray(a), np.asarray(b)
    if problem == "classification":
        return np.asarray(a == b)
    return np.asarray(np.abs(a.astype(np.float64) - b.astype(np.float64)) <= tolerance)


def evaluate(predict_fn: Any, X: np.ndarray, y: np.ndarray, problem: ProblemKind) -> dict[str, float]:
    """Held-out metrics: accuracy and macro-F1 for classification, R² and RMSE for regression."""
    predictions = predict_fn(X)
    if problem == "classification":
        return {
            "accuracy": float(accuracy_score(y, predictions)),
            "macro_f1": float(f1_score(y, predictions, average="macro")),
        }
    return {
        "r2": float(r2_score(y, predictions)),
        "rmse": float(np.sqrt(mean_squared_error(y, predictions))),
    }


# ---- candidates -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CandidateResult:
    """How one candidate setting scored on rows carved from the training split."""

    spec: dict[str, Any]
    metric_name: str
    metrics: dict[str, float]  # mean over folds (one "fold" for a hold-out validation split)
    fold_scores: list[float]  # the selection metric per fold
    fit_seconds: float  # total over folds
    n_fit_rows: int
    n_validation_rows: int
    # The model fitted on training-minus-validation rows (hold-out only): it becomes the final model when
    # `model.refit` is false.
    model: TrainedModel | None

    @property
    def score(self) -> float:
        return self.metrics[self.metric_name]

    @property
    def score_std(self) -> float:
        return float(np.std(self.fold_scores))


def validation_split(
    X: np.ndarray, y: np.ndarray, problem: ProblemKind, validation_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Carve (X_fit, X_val, y_fit, y_val) out of the training split; stratified for classification if possible."""
    if problem == "classification":
        try:
            return tuple(train_test_split(X, y, test_size=validation_size, random_state=seed, stratify=y))
        except ValueError:
            # too few rows of some class to stratify (tiny data): a plain seeded split is still a fair comparison
            pass
    return tuple(train_test_split(X, y, test_size=validation_size, random_state=seed))


def cv_folds(y: np.ndarray, problem: ProblemKind, n_folds: int, seed: int) -> KFold | StratifiedKFold:
    """Seeded, shuffled folds; stratified for classification when every class has a row in every fold."""
    if n_folds > y.shape[0]:
        raise ValueError(f"model.cv_folds {n_folds}: the training split has only {y.shape[0]} rows")
    if problem == "classification" and np.unique(y, return_counts=True)[1].min() >= n_folds:
        return StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return KFold(n_splits=n_folds, shuffle=True, random_state=seed)


def score_candidate(
    X_train: np.ndarray,
    y_train: np.ndarray,
    problem: ProblemKind,
    spec: ModelConfig,
    selection: ModelSection,
    seed: int,
    columns: Sequence[ColumnSpec] | None = None,
    missing_cells: bool | None = None,
) -> CandidateResult:
    """Score one candidate on a validation split (or by k-fold CV) of the training rows it is given.

    `missing_cells` None: whether X_train has one (`data_has_missing_cells` tells for the whole table)."""
    metric_name = primary_metric(problem)
    if missing_cells is None:
        missing_cells = has_missing_cells(X_train)
    if selection.cv_folds:
        splitter = cv_folds(y_train, problem, selection.cv_folds, seed)
        fold_metrics, seconds = [], 0.0
        for fit_index, val_index in splitter.split(X_train, y_train):
            fitted = fit_model(X_train[fit_index], y_train[fit_index], spec, seed, columns, missing_cells=missing_cells)
            seconds += fitted.fit_seconds
            fold_metrics.append(evaluate(fitted.estimator.predict, X_train[val_index], y_train[val_index], problem))
        n_validation = int(np.ceil(y_train.shape[0] / selection.cv_folds))
        return CandidateResult(
            spec=spec.model_dump(mode="json"),
            metric_name=metric_name,
            metrics={k: float(np.mean([m[k] for m in fold_metrics])) for k in fold_metrics[0]},
            fold_scores=[m[metric_name] for m in fold_metrics],
            fit_seconds=seconds,
            n_fit_rows=y_train.shape[0] - n_validation,
            n_validation_rows=n_validation,
            model=None,
        )
    X_fit, X_val, y_fit, y_val = validation_split(X_train, y_train, problem, selection.validation_size, seed)
    fitted = fit_model(X_fit, y_fit, spec, seed, columns, missing_cells=missing_cells)
    metrics = evaluate(fitted.estimator.predict, X_val, y_val, problem)
    return CandidateResult(
        spec=spec.model_dump(mode="json"),
        metric_name=metric_name,
        metrics=metrics,
        fold_scores=[metrics[metric_name]],
        fit_seconds=fitted.fit_seconds,
        n_fit_rows=int(y_fit.shape[0]),
        n_validation_rows=int(y_val.shape[0]),
        model=fitted,
    )


def select_best(results: list[CandidateResult | None]) -> int:
    """Index of the best scoring candidate (None = failed to train); ties go to the one listed first."""
    scored = [(i, r) for i, r in enumerate(results) if r is not None]
    if not scored:
        raise ValueError("no candidate could be trained")
    sign = -1.0 if scored[0][1].metric_name in LOWER_IS_BETTER else 1.0
    return max(scored, key=lambda item: (sign * item[1].score, -item[0]))[0]


def describe_spec(spec: dict[str, Any]) -> str:
    """`C=0.1, solver=lbfgs, ...`: the hyperparameters of a candidate on one line."""
    return ", ".join(f"{k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in spec.items() if k != "kind")


def candidate_rows(
    specs: list[ModelConfig],
    results: list[CandidateResult | None],
    states: list[str],
    errors: list[str],
    selected: int | None,
    cross_validated: bool,
) -> list[dict[str, Any]]:
    """The comparison table: one row per candidate with its validation metrics, fit time and state."""
    rows = []
    for index, (spec, result, state, error) in enumerate(zip(specs, results, states, errors, strict=True)):
        row: dict[str, Any] = {
            "candidate": index,
            "kind": spec.kind,
            "settings": describe_spec(spec.model_dump(mode="json")),
            "selection metric": result.metric_name if result else None,
            "score": round(result.score, 4) if result else None,
            "score std (cv)": round(result.score_std, 4) if result and cross_validated else None,
        }
        for name, value in (result.metrics if result else {}).items():
            row[f"validation {name}"] = round(value, 4)
        row.update(
            {
                "fit seconds": round(result.fit_seconds, 3) if result else None,
                "state": state,
                "selected": "yes" if index == selected else "",
                "error": error,
            }
        )
        rows.append(row)
    return rows
