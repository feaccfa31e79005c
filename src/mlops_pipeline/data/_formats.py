"""Parsing whole files: CSV/TSV (the header and its delimiter check, features straight to float64, ragged rows
named by line), Parquet and `.npz` (arrays `X`, `y`, `feature_names`), and a file's column names without its rows.

Tables are parsed with polars: the fastest, leanest reader measured on a 1,000,000 x 64 CSV (README.md, "Why polars
reads the tables"; benchmarks/compare_csv_readers.py). Reading only fails on what makes a file unreadable (empty,
binary, truncated, ragged rows, a wrong delimiter); cells that are not numbers are findings (`_columns`).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.data._columns import NULL_MARKERS, ParsedColumns, frame_to_columns, frame_to_encoded
from mlops_pipeline.data._errors import DataLoadError
from mlops_pipeline.data._sources import LocalCopy, SourceSpec
from mlops_pipeline.features._spec import ColumnSetting

_OTHER_DELIMITERS = (";", "\t", "|", ",")


def read_csv_header(path: Path, delimiter: str, origin: str) -> list[str]:
    """Column names from the first line; an empty file, a binary file or a wrong delimiter fail clearly."""
    if path.stat().st_size == 0:
        raise DataLoadError(f"{origin}: the file is empty (0 bytes); expected a header line and data rows")
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError:
        raise DataLoadError(f"{origin}: not UTF-8 text, so not a CSV file (is it Parquet? set data.format)") from None
    if not first.strip():
        raise DataLoadError(f"{origin}: the first line is blank; expected a header line with column names")
    names = [name.strip() for name in next(csv.reader([first], delimiter=delimiter))]
    if len(names) == 1:
        others = [d for d in _OTHER_DELIMITERS if d != delimiter and d in names[0]]
        if others:
            shown = "\\t" if others[0] == "\t" else others[0]
            raise DataLoadError(
                f"{origin}: wrong delimiter? the header has one column {names[0][:60]!r} when split on "
                f'{delimiter!r}, but contains {shown!r}; set data.delimiter (e.g. --set "data.delimiter={shown}")'
            )
    return names


def _find_ragged_line(path: Path, delimiter: str, n_fields: int) -> str:
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        for line_number, row in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
            if len(row) > n_fields:
                return f"line {line_number} has {len(row)} fields, the header has {n_fields}"
    return f"a row has more fields than the header's {n_fields}"


def _polars_error_summary(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _csv_schema(n_columns: int, target_index: int | None, all_text: bool) -> dict[str, Any]:
    import polars as pl

    return {f"c{i}": pl.String if all_text or i == target_index else pl.Float64 for i in range(n_columns)}


def read_csv_columns(
    path: Path,
    delimiter: str,
    target: str | None,
    origin: str,
    settings: Mapping[str, ColumnSetting] | None = None,
) -> tuple[list[str], ParsedColumns]:
    """Parse a CSV: features straight to float64 when every cell is a number (and `settings`, data.columns, types
    no column); otherwise read as text once more, each column typed and encoded (`frame_to_encoded`), so text and
    dates become features and every cell that fits no kind is reported (file line and value), not just the first."""
    import polars as pl

    names = read_csv_header(path, delimiter, origin)
    target_index = names.index(target) if target in names else None

    def read(all_text: bool) -> Any:
        return pl.read_csv(
            path,
            has_header=False,
            skip_rows=1,
            separator=delimiter,
            schema=_csv_schema(len(names), target_index, all_text),
            null_values=list(NULL_MARKERS),
            raise_if_empty=False,
        )

    all_text = False
    try:
        try:
            frame = read(all_text=False)
        except pl.exceptions.ComputeError as exc:
            if "could not parse" not in str(exc):
                raise
            all_text = True
            frame = read(all_text=True)
    except pl.exceptions.ComputeError as exc:
        if "more fields" in str(exc):
            raise DataLoadError(f"{origin}: malformed CSV: {_find_ragged_line(path, delimiter, len(names))}") from None
        raise DataLoadError(f"{origin}: not a readable CSV file ({_polars_error_summary(exc)})") from None
    except pl.exceptions.PolarsError as exc:
        raise DataLoadError(f"{origin}: not a readable CSV file ({_polars_error_summary(exc)})") from None
    frame = drop_trailing_blank_rows(frame)
    if all_text or settings:
        return names, frame_to_encoded(frame, names, target_index, origin, csv_lines=True, settings=settings or {})
    return names, frame_to_columns(frame, names, target_index, origin, csv_lines=True)


def drop_trailing_blank_rows(frame: Any) -> Any:
    """Blank lines at the end of a CSV (an editor's habit) are not rows; blank lines inside stay, so that line
    numbers in messages keep matching the file, and are reported as missing values."""
    import polars as pl

    if frame.height == 0 or frame.width == 0:
        return frame
    blank = frame.select(pl.all_horizontal(pl.all().is_null())).to_series()
    if not blank[-1]:
        return frame
    filled = np.flatnonzero(~blank.to_numpy())
    return frame.head(int(filled[-1]) + 1 if filled.size else 0)


def read_parquet_columns(
    path: Path, target: str | None, origin: str, settings: Mapping[str, ColumnSetting] | None = None
) -> tuple[list[str], ParsedColumns]:
    """Parse a Parquet file: numbers and booleans straight to float64; a file with other column types (or columns
    typed in `settings`, data.columns) typed and encoded column by column (`frame_to_encoded`)."""
    import polars as pl

    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataLoadError(
            f"{origin}: not a readable Parquet file (truncated or corrupt?): {_polars_error_summary(exc)}"
        ) from None
    names = list(frame.columns)
    target_index = names.index(target) if target in names else None
    dtypes = [dtype for i, dtype in enumerate(frame.dtypes) if i != target_index]
    numeric = all(dtype.is_numeric() or dtype in (pl.Boolean, pl.Null) for dtype in dtypes)
    if settings or not numeric:
        return names, frame_to_encoded(frame, names, target_index, origin, csv_lines=False, settings=settings or {})
    return names, frame_to_columns(frame, names, target_index, origin, csv_lines=False)


def read_npz_arrays(path: Path, origin: str) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """X (2-D), y (optional) and feature names (optional array `feature_names`) from an .npz file."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            if "X" not in keys:
                raise DataLoadError(f"{origin}: .npz file has no array 'X' (arrays: {', '.join(sorted(keys))})")
            X = archive["X"]
            y = archive["y"] if "y" in keys else None
            names = [str(n) for n in archive["feature_names"]] if "feature_names" in keys else []
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise DataLoadError(f"{origin}: not a readable .npz file (truncated or corrupt?): {exc}") from None
    if X.ndim != 2:
        raise DataLoadError(f"{origin}: array 'X' must be 2-D (rows x features), got shape {X.shape}")
    if not names:
        names = [f"x{i}" for i in range(X.shape[1])]
    if len(names) != X.shape[1]:
        raise DataLoadError(f"{origin}: {len(names)} feature_names for {X.shape[1]} columns of 'X'")
    return X, y, names


def file_columns(copy: LocalCopy, spec: SourceSpec, origin: str) -> list[str]:
    """The column names of a CSV (its header) or Parquet file (its schema), without reading any row."""
    if spec.format == "csv":
        return read_csv_header(copy.path, spec.delimiter, origin)
    import polars as pl

    try:
        return list(pl.read_parquet_schema(copy.path))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataLoadError(f"{origin}: not a readable Parquet file (truncated or corrupt?): {exc}") from None
