"""Column typing: a polars frame's columns to the numeric matrix the models take, and the target's values.

Features are float64 (integers and booleans cast, spelled-out missing markers and empty cells NaN); a cell that is
not a number is a finding naming the column, its rows and values, so validation lists every problem at once. The
target stays numbers when every value is one (whole numbers as integers), else string labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops_pipeline.features._detect import detect_columns
from mlops_pipeline.features._encode import NULL_MARKERS, encode_frame
from mlops_pipeline.features._spec import ColumnSetting, ColumnSpec, DroppedColumn
from mlops_pipeline.findings import Finding, example_rows

# findings about cells that do not fit their column's kind: the column's missing-value rules skip it
CELL_RULES = frozenset({"non-numeric values", "non-boolean values", "unparseable dates"})

# Spelled-out "missing" markers (NULL_MARKERS) are read as empty cells (NaN, "nan", "inf" are parsed as the floats
# they name).


@dataclass
class ParsedColumns:
    """Feature columns converted to float64 (non-numeric cells NaN), the target as strings/numbers, findings."""

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    findings: list[Finding]
    non_numeric_columns: tuple[str, ...]
    missing_target_rows: np.ndarray | None = None
    columns: list[ColumnSpec] = field(default_factory=list)  # empty: every feature numeric (the numeric path)
    dropped: list[DroppedColumn] = field(default_factory=list)


def numeric_or_labels(values: Any) -> np.ndarray:
    """Target values: numbers when every value parses as one (integers stay integers), else string labels."""
    import polars as pl

    series = values if isinstance(values, pl.Series) else pl.Series(values)
    if series.dtype == pl.String:
        stripped = series.str.strip_chars()
        parsed = stripped.cast(pl.Float64, strict=False)
        if parsed.null_count() == stripped.null_count():
            series = parsed
        else:
            return np.asarray(stripped.to_numpy(), dtype=str)
    elif not (series.dtype.is_numeric() or series.dtype == pl.Boolean):
        return np.asarray(series.cast(pl.String).to_numpy(), dtype=str)
    array = series.cast(pl.Float64).to_numpy()
    finite = array[np.isfinite(array)]
    if finite.size == array.size and np.array_equal(finite, np.round(finite)) and np.abs(finite).max(initial=0) < 2**53:
        return array.astype(np.int64)
    return array


def _feature_series(series: Any) -> tuple[Any, Any]:
    """(float64 series, mask of cells that are not numbers or None); spelled-out missing markers become null."""
    import polars as pl

    if series.dtype == pl.Float64:
        return series, None
    if series.dtype.is_numeric() or series.dtype == pl.Boolean:
        return series.cast(pl.Float64), None
    text = series.cast(pl.String) if series.dtype != pl.String else series
    text = text.str.strip_chars()
    text = pl.select(pl.when(text.is_in(("", *NULL_MARKERS))).then(None).otherwise(text)).to_series()
    parsed = text.cast(pl.Float64, strict=False)
    return parsed, parsed.is_null() & text.is_not_null()


def target_values(target: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """The target column's values (`numeric_or_labels`) and the rows where it is missing (None: none)."""
    import polars as pl

    if target.dtype == pl.String:
        target = pl.select(
            pl.when(target.str.strip_chars().is_in(("", *NULL_MARKERS))).then(None).otherwise(target)
        ).to_series()
    missing = target.is_null() | target.is_nan() if target.dtype.is_float() else target.is_null()
    missing_rows = np.flatnonzero(missing.to_numpy()) if missing.any() else None
    return numeric_or_labels(target), missing_rows


def frame_to_columns(
    frame: Any, names: list[str], target_index: int | None, origin: str, *, csv_lines: bool, row_offset: int = 0
) -> ParsedColumns:
    """Split a polars frame (columns in `names` order) into a column-major float64 matrix and the target.

    Columns are moved out of the frame one at a time, so the frame shrinks while the matrix fills: the peak is about
    one copy of the data, not two. The frame is empty afterwards.
    """
    import polars as pl

    height = frame.height
    frame_columns = list(frame.columns)
    feature_indices = [i for i in range(len(names)) if i != target_index]
    findings: list[Finding] = []
    non_numeric: list[str] = []
    y = None
    missing_target_rows = None
    if target_index is not None:
        y, missing_target_rows = target_values(frame.drop_in_place(frame_columns[target_index]))
    X = np.empty((height, len(feature_indices)), dtype=np.float64, order="F")
    for position, index in enumerate(feature_indices):
        column = frame.drop_in_place(frame_columns[index])
        if (column.dtype.is_integer() or column.dtype == pl.Boolean) and not column.null_count():
            # numpy casts while filling X: the same float64 values as polars' cast, without its float64 copy
            X[:, position] = column.to_numpy()
            del column
            continue
        converted, bad = _feature_series(column)
        if bad is not None and bad.any():
            name = names[index]
            rows = np.flatnonzero(bad.to_numpy())
            values = column.gather(rows[:5]).cast(pl.String).to_list()
            non_numeric.append(name)
            findings.append(
                Finding(
                    "error",
                    "non-numeric values",
                    [name],
                    int(rows.size),
                    f"{origin}: every feature must be a number; e.g. "
                    f"{example_rows(rows, row_offset=row_offset, csv_lines=csv_lines, values=values)}",
                )
            )
        X[:, position] = converted.to_numpy()  # nulls become NaN
        del column, converted
    feature_names = [names[i] for i in feature_indices]
    return ParsedColumns(X, y, feature_names, findings, tuple(non_numeric), missing_target_rows)


def frame_to_encoded(
    frame: Any,
    names: list[str],
    target_index: int | None,
    origin: str,
    *,
    csv_lines: bool,
    settings: Mapping[str, ColumnSetting],
) -> ParsedColumns:
    """A table with text, dates or user-typed columns: each column typed (`detect_columns`, with `data.columns`
    as `settings`) and encoded (`encode_frame`); identifiers and dropped columns left out. The frame's columns
    are positional (c0, c1, ... in `names` order)."""
    frame = frame.rename(dict(zip(frame.columns, _unique(names), strict=True)))
    findings: list[Finding] = []
    y = None
    missing_target_rows = None
    target = names[target_index] if target_index is not None else None
    if target is not None:
        y, missing_target_rows = target_values(frame.drop_in_place(target))
    if target is not None and target in settings:
        findings.append(
            Finding(
                "error",
                "target in data.columns",
                [target],
                1,
                f"{origin}: data.columns sets {target!r}, the target column; it lists feature columns only",
            )
        )
    features_settings = {name: setting for name, setting in settings.items() if name != target}
    specs, dropped, detected = detect_columns(frame, features_settings, origin=origin, csv_lines=csv_lines)
    findings += detected
    X, encoded = encode_frame(frame, specs, origin=origin, csv_lines=csv_lines)
    seen = {(f.rule, tuple(f.columns)) for f in findings}
    findings += [f for f in encoded if (f.rule, tuple(f.columns)) not in seen]
    bad = {c for f in findings if f.severity == "error" and f.rule in CELL_RULES for c in f.columns}
    non_numeric = tuple(spec.name for spec in specs if spec.name in bad)
    feature_names = [spec.name for spec in specs]
    return ParsedColumns(X, y, feature_names, findings, non_numeric, missing_target_rows, specs, dropped)


def _unique(names: list[str]) -> list[str]:
    """Column names made unique for a frame (a repeated header name is reported by validation, not here)."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique
