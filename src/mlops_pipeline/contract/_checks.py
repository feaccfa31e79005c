"""The checks of data a model is asked to score against its contract: columns, missing values, ranges, labels, and
`check_chunk`, all of them for one chunk of rows. Each returns findings; nothing here reads a file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from mlops_pipeline.contract._model import DataContract, FeatureSpec, target_kind_of
from mlops_pipeline.findings import Finding, example_rows
from mlops_pipeline.plain import python_value


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
    known = {*contract.feature_names, contract.target}
    unexpected = [c for c in columns if c not in known and c not in {d.name for d in contract.dropped}]
    if missing:
        renamed = f"; columns the model was not trained on: {_preview(unexpected)}" if unexpected else ""
        findings.append(
            Finding(
                "error",
                "missing columns",
                missing,
                len(missing),
                f"{origin}: the model needs {len(contract.features)} feature columns; "
                f"{len(columns)} columns found: {_preview(columns)}{renamed}",
            )
        )
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
    `range_tolerance` x range a warning, beyond it `beyond_tolerance`. Category codes have no range (an unseen
    category is the encoder's finding), so categorical features are not checked. A date outside the training dates is
    only ever a warning: scoring rows from after the training data is what a deployed model is for (drift reports
    how many)."""
    findings: list[Finding] = []
    dates: list[tuple[str, np.ndarray, np.ndarray]] = []
    mild: list[tuple[str, np.ndarray, np.ndarray]] = []
    severe: list[tuple[str, np.ndarray, np.ndarray]] = []
    # one pass over the chunk: only columns whose smallest or largest value (NaN ignored, as by the comparisons
    # below) leaves the training range are looked at value by value
    lows = np.fmin.reduce(X, axis=0) if X.shape[0] else np.full(X.shape[1], np.nan)
    highs = np.fmax.reduce(X, axis=0) if X.shape[0] else np.full(X.shape[1], np.nan)
    for j, spec in enumerate(contract.features):
        low, high = _allowed_range(spec)
        if spec.kind == "categorical" or not (lows[j] < low or highs[j] > high):
            continue
        column = X[:, j]
        if spec.kind == "datetime":
            with np.errstate(invalid="ignore"):
                rows = np.flatnonzero((column < low) | (column > high))
            dates.append((spec.name, rows, column[rows[:5]]))
            continue
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
    for name, rows, values in dates:
        spec = contract.features[contract.feature_names.index(name)]
        shown = ", ".join(_iso_day(v) for v in values)
        findings.append(
            Finding(
                "warning",
                "dates outside training range",
                [name],
                int(rows.size),
                f"{origin}: training dates {_iso_day(spec.min)} to {_iso_day(spec.max)}; e.g. {shown}",
            )
        )
    return findings


def _iso_day(days: float) -> str:
    """Days since 1970-01-01 (the encoded form of a date) as an ISO date."""
    return str(np.datetime64("1970-01-01") + np.timedelta64(int(np.floor(days)), "D"))


def apply_missing_policy(
    X: np.ndarray,
    contract: DataContract,
    origin: str,
    *,
    row_offset: int = 0,
    csv_lines: bool = False,
    skip: Sequence[str] = (),
) -> list[Finding]:
    """NaN/inf cells: filled in place with the training split's values when the contract imputes; else NaN cells
    are a warning when the model fills them (`contract.missing == "model"`) and errors otherwise; inf is an error
    unless imputed."""
    findings: list[Finding] = []
    imputing = contract.impute_strategy != "none" and contract.impute_values is not None
    model_fills = not imputing and contract.missing == "model"
    fill = contract.impute_values or []
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(X.sum(axis=0))  # no NaN/inf in the column (an overflow only means a closer look)
    for j, name in enumerate(contract.feature_names):
        if name in skip or finite[j]:
            continue
        column = X[:, j]
        if model_fills:  # (a column with only finite values, its sum overflowing, has no NaN/inf rows here)
            findings += _model_fills(column, name, origin, row_offset=row_offset, csv_lines=csv_lines)
            continue
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


def _model_fills(column: np.ndarray, name: str, origin: str, *, row_offset: int, csv_lines: bool) -> list[Finding]:
    """A column's missing cells when the model fills them (a warning), and its infinite values (an error)."""
    findings = []
    for rows, severity, rule, detail in (
        (np.flatnonzero(np.isnan(column)), "warning", "missing values", "the model fills them"),
        (np.flatnonzero(np.isinf(column)), "error", "missing or infinite values", "infinite values"),
    ):
        if rows.size:
            examples = example_rows(rows, row_offset=row_offset, csv_lines=csv_lines)
            findings.append(Finding(severity, rule, [name], int(rows.size), f"{origin}: {detail}; e.g. {examples}"))  # type: ignore[arg-type]
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
