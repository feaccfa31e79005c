"""`Dataset`: what the training load hands to validation (the feature matrix, target, names, fingerprint and the
findings seen while reading), and the fingerprint of in-memory arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops_pipeline.config import ProblemKind
from mlops_pipeline.features._spec import ColumnSpec, DroppedColumn
from mlops_pipeline.findings import Finding


@dataclass(frozen=True)
class Dataset:
    """A feature matrix with its target, names and a fingerprint of exactly what was read.

    `y` is None when the target column is missing; `findings` are problems seen while reading (cells that fit no
    kind, columns left out), which the validate task reports together with its own. `X` is the encoded matrix
    (features._spec): one column per entry of `columns`, cells that fit no kind NaN. `columns` defaults to every
    feature numeric; `dropped` are the file's columns left out of the features (identifiers, data.columns).
    `missing_target_rows` are rows whose target is empty (validation leaves them out).
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    target_name: str | None
    source: str
    fingerprint: str
    problem: ProblemKind | None  # known for built-in sets; for files the model kind decides
    info: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    non_numeric_columns: tuple[str, ...] = ()
    csv_lines: bool = False  # row examples name file lines (CSV) rather than row numbers
    columns: list[ColumnSpec] = field(default_factory=list)
    dropped: list[DroppedColumn] = field(default_factory=list)
    missing_target_rows: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.columns:
            object.__setattr__(self, "columns", [ColumnSpec(str(n), "numeric", "numbers") for n in self.feature_names])

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
