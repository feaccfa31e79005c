"""The data rules checked before training: every violation (an error) and every oddity (a warning), all at once.

Rules per feature column (empty, missing, infinite, huge, constant, duplicate), per target (numeric for regression;
enough classes and rows per class for classification), and whether the held-out split can be made. `validate.prepare`
refuses data with any error before it splits anything.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from mlops_pipeline.config import DataConfig, ProblemKind
from mlops_pipeline.data import Dataset
from mlops_pipeline.data._columns import numeric_or_labels
from mlops_pipeline.findings import Finding, Severity, example_rows

__all__ = ["check_dataset", "labelled_rows"]

MAX_DISTINCT_FOR_CLASSIFICATION = 1000


def _rows(dataset: Dataset, indices: np.ndarray, values: np.ndarray | None = None) -> str:
    shown = None if values is None else [float(v) for v in values[:5]]
    return example_rows(indices, csv_lines=dataset.csv_lines, values=shown)


def _column_findings(dataset: Dataset, config: DataConfig) -> tuple[list[Finding], list[int]]:
    """Per-feature rules: empty, missing, infinite and huge values, constant and duplicate columns."""
    X, names, origin = dataset.X, dataset.feature_names, dataset.source
    findings: list[Finding] = []
    skip = set(dataset.non_numeric_columns)
    empty, constant, usable = [], [], []
    infinite_rule: Severity = "error" if config.impute == "none" else "warning"
    missing_rule: Severity = "error" if config.impute == "none" and config.missing == "error" else "warning"
    infinite_hint = (
        "set data.impute (mean, median or most_frequent) to fill them"
        if config.impute == "none"
        else f"filled with the training split's {config.impute}"
    )
    missing_hint = (
        "the model fills them (data.missing: model); set data.missing: error to refuse them"
        if missing_rule == "warning" and config.impute == "none"
        else infinite_hint
    )
    for j, name in enumerate(names):
        if name in skip:
            continue
        column = X[:, j]
        nan = np.isnan(column)
        if nan.all():
            empty.append(name)
            continue
        usable.append(j)
        if nan.any():
            rows = np.flatnonzero(nan)
            findings.append(
                Finding(
                    missing_rule,
                    "missing values (NaN or empty)",
                    [name],
                    int(rows.size),
                    f"{origin}: {missing_hint}; e.g. {_rows(dataset, rows)}",
                )
            )
        infinite = np.isinf(column)
        if infinite.any():
            rows = np.flatnonzero(infinite)
            findings.append(
                Finding(
                    infinite_rule,
                    "infinite values",
                    [name],
                    int(rows.size),
                    f"{origin}: {infinite_hint}; e.g. {_rows(dataset, rows, column[rows])}",
                )
            )
        with np.errstate(invalid="ignore"):
            huge = np.isfinite(column) & (np.abs(column) > config.max_abs_value)
        if huge.any():
            rows = np.flatnonzero(huge)
            findings.append(
                Finding(
                    "error",
                    "values too large",
                    [name],
                    int(rows.size),
                    f"{origin}: |value| > data.max_abs_value={config.max_abs_value:g}; "
                    f"e.g. {_rows(dataset, rows, column[rows])}",
                )
            )
        finite = column[np.isfinite(column)]
        if finite.size and finite.min() == finite.max():
            constant.append(name)
    if empty:
        findings.append(
            Finding(
                "error",
                "empty columns",
                empty,
                len(empty),
                f"{origin}: no values at all in {len(empty)} column(s); drop them",
            )
        )
    if constant and len(constant) == len(usable):
        findings.append(
            Finding(
                "error",
                "constant data set",
                constant,
                len(constant),
                f"{origin}: every feature has a single value; nothing to learn from",
            )
        )
    elif constant:
        findings.append(
            Finding(
                "warning",
                "constant columns",
                constant,
                len(constant),
                f"{origin}: a single value each; they carry no information",
            )
        )
    duplicates = _duplicate_columns(X, names, usable)
    if duplicates:
        findings.append(
            Finding(
                "warning",
                "duplicate columns",
                [n for group in duplicates for n in group],
                len(duplicates),
                f"{origin}: identical values in " + "; ".join(" = ".join(group) for group in duplicates[:5]),
            )
        )
    return findings, usable


def _duplicate_columns(X: np.ndarray, names: list[str], usable: list[int]) -> list[list[str]]:
    """Groups of feature columns whose values are identical (a cheap signature first, then compare for real)."""
    by_signature: dict[tuple[bytes, float], list[int]] = {}
    for j in usable:
        column = X[:, j]
        by_signature.setdefault((column[:32].tobytes(), float(np.nansum(column))), []).append(j)
    groups = []
    for members in by_signature.values():
        if len(members) > 1 and all(np.array_equal(X[:, members[0]], X[:, j], equal_nan=True) for j in members[1:]):
            groups.append([names[j] for j in members])
    return groups


def labelled_rows(dataset: Dataset) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(rows with a target, their target values) when some rows have none, else (None, dataset.y)."""
    rows = dataset.missing_target_rows
    if dataset.y is None or rows is None or not rows.size:
        return None, dataset.y
    keep = np.ones(dataset.n_rows, dtype=bool)
    keep[rows] = False
    return np.flatnonzero(keep), numeric_or_labels(dataset.y[keep])


def _missing_target_share(dataset: Dataset, config: DataConfig) -> list[Finding]:
    rows = dataset.missing_target_rows
    if rows is None or not rows.size or dataset.n_rows == 0:
        return []
    share = rows.size / dataset.n_rows
    if share <= config.max_missing_target_share:
        return []
    return [
        Finding(
            "error",
            "too many rows without a target",
            [dataset.target_name or "target"],
            int(rows.size),
            f"{dataset.source}: {rows.size} of {dataset.n_rows} rows ({share:.1%}) have no target value; "
            f"data.max_missing_target_share={config.max_missing_target_share:g}",
        )
    ]


def _target_findings(dataset: Dataset, config: DataConfig, problem: ProblemKind) -> list[Finding]:
    _, y = labelled_rows(dataset)
    origin, target = dataset.source, dataset.target_name or "target"
    assert y is not None
    findings: list[Finding] = _missing_target_share(dataset, config)
    is_text = not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_)
    if problem == "regression":
        if is_text:
            findings.append(
                Finding(
                    "error",
                    "non-numeric target",
                    [target],
                    int(y.size),
                    f"{origin}: a regression model needs a numeric target; e.g. {y[:3].tolist()}",
                )
            )
        elif not np.isfinite(y.astype(np.float64)).all():
            rows = np.flatnonzero(~np.isfinite(y.astype(np.float64)))
            findings.append(
                Finding(
                    "error",
                    "non-finite target values",
                    [target],
                    int(rows.size),
                    f"{origin}: NaN or inf targets; e.g. {_rows(dataset, rows, y[rows])}",
                )
            )
        return findings
    classes, counts = np.unique(y, return_counts=True)
    if not is_text and np.issubdtype(y.dtype, np.floating):
        fractional = y[np.isfinite(y) & (y != np.round(y))]
        if fractional.size and classes.size > MAX_DISTINCT_FOR_CLASSIFICATION // 10:
            findings.append(
                Finding(
                    "error",
                    "continuous target",
                    [target],
                    int(classes.size),
                    f"{origin}: {classes.size} distinct non-integer values look like a regression "
                    "target; use a regression model (model.kind linear_regression or ridge)",
                )
            )
            return findings
    if classes.size < 2:
        findings.append(
            Finding(
                "error",
                "single class",
                [target],
                int(classes.size),
                f"{origin}: only class {classes.tolist()} present; classification needs at least 2",
            )
        )
    rare = [
        f"{c!r}: {n}" for c, n in zip(classes.tolist(), counts.tolist(), strict=True) if n < config.min_rows_per_class
    ]
    if rare:
        findings.append(
            Finding(
                "error",
                f"fewer than {config.min_rows_per_class} rows per class",
                [target],
                len(rare),
                f"{origin}: data.min_rows_per_class={config.min_rows_per_class}; "
                + ", ".join(rare[:5])
                + (" ..." if len(rare) > 5 else ""),
            )
        )
    return findings


def _split_findings(dataset: Dataset, config: DataConfig, problem: ProblemKind) -> list[Finding]:
    kept, y = labelled_rows(dataset)
    n_rows = dataset.n_rows if kept is None else int(kept.size)
    n_test = int(np.ceil(n_rows * config.test_size))
    n_train = n_rows - n_test
    if n_train < 2 or n_test < 1:
        return [
            Finding(
                "error",
                "too few rows for the split",
                [],
                n_rows,
                f"{dataset.source}: {n_rows} rows cannot be split with test_size={config.test_size}",
            )
        ]
    if problem == "classification" and y is not None:
        n_classes = np.unique(y).size
        if n_classes >= 2 and (n_test < n_classes or n_train < n_classes):
            return [
                Finding(
                    "error",
                    "too few rows for the split",
                    [],
                    n_rows,
                    f"{dataset.source}: a stratified split of {n_rows} rows with test_size="
                    f"{config.test_size} leaves {n_test} test rows for {n_classes} classes",
                )
            ]
    return []


def check_dataset(dataset: Dataset, config: DataConfig, problem: ProblemKind) -> list[Finding]:
    """Every contract violation and warning in the data, all at once (not just the first)."""
    origin = dataset.source
    findings: list[Finding] = list(dataset.findings)
    if dataset.problem is not None and dataset.problem != problem:
        findings.append(
            Finding(
                "error",
                "model does not fit the data",
                [dataset.target_name or "target"],
                1,
                f"{origin} is a {dataset.problem} data set but the model is for {problem}",
            )
        )
    columns = dataset.info.get("columns", dataset.feature_names)
    counts = Counter(columns)
    duplicated = [name for name, n in counts.items() if n > 1]
    if duplicated:
        positions = "; ".join(
            f"{name!r} at columns {[i + 1 for i, c in enumerate(columns) if c == name]}" for name in duplicated[:5]
        )
        findings.append(
            Finding(
                "error",
                "duplicated column names",
                duplicated,
                len(duplicated),
                f"{origin}: every column needs its own name; {positions}",
            )
        )
    if dataset.y is None:
        wanted = dataset.target_name or "target"
        hint = (
            "name it with --target COLUMN or data.target"
            if dataset.target_name is None or dataset.target_name == "target"
            else "check --target / data.target"
        )
        shown = ", ".join(repr(c) for c in list(columns)[:10]) + (" ..." if len(columns) > 10 else "")
        findings.append(
            Finding(
                "error",
                "missing target column",
                [wanted],
                1,
                f"{origin}: no column {wanted!r} among {len(columns)} columns ({shown}); {hint}",
            )
        )
    if dataset.X.ndim != 2 or dataset.X.shape[1] == 0:
        if not any(f.rule == "no feature columns left" for f in findings):
            findings.append(Finding("error", "no feature columns", [], 0, f"{origin}: the data has no feature columns"))
        return findings
    if dataset.n_rows == 0:
        findings.append(Finding("error", "no data rows", [], 0, f"{origin}: the file has a header but no data rows"))
        return findings
    column_findings, _ = _column_findings(dataset, config)
    findings += column_findings
    if dataset.y is not None:
        if dataset.y.shape[0] != dataset.n_rows:
            findings.append(
                Finding(
                    "error",
                    "target length",
                    [dataset.target_name or "target"],
                    int(dataset.y.shape[0]),
                    f"{dataset.y.shape[0]} targets for {dataset.n_rows} rows",
                )
            )
        else:
            findings += _target_findings(dataset, config, problem)
            findings += _split_findings(dataset, config, problem)
    return findings
