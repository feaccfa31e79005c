"""The training tasks: score each candidate (mapped, cached per candidate) and fit the selected settings (cached)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact

from mlops_pipeline.caching import make_cache_key
from mlops_pipeline.config import ModelConfig, ModelSection
from mlops_pipeline.reports import artifact_key
from mlops_pipeline.train import (
    CandidateResult,
    TrainedModel,
    data_columns,
    data_has_missing_cells,
    score_candidate,
    train_model,
)
from mlops_pipeline.validate import PreparedData


def publish_candidate_table(model_name: str, rows: list[dict[str, Any]], description: str) -> None:
    """The candidates table artifact (call inside a flow or task run)."""
    # every row needs the same columns for the table to render, failed candidates have no metrics
    columns = list(dict.fromkeys(k for row in rows for k in row))
    create_table_artifact(
        key=artifact_key(model_name, "candidates"),
        table=[{c: row.get(c) for c in columns} for row in rows],
        description=description,
    )


def _candidate_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    # Only what shapes this candidate's result: not its position in the list, not the other candidates, so
    # adding a candidate to the config does not retrain the ones already there.
    selection: ModelSection = parameters["selection"]
    return make_cache_key(
        "train_candidate",
        parameters["data"].fingerprint,
        parameters["spec"],
        {"validation_size": selection.validation_size, "cv_folds": selection.cv_folds},
    )


@task(
    name="train_candidate",
    cache_key_fn=_candidate_cache_key,
    persist_result=True,
    task_run_name="train_candidate-{index}",
)
def train_candidate(data: PreparedData, spec: ModelConfig, index: int, selection: ModelSection) -> CandidateResult:
    """Score one candidate on a validation split of the training rows; cached per candidate."""
    return score_candidate(
        data.X_train,
        data.y_train,
        data.problem,
        spec,
        selection,
        seed=data.seed,
        columns=data_columns(data),
        missing_cells=data_has_missing_cells(data),
    )


def _train_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    # The split fingerprint already covers the data, target, features, test_size, seed and imputation; the rest of
    # the data section (retries, timeouts, how the path is spelled) must not force a retrain.
    return make_cache_key("train", parameters["data"].fingerprint, parameters["model_config"])


@task(name="train", cache_key_fn=_train_cache_key, persist_result=True)
def train(data: PreparedData, model_config: ModelConfig) -> TrainedModel:
    """Fit the model on the whole training split; cached on (split fingerprint, model config, code version)."""
    return train_model(data, model_config, seed=data.seed)
