"""Validation: the data rules checked before training, the held-out split, and the contract learned from it.

`prepare` runs every rule of `dataset_checks.check_dataset` (every violation at once), refuses data with any error,
leaves out rows without a target, splits the rest, learns each category column's vocabulary from the training
split (most frequent first, at most MAX_CATEGORIES; values only the test split has become UNKNOWN_CODE), fills
missing values when the config names an imputation strategy (statistics of the training split only) and learns
the `DataContract` that is saved with the model as `contract.json`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.model_selection import train_test_split

from mlops_pipeline.augment import augment_digits
from mlops_pipeline.config import DataConfig, ProblemKind
from mlops_pipeline.contract import DataContract, check_ranges, learn_contract
from mlops_pipeline.data import Dataset
from mlops_pipeline.dataset_checks import check_dataset, labelled_rows
from mlops_pipeline.features._spec import MAX_CATEGORIES, UNKNOWN_CODE, ColumnSpec, is_all_numeric
from mlops_pipeline.findings import DataValidationError, Finding, raise_on_errors

__all__ = ["DataValidationError", "Finding", "PreparedData", "check_dataset", "prepare"]


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
    problem: ProblemKind
    fingerprint: str  # the split: data bytes + target/features + split and imputation settings
    findings: list[Finding] = field(default_factory=list)
    contract: DataContract | None = None
    data_sha256: str = ""  # sha256 of the bytes read (files) or of the arrays (built-ins)
    seed: int = 0  # data.seed: the split's seed, reused by every step with randomness (training, noise checks)
    columns: list[ColumnSpec] = field(default_factory=list)  # one per feature; default: every feature numeric

    def __post_init__(self) -> None:
        if not self.columns:
            object.__setattr__(self, "columns", [ColumnSpec(str(n), "numeric", "numbers") for n in self.feature_names])


def split_fingerprint(
    dataset_fingerprint: str, config: DataConfig, target: str | None = None, feature_names: list[str] | None = None
) -> str:
    """Identifies the split: the data, which columns are target and features, and the split/imputation settings."""
    text = (
        f"{dataset_fingerprint}|target={target}|features={feature_names}|test_size={config.test_size}"
        f"|seed={config.seed}|impute={config.impute}"
    )
    if config.columns or config.missing != "model" or config.max_missing_target_share != 0.1:
        # settings that change the rows or their encoding (left out of the text at their defaults, so the split
        # of an all-numeric table keeps its fingerprint)
        text += f"|columns={sorted(config.columns.items())}|missing={config.missing}"
        text += f"|max_missing_target_share={config.max_missing_target_share}"
    return hashlib.sha256(text.encode()).hexdigest()


def take_rows(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """X[rows], keeping a column-major matrix column-major (gathering each contiguous column is cache-friendly)."""
    if not X.flags.f_contiguous or X.flags.c_contiguous:
        return X[rows]
    out = np.empty((rows.size, X.shape[1]), dtype=X.dtype, order="F")
    for j in range(X.shape[1]):
        np.take(X[:, j], rows, out=out[:, j])
    return out


def impute_values(X_train: np.ndarray, strategy: str) -> np.ndarray:
    """Per-feature fill values from the training split (NaN and inf count as missing)."""
    values = np.zeros(X_train.shape[1])
    for j in range(X_train.shape[1]):
        column = X_train[:, j]
        finite = column[np.isfinite(column)]
        if finite.size == 0:
            continue
        if strategy == "mean":
            values[j] = finite.mean()
        elif strategy == "median":
            values[j] = np.median(finite)
        elif strategy == "most_frequent":
            uniques, counts = np.unique(finite, return_counts=True)
            values[j] = uniques[np.argmax(counts)]  # ties: the smallest value, as SimpleImputer does
        else:
            raise ValueError(f"data.impute '{strategy}' is not a strategy")
    return values


def learn_vocabularies(X_train: np.ndarray, X_test: np.ndarray, columns: Sequence[ColumnSpec]) -> list[ColumnSpec]:
    """Each categorical column's categories as the training split has them: most frequent first (ties by value),
    at most MAX_CATEGORIES. Codes in both splits (in place) are re-numbered to match; a value the training split
    lacks (or past the cap) becomes UNKNOWN_CODE."""
    learned = []
    for j, spec in enumerate(columns):
        if spec.kind != "categorical" or not spec.categories:
            learned.append(spec)
            continue
        old = spec.categories
        train = X_train[:, j]
        counts = np.bincount(train[train >= 0].astype(np.intp), minlength=len(old))
        order = sorted(np.flatnonzero(counts).tolist(), key=lambda c: (-counts[c], old[c]))[:MAX_CATEGORIES]
        lookup = np.full(len(old) + 1, UNKNOWN_CODE)  # the last entry: what code -1 (index -1) maps to
        lookup[order] = np.arange(len(order), dtype=np.float64)
        for X in (X_train, X_test):
            column = X[:, j]
            present = ~np.isnan(column)
            column[present] = lookup[column[present].astype(np.intp)]
        categories = tuple(old[c] for c in order)
        reason = spec.reason
        if len(order) < len(old):
            reason += f"; {len(categories)} in the training split"
        learned.append(replace(spec, categories=categories, reason=reason))
    return learned


def model_fills_missing(
    config: DataConfig, columns: Sequence[ColumnSpec], X_train: np.ndarray, X_test: np.ndarray
) -> bool:
    """Whether the model handles missing cells (the contract's `missing` is then "model"): data.missing is "model",
    nothing was imputed in validate, and the table needs the model's own preprocessing anyway (a column that is not
    a number) or has missing cells. An all-numeric table without any keeps today's pipeline, which takes no NaN,
    so its contract refuses missing cells at inference as before."""
    if config.missing != "model" or config.impute != "none":
        return False
    return not is_all_numeric(list(columns)) or bool(np.isnan(X_train).any() or np.isnan(X_test).any())


def _fill_missing(X: np.ndarray, values: np.ndarray) -> None:
    for j in range(X.shape[1]):
        column = X[:, j]
        bad = ~np.isfinite(column)
        if bad.any():
            column[bad] = values[j]


def _test_split_range_findings(X_test: np.ndarray, contract: DataContract, origin: str) -> list[Finding]:
    """One warning summing up held-out values outside the training split's min/max (a hint, never an error)."""
    outside = check_ranges(X_test, contract, origin, beyond_tolerance="warning")
    if not outside:
        return []
    per_column: Counter[str] = Counter()
    for finding in outside:
        per_column[finding.columns[0]] += finding.count
    shown = ", ".join(f"{name}: {count}" for name, count in per_column.most_common(5))
    return [
        Finding(
            "warning",
            "test split outside training range",
            sorted(per_column),
            sum(per_column.values()),
            f"{origin}: held-out values beyond the training split's min/max in {len(per_column)} "
            f"column(s) ({shown}{', ...' if len(per_column) > 5 else ''})",
        )
    ]


def prepare(dataset: Dataset, config: DataConfig, problem: ProblemKind) -> PreparedData:
    """Check the contract, raise on errors, hold out the test split (stratified for classification), impute if
    configured, and learn the contract of the training split."""
    findings = check_dataset(dataset, config, problem)
    raise_on_errors(findings, dataset.source)
    assert dataset.y is not None and dataset.target_name is not None
    labelled, y = labelled_rows(dataset)  # rows without a target are left out (a warning from the load)
    assert y is not None
    rows = np.arange(dataset.n_rows) if labelled is None else labelled
    stratify = y if problem == "classification" else None
    # Split row indices (the same rows train_test_split(X, y) would pick), then gather them column by column:
    # on a column-major matrix that is ~5x faster than fancy row indexing.
    train_at, test_at = train_test_split(
        np.arange(rows.size), test_size=config.test_size, random_state=config.seed, stratify=stratify
    )
    X_train, X_test = take_rows(dataset.X, rows[train_at]), take_rows(dataset.X, rows[test_at])
    y_train, y_test = y[train_at], y[test_at]
    columns = learn_vocabularies(X_train, X_test, dataset.columns)
    missing_counts = (~np.isfinite(X_train)).sum(axis=0)
    fill = None
    if config.impute != "none":
        fill = impute_values(X_train, config.impute)
        labels = [j for j, spec in enumerate(columns) if spec.kind in ("categorical", "boolean")]
        if labels:  # a mean of category codes is no category: the most frequent one fills them
            fill[labels] = impute_values(X_train[:, labels], "most_frequent")
        _fill_missing(X_train, fill)
        _fill_missing(X_test, fill)
    contract = learn_contract(
        X_train,
        y,
        dataset.feature_names,
        problem=problem,
        target=dataset.target_name,
        impute_strategy=config.impute,
        impute_values=None if fill is None else fill.tolist(),
        range_tolerance=config.range_tolerance,
        max_abs_value=config.max_abs_value,
        source=dataset.source,
        fingerprint=dataset.fingerprint,
        missing_counts=missing_counts.tolist(),
        feature_domain=dataset.info.get("feature_domain"),
        columns=columns,
        dropped=dataset.dropped,
        missing="model" if model_fills_missing(config, columns, X_train, X_test) else "error",
    )
    findings += _test_split_range_findings(X_test, contract, dataset.source)
    if config.augment is not None:  # after the contract: it describes the real rows, not the made-up ones
        X_train, y_train = augment_digits(X_train, y_train, config.augment, config.seed)
    return PreparedData(
        X_train=X_train,
        X_test=X_test,
        y_train=y_train,
        y_test=y_test,
        feature_names=list(dataset.feature_names),
        target_name=dataset.target_name,
        source=dataset.source,
        problem=problem,
        fingerprint=split_fingerprint(dataset.fingerprint, config, dataset.target_name, dataset.feature_names),
        findings=findings,
        contract=contract,
        data_sha256=dataset.fingerprint,
        seed=config.seed,
        columns=columns,
    )


def column_rows(dataset: Dataset) -> list[dict[str, object]]:
    """One data-quality row per column of a table with more than numbers: its type and why (or why it was left
    out), and its missing cells. An all-numeric table without left-out columns has none (its table is as before)."""
    if is_all_numeric(dataset.columns) and not dataset.dropped:
        return []
    rows: list[dict[str, object]] = []
    X = dataset.X
    for j, spec in enumerate(dataset.columns):
        missing = int(np.isnan(X[:, j]).sum()) if X.ndim == 2 and j < X.shape[1] else 0
        detail = f"{spec.kind}: {spec.reason}" + (f"; {missing} missing" if missing else "")
        rows.append(
            {"severity": "info", "rule": "column type", "columns": spec.name, "count": missing, "detail": detail}
        )
    for left_out in dataset.dropped:
        rows.append(
            {
                "severity": "info",
                "rule": "column left out",
                "columns": left_out.name,
                "count": 0,
                "detail": left_out.reason,
            }
        )
    return rows


def quality_rows(findings: list[Finding], dataset: Dataset | None = None) -> list[dict[str, object]]:
    """Rows of the data-quality table artifact: one per finding (or one saying all rules passed), then for a table
    with text, dates or left-out columns one per column (`column_rows`)."""
    columns = column_rows(dataset) if dataset is not None else []
    if findings:
        return [f.as_row() for f in sorted(findings, key=lambda f: f.severity != "error")] + columns
    shape = f"{dataset.n_rows} rows x {dataset.X.shape[1]} features" if dataset is not None else ""
    return [{"severity": "ok", "rule": "all rules passed", "columns": "", "count": 0, "detail": shape}, *columns]
