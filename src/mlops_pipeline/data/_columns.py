"""Column typing: a polars frame's columns to the numeric matrix the models take, and the target's values.

Features are float64 (integers and booleans cast, spelled-out missing markers and empty cells NaN); a cell that is
not a number is a finding naming the column, its rows and values, so validation lists every problem at once. The
target stays numbers when every value is one (whole numbers as integers), else string labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops_pipeline.features._encode import NULL_MARKERS
from mlops_pipeline.findings import Finding, example_rows

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
        target = frame.drop_in_place(frame_columns[target_index])
        if target.dtype == pl.String:
            target = pl.select(
                pl.when(target.str.strip_chars().is_in(("", *NULL_MARKERS))).then(None).otherwise(target)
            ).to_series()
        missing = target.is_null()
        if missing.any():
            missing_target_rows = np.flatnonzero(missing.to_numpy())
        y = numeric_or_labels(target)
        del target
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
