"""Loading data: the `load` task and the plain loaders behind it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prefect import task

from tasks.config import DataConfig, TaskKind


class DataLoadError(RuntimeError):
    """The data source could not be read and retrying will not help; the message names the source."""


class TransientLoadError(DataLoadError):
    """Reading failed in a way that may pass (connection reset, timeout, HTTP 5xx): worth a retry."""


def is_transient(exc: BaseException) -> bool:
    """Whether a load failure is worth retrying."""
    if isinstance(exc, TransientLoadError):
        return True
    if isinstance(exc, DataLoadError | FileNotFoundError | PermissionError | IsADirectoryError | ValueError):
        return False
    return isinstance(exc, ConnectionError | TimeoutError | OSError)


@dataclass(frozen=True)
class Dataset:
    """A feature matrix with its target, names and a fingerprint of exactly what was read."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_name: str
    source: str
    fingerprint: str
    task: TaskKind | None  # known for built-in sets; for files the model kind decides
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def fingerprint_arrays(*arrays: np.ndarray, names: list[str] | None = None) -> str:
    """sha256 over dtype, shape and bytes of each array (and the column names), so any edit changes it."""
    digest = hashlib.sha256()
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(contiguous.tobytes())
    for name in names or []:
        digest.update(name.encode() + b"\0")
    return digest.hexdigest()


def _load_digits() -> tuple[Any, TaskKind]:
    from sklearn.datasets import load_digits

    return load_digits(), "classification"


def _load_diabetes() -> tuple[Any, TaskKind]:
    from sklearn.datasets import load_diabetes

    return load_diabetes(), "regression"


BUILTIN_DATASETS = {
    "digits": _load_digits,
    "diabetes": _load_diabetes,
}


def load_builtin(name: str) -> Dataset:
    """Load one of the data sets that ship with scikit-learn."""
    try:
        loader = BUILTIN_DATASETS[name]
    except KeyError:
        raise DataLoadError(
            f"data.source '{name}': unknown built-in data set (known: {', '.join(sorted(BUILTIN_DATASETS))})"
        ) from None
    bunch, task_kind = loader()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    feature_names = [str(n) for n in getattr(bunch, "feature_names", [f"x{i}" for i in range(X.shape[1])])]
    return Dataset(
        X=X,
        y=y,
        feature_names=feature_names,
        target_name="target",
        source=f"builtin:{name}",
        fingerprint=fingerprint_arrays(X, y, names=feature_names),
        task=task_kind,
    )


def load_dataset(config: DataConfig) -> Dataset:
    """Load the data set the config names."""
    return load_builtin(config.source)


def _retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    # Prefect calls this plain function (a callable object or partial would silently disable retries).
    exc = state.data
    return isinstance(exc, BaseException) and is_transient(exc)


@task(
    name="load",
    retries=4,
    retry_delay_seconds=[1, 2, 4, 8],
    retry_jitter_factor=0.5,
    retry_condition_fn=_retry_if_transient,
    persist_result=False,
)
def load(config: DataConfig) -> Dataset:
    """Read the data; transient failures are retried with exponential backoff and jitter."""
    return load_dataset(config)
