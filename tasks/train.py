"""Training: build the configured scikit-learn Pipeline and fit it on the training split."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
from prefect import task
from sklearn.base import BaseEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tasks.caching import make_cache_key
from tasks.config import DataConfig, ModelConfig, TaskKind
from tasks.validate import PreparedData


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


def build_estimator(config: ModelConfig, seed: int) -> Pipeline:
    """The configured model inside a Pipeline with its preprocessing."""
    model: BaseEstimator
    match config.kind:
        case "logistic_regression":
            model = LogisticRegression(
                C=config.C, solver=config.solver, max_iter=config.max_iter, random_state=seed
            )
        case "linear_regression":
            model = LinearRegression(fit_intercept=config.fit_intercept)
        case "ridge":
            model = Ridge(alpha=config.alpha, random_state=seed)
        case other:  # pragma: no cover - the config model rejects unknown kinds
            raise ValueError(f"model.kind '{other}' has no estimator")
    steps: list[tuple[str, Any]] = [("scaler", StandardScaler())] if config.standardize else []
    steps.append(("model", model))
    return Pipeline(steps)


def train_model(data: PreparedData, config: ModelConfig, seed: int) -> TrainedModel:
    """Fit the configured estimator on the training split only."""
    estimator = build_estimator(config, seed)
    started = time.perf_counter()
    estimator.fit(data.X_train, data.y_train)
    return TrainedModel(
        estimator=estimator,
        model_bytes=serialize_estimator(estimator),
        fit_seconds=time.perf_counter() - started,
        model_config=config.model_dump(mode="json"),
    )


def evaluate(predict_fn: Any, X: np.ndarray, y: np.ndarray, task_kind: TaskKind) -> dict[str, float]:
    """Held-out metrics: accuracy and macro-F1 for classification, R² and RMSE for regression."""
    predictions = predict_fn(X)
    if task_kind == "classification":
        return {
            "accuracy": float(accuracy_score(y, predictions)),
            "macro_f1": float(f1_score(y, predictions, average="macro")),
        }
    return {
        "r2": float(r2_score(y, predictions)),
        "rmse": float(np.sqrt(mean_squared_error(y, predictions))),
    }


def _train_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    return make_cache_key(
        "train", parameters["data"].fingerprint, parameters["model_config"], parameters["data_config"]
    )


@task(name="train", cache_key_fn=_train_cache_key, persist_result=True)
def train(data: PreparedData, model_config: ModelConfig, data_config: DataConfig) -> TrainedModel:
    """Fit the model; cached on (data fingerprint, model + data config, code version), so reruns skip it."""
    return train_model(data, model_config, seed=data_config.seed)
