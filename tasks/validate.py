"""Validation: the data contract checked before training, and the held-out split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from prefect import task
from sklearn.model_selection import train_test_split

from tasks.config import DataConfig, TaskKind
from tasks.data import Dataset

MIN_ROWS_PER_CLASS = 2


class DataValidationError(ValueError):
    """The data breaks the contract; the message lists every violation with its rule, columns and counts."""


@dataclass(frozen=True)
class Finding:
    severity: Literal["error", "warning"]
    rule: str
    columns: list[str]
    count: int
    detail: str

    def __str__(self) -> str:
        where = f" [{', '.join(self.columns[:5])}{' ...' if len(self.columns) > 5 else ''}]" if self.columns else ""
        return f"{self.severity}: {self.rule}{where}: {self.detail} (count {self.count})"


@dataclass(frozen=True)
class PreparedData:
    """Validated data, split once: the test split is never seen by training."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    target_name: str
    source: str
    task: TaskKind
    fingerprint: str
    findings: list[Finding] = field(default_factory=list)


def check_dataset(dataset: Dataset, config: DataConfig, task_kind: TaskKind) -> list[Finding]:
    """Every contract violation and warning in the data, all at once (not just the first)."""
    findings: list[Finding] = []
    if dataset.task is not None and dataset.task != task_kind:
        findings.append(Finding("error", "model does not fit the data", [dataset.target_name], 1,
                                f"{dataset.source} is a {dataset.task} data set but the model is for {task_kind}"))
    X, y, names = dataset.X, dataset.y, dataset.feature_names
    n_rows = X.shape[0]
    if n_rows == 0:
        return [Finding("error", "no rows", [], 0, "the data set has no rows")]
    if X.ndim != 2 or X.shape[1] == 0:
        return [Finding("error", "no feature columns", [], 0, "the data set has no feature columns")]
    if not np.issubdtype(X.dtype, np.number):
        findings.append(Finding("error", "non-numeric features", names, X.shape[1], f"dtype {X.dtype}"))
        return findings
    non_finite = ~np.isfinite(X)
    if non_finite.any():
        bad_cols = [names[i] for i in np.flatnonzero(non_finite.any(axis=0))]
        rows = np.flatnonzero(non_finite.any(axis=1))
        findings.append(
            Finding("error", "NaN or infinite values", bad_cols, int(non_finite.sum()),
                    f"rows {rows[:5].tolist()}{' ...' if rows.size > 5 else ''}")
        )
    if y.shape[0] != n_rows:
        findings.append(Finding("error", "target length", [dataset.target_name], int(y.shape[0]),
                                f"{y.shape[0]} targets for {n_rows} rows"))
    spread = np.nanmax(X, axis=0) - np.nanmin(X, axis=0) if n_rows else np.zeros(X.shape[1])
    constant = [names[i] for i in np.flatnonzero(spread == 0)]
    if len(constant) == X.shape[1]:
        findings.append(Finding("error", "constant data set", constant, len(constant), "every feature is constant"))
    elif constant:
        findings.append(Finding("warning", "constant columns", constant, len(constant), "carry no information"))
    if task_kind == "classification":
        classes, counts = np.unique(y, return_counts=True)
        if classes.size < 2:
            findings.append(Finding("error", "single class", [dataset.target_name], int(classes.size),
                                    f"only class {classes.tolist()} present; classification needs at least 2"))
        rare = [f"{c!r}: {n}" for c, n in zip(classes.tolist(), counts.tolist(), strict=True) if n < MIN_ROWS_PER_CLASS]
        if rare:
            findings.append(Finding("error", f"fewer than {MIN_ROWS_PER_CLASS} rows per class",
                                    [dataset.target_name], len(rare), ", ".join(rare[:5])))
    n_test = int(np.ceil(n_rows * config.test_size))
    if n_rows - n_test < 2 or n_test < 1:
        findings.append(Finding("error", "too few rows for the split", [], n_rows,
                                f"{n_rows} rows cannot be split with test_size={config.test_size}"))
    return findings


def split_fingerprint(dataset_fingerprint: str, config: DataConfig) -> str:
    """Identifies the split: the data plus the split parameters."""
    text = f"{dataset_fingerprint}|test_size={config.test_size}|seed={config.seed}"
    return hashlib.sha256(text.encode()).hexdigest()


def prepare(dataset: Dataset, config: DataConfig, task_kind: TaskKind) -> PreparedData:
    """Check the contract, raise on errors, and hold out the test split (stratified for classification)."""
    findings = check_dataset(dataset, config, task_kind)
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        listed = "\n".join(f"  - {f}" for f in errors)
        raise DataValidationError(f"{dataset.source}: {len(errors)} data contract violation(s)\n{listed}")
    stratify = dataset.y if task_kind == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        dataset.X, dataset.y, test_size=config.test_size, random_state=config.seed, stratify=stratify
    )
    return PreparedData(
        X_train=X_train,
        X_test=X_test,
        y_train=y_train,
        y_test=y_test,
        feature_names=list(dataset.feature_names),
        target_name=dataset.target_name,
        source=dataset.source,
        task=task_kind,
        fingerprint=split_fingerprint(dataset.fingerprint, config),
        findings=findings,
    )


@task(name="validate", persist_result=False)
def validate(dataset: Dataset, config: DataConfig, task_kind: TaskKind) -> PreparedData:
    """Enforce the data contract before anything is trained; hold out the test split."""
    return prepare(dataset, config, task_kind)
