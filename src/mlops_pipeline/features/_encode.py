"""`encode_frame`: a table's columns, picked by name, to the encoded matrix described in `_spec.py`.

The table may be a polars DataFrame (the fast path: every column is turned by vectorised polars expressions), a
pandas DataFrame, or a mapping of column name to a sequence of values (JSON rows turned into columns). Each column is
encoded by its `ColumnSpec`:

- numeric: numbers as they are; text cells are parsed as numbers; a cell that is not one is an error finding naming
  its rows and values.
- boolean: true/false, yes/no, t/f, y/n, 1/0 (any case) -> 1.0/0.0; anything else is an error finding.
- categorical: the cell as text (`str(value).strip()`; a whole float reads as the integer, so 3.0 and 3 are the same
  category), coded by its index in `categories`; a value not among them is `UNKNOWN_CODE` with one warning finding
  per column naming the values and their count (an error finding under `unknown="error"`).
- datetime: native dates/datetimes, or text read with the spec's `date_format` (a strptime format) or, without one,
  ISO 8601 (`2024-03-01`, `2024-03-01T12:30:00`, `2024-03-01 12:30`, fractional seconds, a UTC offset or `Z`) ->
  days since 1970-01-01 (UTC; fractional for times of day); a cell that does not parse is an error finding.

In every kind an empty cell, null, NaN or a spelled-out missing marker (`NULL_MARKERS`: NA, N/A, NULL, None, ?) is
NaN. A column missing from the table is an error finding and its column NaN. The result is float64, Fortran order,
(n_rows, len(specs)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from mlops_pipeline.features._spec import UNKNOWN_CODE, ColumnSpec
from mlops_pipeline.findings import Finding, example_rows

# Spelled-out "missing" markers (the same list as the loader's `mlops_pipeline.data.NULL_MARKERS`) and the empty cell.
NULL_MARKERS: tuple[str, ...] = ("NA", "N/A", "n/a", "NULL", "null", "None", "none", "?")
MISSING_TEXT: tuple[str, ...] = ("", "nan", "NaN", *NULL_MARKERS)
TRUE_TEXT: tuple[str, ...] = ("true", "t", "yes", "y", "1", "1.0")
FALSE_TEXT: tuple[str, ...] = ("false", "f", "no", "n", "0", "0.0")
# ISO 8601 text, tried in this order on the cells the previous formats left unparsed (usually one pass)
ISO_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
)
ISO_ZONED_FORMATS: tuple[str, ...] = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")
MICROSECONDS_PER_DAY = 86_400_000_000.0
MAX_SHOWN_VALUES = 5
MAX_DISTINCT_LOOKUP = 20_000  # a text column with more distinct values is coded by expressions, not a Python lookup
UnknownPolicy = Literal["warning", "error"]


def encode_frame(
    frame: Any,
    specs: Sequence[ColumnSpec],
    *,
    origin: str,
    row_offset: int = 0,
    csv_lines: bool = False,
    unknown: UnknownPolicy = "warning",
) -> tuple[np.ndarray, list[Finding]]:
    """The encoded float64 matrix (Fortran order, one column per spec) of `frame`, and the findings seen."""
    height = frame_height(frame)
    X = np.empty((height, len(specs)), dtype=np.float64, order="F")
    findings: list[Finding] = []
    missing: list[str] = []
    for position, spec in enumerate(specs):
        series = column_series(frame, spec.name)
        if series is None:
            missing.append(spec.name)
            X[:, position] = np.nan
            continue
        values, finding = encode_series(
            series, spec, origin=origin, row_offset=row_offset, csv_lines=csv_lines, unknown=unknown
        )
        X[:, position] = values
        if finding is not None:
            findings.append(finding)
    if missing:
        findings.insert(
            0,
            Finding(
                "error",
                "missing columns",
                missing,
                len(missing),
                f"{origin}: the model needs {', '.join(repr(m) for m in missing)}",
            ),
        )
    return X, findings


def encode_series(
    series: Any,
    spec: ColumnSpec,
    *,
    origin: str,
    row_offset: int = 0,
    csv_lines: bool = False,
    unknown: UnknownPolicy = "warning",
) -> tuple[np.ndarray, Finding | None]:
    """One column (a polars Series) encoded by its spec: float64 values and at most one finding."""
    if spec.kind == "numeric":
        return _encode_numeric(series, spec.name, origin=origin, row_offset=row_offset, csv_lines=csv_lines)
    if spec.kind == "boolean":
        return _encode_boolean(series, spec.name, origin=origin, row_offset=row_offset, csv_lines=csv_lines)
    if spec.kind == "categorical":
        return _encode_categorical(
            series, spec, origin=origin, row_offset=row_offset, csv_lines=csv_lines, unknown=unknown
        )
    return _encode_datetime(series, spec, origin=origin, row_offset=row_offset, csv_lines=csv_lines)


# --- reading a column out of a polars / pandas frame or a mapping --------------------------------------------------


def frame_height(frame: Any) -> int:
    import polars as pl

    if isinstance(frame, pl.DataFrame):
        return int(frame.height)
    if isinstance(frame, Mapping):
        lengths = {len(values) for values in frame.values()}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        return lengths.pop() if lengths else 0
    if hasattr(frame, "iloc"):
        return len(frame)
    raise TypeError(f"expected a polars or pandas DataFrame or a mapping of columns, got {type(frame).__name__}")


def column_series(frame: Any, name: str) -> Any:
    """The column `name` as a polars Series, or None when the table has no such column."""
    import polars as pl

    if isinstance(frame, pl.DataFrame):
        return frame.get_column(name) if name in frame.columns else None
    if isinstance(frame, Mapping):
        return series_from_values(name, frame[name]) if name in frame else None
    if hasattr(frame, "iloc"):  # pandas
        return _series_from_pandas(name, frame[name]) if name in frame.columns else None
    raise TypeError(f"expected a polars or pandas DataFrame or a mapping of columns, got {type(frame).__name__}")


def series_from_values(name: str, values: Any) -> Any:
    """A polars Series of a sequence of values (numbers, strings, None, booleans, dates; mixed types read as text)."""
    import polars as pl

    if isinstance(values, pl.Series):
        return values.alias(name)
    if isinstance(values, np.ndarray) and values.dtype.kind in "biufM":
        return pl.Series(name, values)
    listed = values.tolist() if isinstance(values, np.ndarray) else list(values)
    try:
        series = pl.Series(name, listed, strict=False)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        series = None
    if (
        series is None
        or series.dtype == pl.Object
        or (series.dtype == pl.Null and any(v is not None for v in listed))
        or (series.dtype == pl.String and any(isinstance(v, float) for v in listed))
    ):
        series = pl.Series(name, [_value_text(v) for v in listed], dtype=pl.String)
    return series


def _value_text(value: Any) -> str | None:
    """One cell of a mixed-type column as text: None and NaN missing, a whole float as the integer (3.0 -> '3')."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:
            return None
        if value.is_integer() and abs(value) < 2.0**53:
            return str(int(value))
    return str(value)


def _series_from_pandas(name: str, column: Any) -> Any:
    import polars as pl

    kind = getattr(column.dtype, "kind", "O")
    if kind in "biuf":
        return pl.Series(name, column.to_numpy(dtype=np.float64, na_value=np.nan))
    if kind == "M":
        if getattr(column.dtype, "tz", None) is not None:
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        return pl.Series(name, column.to_numpy())
    missing = column.isna().to_numpy()
    values = np.array(column.to_numpy(dtype=object), dtype=object)
    values[missing] = None
    return series_from_values(name, values)


# --- text ---------------------------------------------------------------------------------------------------------


def cell_text(series: Any) -> Any:
    """Each cell as stripped text, missing cells (null, NaN, '', NA, N/A, NULL, None, ?) null.

    Integers read as their digits and whole floats as the integer (3.0 -> '3'), so a category column reads the same
    from a CSV with or without missing cells, a pandas frame or JSON numbers.
    """
    import polars as pl

    dtype = series.dtype
    if dtype == pl.String:
        text = series.str.strip_chars()
    elif dtype.is_float():
        whole = series.is_finite() & (series == series.round()) & (series.abs() < 2.0**53)
        text = pl.select(
            pl.when(series.is_nan())
            .then(None)
            .when(whole)
            .then(series.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(series.cast(pl.String))
        ).to_series()
        return text.alias(series.name)
    elif dtype == pl.Null:
        return series.cast(pl.String)
    else:
        text = series.cast(pl.String)
        if not (dtype == pl.Categorical or isinstance(dtype, pl.Enum)):
            return text  # numbers, booleans, dates: no blanks or markers to remove
        text = text.str.strip_chars()
    return pl.select(pl.when(text.is_in(MISSING_TEXT)).then(None).otherwise(text)).to_series().alias(series.name)


def _bad_cells(
    rule: str, name: str, text: Any, bad: Any, detail: str, origin: str, row_offset: int, csv_lines: bool
) -> Finding:
    rows = np.flatnonzero(bad.to_numpy())
    values = text.gather(rows[:MAX_SHOWN_VALUES]).to_list()
    where = example_rows(rows, row_offset=row_offset, csv_lines=csv_lines, values=values)
    return Finding("error", rule, [name], int(rows.size), f"{origin}: {detail}; e.g. {where}")


# --- the four kinds ------------------------------------------------------------------------------------------------


def _encode_numeric(
    series: Any, name: str, *, origin: str, row_offset: int, csv_lines: bool
) -> tuple[np.ndarray, Finding | None]:
    import polars as pl

    dtype = series.dtype
    if dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null:
        return series.cast(pl.Float64).to_numpy(), None
    text = cell_text(series)
    parsed = text.cast(pl.Float64, strict=False)
    bad = parsed.is_null() & text.is_not_null()
    finding = None
    if bad.any():
        finding = _bad_cells(
            "non-numeric values", name, text, bad, "the column holds numbers", origin, row_offset, csv_lines
        )
    return parsed.to_numpy(), finding


def _encode_boolean(
    series: Any, name: str, *, origin: str, row_offset: int, csv_lines: bool
) -> tuple[np.ndarray, Finding | None]:
    import polars as pl

    if series.dtype == pl.Boolean:
        return series.cast(pl.Float64).to_numpy(), None
    text = cell_text(series).str.to_lowercase()
    true, false = text.is_in(TRUE_TEXT), text.is_in(FALSE_TEXT)
    values = pl.select(pl.when(true).then(1.0).when(false).then(0.0).otherwise(None)).to_series()
    bad = values.is_null() & text.is_not_null()
    finding = None
    if bad.any():
        finding = _bad_cells(
            "non-boolean values",
            name,
            text,
            bad,
            "the column holds true/false (yes/no, 1/0)",
            origin,
            row_offset,
            csv_lines,
        )
    return values.to_numpy(), finding


def category_codes(series: Any, categories: Sequence[str]) -> np.ndarray:
    """Each cell's index in `categories` (float64), UNKNOWN_CODE for another value, NaN for a missing cell.

    A text column is coded through its distinct values (few, in a category column): each is stripped and looked up
    once, then the column is cast to an Enum of them and its indices taken from the codes; other columns go through
    `cell_text`.
    """
    import polars as pl

    lookup = {value: float(code) for code, value in enumerate(categories)}
    if series.dtype == pl.String:
        distinct = series.drop_nulls().unique()
        if distinct.len() <= MAX_DISTINCT_LOOKUP:
            keys = distinct.to_list()
            # each cell's index among `keys` (a cast to an Enum of them; missing: one past them), then a take
            table = np.array([*(_code(key.strip(), lookup) for key in keys), None], dtype=np.float64)
            index = series.cast(pl.Enum(keys)).to_physical().fill_null(len(keys)).to_numpy()
            return table[index]
    text = cell_text(series)
    codes_series = text.replace_strict(
        list(lookup), list(lookup.values()), default=UNKNOWN_CODE, return_dtype=pl.Float64
    )
    codes_series = pl.select(pl.when(text.is_null()).then(None).otherwise(codes_series)).to_series()
    return np.asarray(codes_series.to_numpy(), dtype=np.float64)


def _code(text: str, lookup: dict[str, float]) -> float | None:
    if text in MISSING_TEXT:
        return None
    return lookup.get(text, UNKNOWN_CODE)


def _encode_categorical(
    series: Any, spec: ColumnSpec, *, origin: str, row_offset: int, csv_lines: bool, unknown: UnknownPolicy
) -> tuple[np.ndarray, Finding | None]:
    values = category_codes(series, spec.categories or ())
    unseen = values == UNKNOWN_CODE
    if not unseen.any():
        return values, None
    rows = np.flatnonzero(unseen)
    text = cell_text(series)
    counts = text.gather(rows).value_counts(sort=True, name="n")
    shown = ", ".join(f"{v!r} ({n} row{'s' if n != 1 else ''})" for v, n in counts.head(MAX_SHOWN_VALUES).iter_rows())
    more = f" and {counts.height - MAX_SHOWN_VALUES} more value(s)" if counts.height > MAX_SHOWN_VALUES else ""
    where = example_rows(rows, row_offset=row_offset, csv_lines=csv_lines)
    if unknown == "error":
        detail = f"{origin}: values the model was not trained on: {shown}{more}; e.g. {where}"
        return values, Finding("error", "unseen categories", [spec.name], int(rows.size), detail)
    detail = f"{origin}: values the model was not trained on, scored as 'unknown': {shown}{more}; e.g. {where}"
    return values, Finding("warning", "unseen categories", [spec.name], int(rows.size), detail)


def parse_dates(text: Any, date_format: str | None) -> Any:
    """Text cells (stripped, missing null) as a naive UTC Datetime series; cells that do not parse are null.

    With a format: strptime with it. Without: the ISO 8601 formats, each tried on the cells still unparsed.
    """
    import polars as pl

    if date_format is not None:
        return text.str.to_datetime(date_format, strict=False, time_unit="us")
    parsed = None
    for fmt in (*ISO_FORMATS, *ISO_ZONED_FORMATS):
        todo = text if parsed is None else pl.select(pl.when(parsed.is_null()).then(text)).to_series()
        if parsed is not None and not todo.is_not_null().any():
            break
        attempt = todo.str.replace(r"Z$", "+00:00") if fmt.endswith("%z") else todo
        step = attempt.str.to_datetime(fmt, strict=False, time_unit="us")
        if isinstance(step.dtype, pl.Datetime) and step.dtype.time_zone is not None:
            step = step.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        parsed = step if parsed is None else parsed.fill_null(step)
    return parsed


def datetime_days(series: Any) -> Any:
    """A native Date/Datetime series as float days since 1970-01-01 (UTC)."""
    import polars as pl

    if series.dtype == pl.Date:
        return series.cast(pl.Int32).cast(pl.Float64)
    if series.dtype.time_zone is not None:
        series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return series.dt.epoch("us").cast(pl.Float64) / MICROSECONDS_PER_DAY


def _encode_datetime(
    series: Any, spec: ColumnSpec, *, origin: str, row_offset: int, csv_lines: bool
) -> tuple[np.ndarray, Finding | None]:
    import polars as pl

    if series.dtype == pl.Date or isinstance(series.dtype, pl.Datetime):
        return datetime_days(series).to_numpy(), None
    if series.dtype == pl.Null:
        return series.cast(pl.Float64).to_numpy(), None
    text = cell_text(series)
    parsed = parse_dates(text, spec.date_format)
    bad = parsed.is_null() & text.is_not_null()
    finding = None
    if bad.any():
        expected = f"dates in the format {spec.date_format!r}" if spec.date_format else "ISO 8601 dates (2024-03-01)"
        finding = _bad_cells(
            "unparseable dates", spec.name, text, bad, f"the column holds {expected}", origin, row_offset, csv_lines
        )
    return datetime_days(parsed).to_numpy(), finding
