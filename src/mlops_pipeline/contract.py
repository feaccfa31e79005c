"""The data contract: what the training data looked like, saved with the model (`contract.json`), and the checks of
data a model is later asked to score against it.

It records feature names and order, dtypes, min/max/mean/std per feature, the target and its class set, and the
imputation learned on the training split. The checks take columns or rows already read (by `mlops_pipeline.data`
for files, by the service for JSON rows) and return findings: missing or unexpected columns, missing values
(imputed when the contract imputes), new class labels, values outside the training range (within
`range_tolerance` of the range: a warning; beyond it: an error). Nothing here reads a file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mlops_pipeline.config import ProblemKind
from mlops_pipeline.findings import DataValidationError, Finding, example_rows
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

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

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
            return cls(**{**raw, "features": features})
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
) -> DataContract:
    """The contract of a training split (statistics ignore missing values; the class set comes from all of y).

    `feature_domain` ([low, high], declared by the data set) is recorded on every feature as its domain."""
    features = []
    for j, name in enumerate(feature_names):
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
    )


# ---- checks against a contract ---------------------------------------------------------------------------------
def check_columns(columns: Sequence[str], contract: DataContract, origin: str) -> list[Finding]:
    """Missing features (error), duplicated names (error), unexpected columns and a different order (warnings)."""
    findings: list[Finding] = []
    present = set(columns)
    duplicated = sorted({c for c in columns if list(columns).count(c) > 1})
    if duplicated:
        findings.append(
            Finding(
                "error",
                "duplicated column names",
                duplicated,
                len(duplicated),
                f"{origin}: a column name may appear once; header: {_preview(columns)}",
            )
        )
    missing = [name for name in contract.feature_names if name not in present]
    if missing:
        findings.append(
            Finding(
                "error",
                "missing columns",
                missing,
                len(missing),
                f"{origin}: the model needs {len(contract.features)} feature columns; "
                f"{len(columns)} columns found: {_preview(columns)}",
            )
        )
    known = {*contract.feature_names, contract.target}
    unexpected = [c for c in columns if c not in known]
    if unexpected:
        findings.append(
            Finding(
                "warning", "unexpected columns", unexpected, len(unexpected), f"{origin}: not in the contract; ignored"
            )
        )
    order = [c for c in columns if c in set(contract.feature_names)]
    if not missing and order != contract.feature_names:
        findings.append(
            Finding(
                "warning",
                "column order",
                [],
                len(order),
                f"{origin}: feature columns are in a different order than in training; reordered",
            )
        )
    return findings


def _preview(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _allowed_range(spec: FeatureSpec) -> tuple[float, float]:
    return (spec.domain[0], spec.domain[1]) if spec.domain else (spec.min, spec.max)


def check_ranges(
    X: np.ndarray,
    contract: DataContract,
    origin: str,
    *,
    row_offset: int = 0,
    csv_lines: bool = False,
    beyond_tolerance: Literal["error", "warning"] = "error",
) -> list[Finding]:
    """Values outside the training min/max (or the feature's declared domain, when it has one): within
    `range_tolerance` x range a warning, beyond it `beyond_tolerance`."""
    findings: list[Finding] = []
    mild: list[tuple[str, np.ndarray, np.ndarray]] = []
    severe: list[tuple[str, np.ndarray, np.ndarray]] = []
    # one pass over the chunk: only columns whose smallest or largest value (NaN ignored, as by the comparisons
    # below) leaves the training range are looked at value by value
    lows = np.fmin.reduce(X, axis=0) if X.shape[0] else np.full(X.shape[1], np.nan)
    highs = np.fmax.reduce(X, axis=0) if X.shape[0] else np.full(X.shape[1], np.nan)
    for j, spec in enumerate(contract.features):
        low, high = _allowed_range(spec)
        if not (lows[j] < low or highs[j] > high):
            continue
        column = X[:, j]
        span = high - low if high > low else max(abs(high), 1.0)  # a constant feature
        slack = contract.range_tolerance * span
        with np.errstate(invalid="ignore"):
            outside = (column < low) | (column > high)
            beyond = (column < low - slack) | (column > high + slack)
        if beyond.any():
            rows = np.flatnonzero(beyond)
            severe.append((spec.name, rows, column[rows[:5]]))
        only_mild = outside & ~beyond
        if only_mild.any():
            rows = np.flatnonzero(only_mild)
            mild.append((spec.name, rows, column[rows[:5]]))
    for severity, rule, hits in ((beyond_tolerance, "out of range", severe), ("warning", "mildly out of range", mild)):
        for name, rows, values in hits:
            spec = contract.features[contract.feature_names.index(name)]
            low, high = _allowed_range(spec)
            examples = example_rows(rows, row_offset=row_offset, csv_lines=csv_lines, values=[float(v) for v in values])
            findings.append(
                Finding(
                    severity,
                    rule,
                    [name],
                    int(rows.size),
                    f"{origin}: training range [{spec.min:g}, {spec.max:g}]"
                    f"{f', domain [{low:g}, {high:g}]' if spec.domain else ''}, tolerance "
                    f"{contract.range_tolerance:g} x range; e.g. {examples}",
                )
            )
    return findings


def apply_missing_policy(
    X: np.ndarray,
    contract: DataContract,
    origin: str,
    *,
    row_offset: int = 0,
    csv_lines: bool = False,
    skip: Sequence[str] = (),
) -> list[Finding]:
    """NaN/inf cells: filled in place with the training split's values when the contract imputes, else errors."""
    findings: list[Finding] = []
    imputing = contract.impute_strategy != "none" and contract.impute_values is not None
    fill = contract.impute_values or []
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(X.sum(axis=0))  # no NaN/inf in the column (an overflow only means a closer look)
    for j, name in enumerate(contract.feature_names):
        if name in skip or finite[j]:
            continue
        column = X[:, j]
        bad = ~np.isfinite(column)
        if not bad.any():
            continue
        rows = np.flatnonzero(bad)
        examples = example_rows(rows, row_offset=row_offset, csv_lines=csv_lines)
        if imputing:
            findings.append(
                Finding(
                    "warning",
                    "missing values imputed",
                    [name],
                    int(rows.size),
                    f"{origin}: filled with {contract.impute_strategy} {fill[j]:g} from training; e.g. {examples}",
                )
            )
            column[bad] = fill[j]
        else:
            findings.append(
                Finding(
                    "error",
                    "missing or infinite values",
                    [name],
                    int(rows.size),
                    f"{origin}: the model was trained without imputation; e.g. {examples}",
                )
            )
    return findings


def check_labels(
    y: np.ndarray,
    contract: DataContract,
    origin: str,
    *,
    row_offset: int = 0,
    csv_lines: bool = False,
    unlabelled_rows: np.ndarray | None = None,
) -> list[Finding]:
    """A labelled file: class labels never seen in training (classification) or a non-numeric target.

    `unlabelled_rows` (empty target cells) are skipped.
    """
    if unlabelled_rows is not None and unlabelled_rows.size:
        keep = np.ones(y.shape[0], dtype=bool)
        keep[unlabelled_rows] = False
        if target_kind_of(y) == "string":
            y = np.where(keep, y, str(contract.classes[0]) if contract.classes else "")
        elif contract.problem == "classification" and contract.classes:
            y = np.where(keep, y, contract.classes[0])
    target = [contract.target or "target"]
    if contract.problem == "regression":
        if target_kind_of(y) == "string":
            return [
                Finding(
                    "error",
                    "non-numeric target",
                    target,
                    int(y.size),
                    f"{origin}: a regression target must be numeric; e.g. {y[:3].tolist()}",
                )
            ]
        return []
    classes = np.asarray(contract.classes if contract.classes is not None else [])
    if contract.target_kind == "string" or target_kind_of(y) == "string":
        known, labels = classes.astype(str), y.astype(str)
    else:
        known, labels = classes.astype(np.float64), y.astype(np.float64)
    new = ~np.isin(labels, known)
    if not new.any():
        return []
    rows = np.flatnonzero(new)
    unseen = sorted({python_value(v) for v in y[new].tolist()}, key=str)
    return [
        Finding(
            "error",
            "new class labels",
            target,
            int(rows.size),
            f"{origin}: labels {unseen[:5]} not among the training classes {contract.classes}; e.g. "
            f"{example_rows(rows, row_offset=row_offset, csv_lines=csv_lines)}",
        )
    ]


def check_chunk(
    X: np.ndarray,
    y: np.ndarray | None,
    contract: DataContract,
    origin: str,
    *,
    row_offset: int,
    csv_lines: bool,
    load_findings: Sequence[Finding],
    non_numeric: Sequence[str],
    unlabelled_rows: np.ndarray | None = None,
    out_of_range: Literal["error", "warning"] = "error",
) -> list[Finding]:
    """Every check of a chunk of rows read for scoring, in the order they are reported: rows without a label (a
    warning), what the reader found (`load_findings`: cells that are not numbers), missing values (imputed or
    errors; `non_numeric` columns are already reported), ranges, labels."""
    findings: list[Finding] = []
    if unlabelled_rows is not None and unlabelled_rows.size:
        findings.append(
            Finding(
                "warning",
                "missing target values",
                [contract.target or "target"],
                int(unlabelled_rows.size),
                f"{origin}: unlabelled rows; e.g. "
                f"{example_rows(unlabelled_rows, row_offset=row_offset, csv_lines=csv_lines)}",
            )
        )
    findings += load_findings
    findings += apply_missing_policy(X, contract, origin, row_offset=row_offset, csv_lines=csv_lines, skip=non_numeric)
    findings += check_ranges(
        X, contract, origin, row_offset=row_offset, csv_lines=csv_lines, beyond_tolerance=out_of_range
    )
    if y is not None:
        findings += check_labels(
            y, contract, origin, row_offset=row_offset, csv_lines=csv_lines, unlabelled_rows=unlabelled_rows
        )
    return findings


__all__ = [
    "CONTRACT_FILE",
    "DataContract",
    "DataValidationError",
    "FeatureSpec",
    "apply_missing_policy",
    "check_chunk",
    "check_columns",
    "check_labels",
    "check_ranges",
    "learn_contract",
]
