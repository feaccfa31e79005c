"""The data contract itself: `FeatureSpec` per feature, `DataContract` (`contract.json`), and `learn_contract`,
which learns it from the training split."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlops_pipeline.config import ProblemKind
from mlops_pipeline.features._spec import ColumnKind, ColumnSpec, DroppedColumn
from mlops_pipeline.plain import python_value

CONTRACT_FILE = "contract.json"
CONTRACT_SCHEMA_VERSION = 1
TargetKind = Literal["integer", "float", "string"]


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    dtype: str  # the dtype the model sees: always float64 after reading
    integer: bool  # every training value was a whole number
    min: float
    max: float
    mean: float
    std: float
    missing: int  # missing (NaN/inf) values in the training split before imputation
    # [low, high] every value of this feature can take, declared by the data set (digits' pixels: [0, 16]): when set,
    # inference checks values against it instead of the range the training split happened to cover
    domain: list[float] | None = None
    # the column's kind and how it is encoded (features._spec.ColumnSpec); contracts written before kinds existed
    # read as numeric
    kind: ColumnKind = "numeric"
    reason: str = ""
    categories: list[str] | None = None
    date_format: str | None = None
    has_time: bool = False

    def column(self) -> ColumnSpec:
        categories = None if self.categories is None else tuple(self.categories)
        return ColumnSpec(self.name, self.kind, self.reason, categories, self.date_format, self.has_time)


@dataclass(frozen=True)
class DataContract:
    features: list[FeatureSpec]
    problem: ProblemKind
    target: str | None
    target_kind: TargetKind
    classes: list[Any] | None
    impute_strategy: str = "none"
    impute_values: list[float] | None = None
    range_tolerance: float = 0.1
    max_abs_value: float = 1e12
    source: str = ""
    fingerprint: str = ""
    n_rows: int = 0
    schema_version: int = CONTRACT_SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    dropped: list[DroppedColumn] = field(default_factory=list)  # the training file's columns left out
    # missing feature cells without imputation: "model" (the model fills them; a warning) or "error"; contracts
    # written before this setting existed refused them
    missing: Literal["model", "error"] = "error"

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def columns(self) -> list[ColumnSpec]:
        """Each feature's ColumnSpec, in contract order (what `features.encode_frame` takes)."""
        return [f.column() for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n").encode()

    @classmethod
    def from_dict(cls, raw: dict[str, Any], origin: str = "<contract>") -> DataContract:
        try:
            if raw.get("schema_version") != CONTRACT_SCHEMA_VERSION:
                raise ValueError(f"schema_version {raw.get('schema_version')!r}, expected {CONTRACT_SCHEMA_VERSION}")
            features = [FeatureSpec(**spec) for spec in raw["features"]]
            dropped = [DroppedColumn(**column) for column in raw.get("dropped", [])]
            return cls(**{**raw, "features": features, "dropped": dropped})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{origin}: not a valid data contract ({exc})") from None

    @classmethod
    def from_json(cls, data: bytes | str, origin: str = "<contract>") -> DataContract:
        try:
            raw = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{origin}: not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{origin}: a data contract is a JSON object")
        return cls.from_dict(raw, origin)

    @classmethod
    def load(cls, path: str | Path) -> DataContract:
        path = Path(path)
        return cls.from_json(path.read_bytes(), origin=str(path))


def target_kind_of(y: np.ndarray) -> TargetKind:
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        return "integer"
    if np.issubdtype(y.dtype, np.floating):
        return "float"
    return "string"


def learn_contract(
    X_train: np.ndarray,
    y: np.ndarray,
    feature_names: Sequence[str],
    *,
    problem: ProblemKind,
    target: str | None,
    impute_strategy: str = "none",
    impute_values: Sequence[float] | None = None,
    range_tolerance: float = 0.1,
    max_abs_value: float = 1e12,
    source: str = "",
    fingerprint: str = "",
    missing_counts: Sequence[int] | None = None,
    feature_domain: Sequence[float] | None = None,
    columns: Sequence[ColumnSpec] | None = None,
    dropped: Sequence[DroppedColumn] = (),
    missing: Literal["model", "error"] = "error",
) -> DataContract:
    """The contract of a training split (statistics ignore missing values; the class set comes from all of y).

    `feature_domain` ([low, high], declared by the data set) is recorded on every feature as its domain. `columns`
    (one per feature, default numeric) give each feature's kind, categories and date format."""
    features = []
    specs = list(columns) if columns is not None else [ColumnSpec(str(n), "numeric") for n in feature_names]
    for j, name in enumerate(feature_names):
        spec = specs[j]
        column = X_train[:, j]
        finite = column[np.isfinite(column)]
        if finite.size == 0:  # only possible with imputation of an all-missing column, which validation rejects
            finite = np.zeros(1)
        features.append(
            FeatureSpec(
                name=str(name),
                dtype="float64",
                integer=bool(np.array_equal(finite, np.round(finite))),
                min=float(finite.min()),
                max=float(finite.max()),
                mean=float(finite.mean()),
                std=float(finite.std()),
                missing=int(missing_counts[j]) if missing_counts is not None else int(column.size - finite.size),
                domain=None if feature_domain is None else [float(v) for v in feature_domain],
                kind=spec.kind,
                reason=spec.reason,
                categories=None if spec.categories is None else list(spec.categories),
                date_format=spec.date_format,
                has_time=spec.has_time,
            )
        )
    classes = None
    if problem == "classification":
        classes = [python_value(c) for c in np.unique(y)]
    return DataContract(
        features=features,
        problem=problem,
        target=target,
        target_kind=target_kind_of(y),
        classes=classes,
        impute_strategy=impute_strategy,
        impute_values=[float(v) for v in impute_values] if impute_values is not None else None,
        range_tolerance=range_tolerance,
        max_abs_value=max_abs_value,
        source=source,
        fingerprint=fingerprint,
        n_rows=int(X_train.shape[0]),
        dropped=list(dropped),
        missing=missing,
    )
