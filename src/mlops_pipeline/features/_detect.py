"""`detect_columns`: what kind each column of a table is, and why, by one rule per kind applied in this order.

A column's kind comes from `data.columns` when the user names it there; otherwise:

1. **native types** (Parquet, or numbers the CSV reader recognised): booleans -> boolean; numbers -> numeric (0/1
   stays numeric: a low-cardinality integer column is categorical only when `data.columns` says so, and an
   all-numeric table is read exactly as before); dates/datetimes -> datetime.
2. **text** (cells stripped; empty cells and NULL_MARKERS are missing; a column with no value is numeric, and
   validation reports it as empty):
   - every value a number -> numeric;
   - at least half the values numbers, the others not -> an error naming the rows that are text (a typo in a
     numeric column is far likelier than a category that happens to look like numbers; `data.columns` can say
     categorical);
   - every value true/false, yes/no, t/f, y/n (any case) -> boolean;
   - every value a date or date-time in one format -> datetime (at least half of the distinct values in one
     format, the others not: datetime, and an error naming the rows that do not read). Formats tried: ISO 8601
     (`2024-03-01`, `2024-03-01T12:30:00`, ...), then `YYYY/MM/DD`, `DD.MM.YYYY`, `MM/DD/YYYY`, `DD/MM/YYYY`,
     `DD-MM-YYYY`, `MM-DD-YYYY`, `01 Mar 2024`, `Mar 01, 2024` (each with optional `HH:MM[:SS]`). The first
     format that reads every value wins, so when day and month are ambiguous (every field <= 12), slashes read
     month first (US style) and dashes/dots day first; a value with a first field above 12 rules the
     month-first reading out;
   - more than `MAX_CATEGORY_VALUES` distinct values, or more than `IDENTIFIER_SHARE` of the non-missing rows
     distinct (when over `MIN_IDENTIFIER_VALUES`) -> identifier or free text: left out of the features, with a
     warning naming the column;
   - otherwise categorical, its categories most frequent first (ties by value). Values seen in one row only
     are a warning (the model learns little from them).

Every kept column's `reason` says which rule typed it ("text, 3 distinct values"), and the data-quality table
shows it. A table left with no feature column is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_pipeline.features._encode import (
    FALSE_TEXT,
    TRUE_TEXT,
    cell_text,
    encode_series,
    parse_dates,
)
from mlops_pipeline.features._spec import ColumnSetting, ColumnSpec, DroppedColumn
from mlops_pipeline.findings import Finding, example_rows

MAX_CATEGORY_VALUES = 1000
IDENTIFIER_SHARE = 0.5
MIN_IDENTIFIER_VALUES = 20
DATE_SAMPLE = 200  # distinct values a date format is tried on before the whole column
_TIMES = ("", " %H:%M:%S", " %H:%M")
DATE_FORMATS: tuple[str | None, ...] = (
    None,  # ISO 8601
    *(f"%Y/%m/%d{t}" for t in _TIMES),
    *(f"%d.%m.%Y{t}" for t in _TIMES),
    *(f"%m/%d/%Y{t}" for t in _TIMES),
    *(f"%d/%m/%Y{t}" for t in _TIMES),
    *(f"%d-%m-%Y{t}" for t in _TIMES),
    *(f"%m-%d-%Y{t}" for t in _TIMES),
    "%d %b %Y",
    "%b %d, %Y",
    "%d %B %Y",
    "%B %d, %Y",
)
BOOLEAN_TEXT = frozenset(t for t in (*TRUE_TEXT, *FALSE_TEXT) if not t[0].isdigit())
_SWAPPED = {"%m/%d/%Y": "%d/%m/%Y", "%d-%m-%Y": "%m-%d-%Y", "%d.%m.%Y": "%m.%d.%Y"}


def detect_columns(
    frame: Any, settings: Mapping[str, ColumnSetting], *, origin: str, csv_lines: bool
) -> tuple[list[ColumnSpec], list[DroppedColumn], list[Finding]]:
    """Each column of `frame` (features only: the target left out) typed, or left out, with the findings seen.

    `settings` is `data.columns`: a kind forces it, 'identifier' and 'drop' leave the column out; a name that is
    not a column of the frame is an error.
    """
    specs: list[ColumnSpec] = []
    dropped: list[DroppedColumn] = []
    findings: list[Finding] = []
    unknown = [name for name in settings if name not in frame.columns]
    if unknown:
        shown = ", ".join(repr(c) for c in frame.columns[:12]) + (" ..." if frame.width > 12 else "")
        findings.append(
            Finding(
                "error",
                "unknown column in data.columns",
                unknown,
                len(unknown),
                f"{origin}: data.columns names {', '.join(repr(u) for u in unknown)}, not a feature column of the "
                f"file; its columns: {shown}",
            )
        )
    for name in frame.columns:
        setting = settings.get(name)
        if setting in ("drop", "identifier"):
            dropped.append(DroppedColumn(name, f"data.columns: {setting}"))
            continue
        series = frame.get_column(name)
        spec: ColumnSpec | DroppedColumn
        if setting is None:
            spec, finding = _detected(series, origin=origin, csv_lines=csv_lines)
        else:
            spec, finding = _as_set(series, setting, origin=origin, csv_lines=csv_lines)
        if finding is not None:
            findings.append(finding)
        if isinstance(spec, DroppedColumn):
            dropped.append(spec)
        else:
            specs.append(spec)
    if not specs and frame.width:
        left_out = "; ".join(f"{d.name}: {d.reason}" for d in dropped[:5]) + (" ..." if len(dropped) > 5 else "")
        findings.append(
            Finding(
                "error",
                "no feature columns left",
                [d.name for d in dropped],
                len(dropped),
                f"{origin}: every column was left out ({left_out}); name the ones to use in data.columns",
            )
        )
    return specs, dropped, findings


def _as_set(series: Any, setting: ColumnSetting, *, origin: str, csv_lines: bool) -> tuple[ColumnSpec, Finding | None]:
    """The column as the user set it in data.columns; cells that do not fit are an error naming them."""
    import polars as pl

    name = series.name
    reason = f"{setting} (data.columns)"
    if setting == "categorical":
        categories, _ = _categories(cell_text(series))
        return ColumnSpec(name, "categorical", f"{reason}, {len(categories)} distinct values", categories), None
    spec = ColumnSpec(name, setting, reason)  # type: ignore[arg-type]  # drop/identifier never reach here
    if setting == "datetime" and not (series.dtype == pl.Date or isinstance(series.dtype, pl.Datetime)):
        text = cell_text(series)
        _, date_format, has_time, _ = _date_format(text, require_all=False)
        spec = ColumnSpec(name, "datetime", reason, date_format=date_format, has_time=has_time)
    elif setting == "datetime":
        spec = ColumnSpec(name, "datetime", reason, has_time=_native_has_time(series))
    _, finding = encode_series(series, spec, origin=origin, csv_lines=csv_lines)
    return spec, finding


def _detected(series: Any, *, origin: str, csv_lines: bool) -> tuple[ColumnSpec | DroppedColumn, Finding | None]:
    import polars as pl

    name, dtype = series.name, series.dtype
    if dtype == pl.Boolean:
        return ColumnSpec(name, "boolean", "true/false values"), None
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        has_time = _native_has_time(series)
        return ColumnSpec(name, "datetime", "date-times" if has_time else "dates", has_time=has_time), None
    if dtype.is_numeric():
        return ColumnSpec(name, "numeric", "numbers"), None
    if dtype == pl.Null:
        return ColumnSpec(name, "numeric", "no values"), None
    return _detected_text(series, origin=origin, csv_lines=csv_lines)


def _detected_text(series: Any, *, origin: str, csv_lines: bool) -> tuple[ColumnSpec | DroppedColumn, Finding | None]:
    import polars as pl

    name = series.name
    text = cell_text(series)
    present = int(text.len() - text.null_count())
    if present == 0:
        return ColumnSpec(name, "numeric", "no values"), None
    numbers = text.cast(pl.Float64, strict=False)
    n_numbers = int(numbers.len() - numbers.null_count())
    if n_numbers == present:
        return ColumnSpec(name, "numeric", "numbers"), None
    if 2 * n_numbers >= present:
        bad = numbers.is_null() & text.is_not_null()
        return ColumnSpec(name, "numeric", "numbers"), _mixed(name, text, bad, n_numbers, present, origin, csv_lines)
    values = text.drop_nulls().unique(maintain_order=True)  # the distinct values, each typed once
    if values.len() <= len(BOOLEAN_TEXT) and set(values.str.to_lowercase().to_list()) <= BOOLEAN_TEXT:
        shown = ", ".join(_categories(text)[0])
        return ColumnSpec(name, "boolean", f"text, true/false values ({shown})"), None
    is_date, date_format, has_time, ambiguous = _date_format(text, require_all=True, distinct=values)
    if is_date:
        shown = "ISO 8601" if date_format is None else date_format
        reason = f"{'date-times' if has_time else 'dates'}, {shown}"
        if ambiguous:
            first = "month" if (date_format or "").startswith("%m") else "day"
            reason += f" (day and month ambiguous in every value: read {first} first)"
        return ColumnSpec(name, "datetime", reason, date_format=date_format, has_time=has_time), None
    found, mostly = _mostly_dates(values)
    if found:
        spec = ColumnSpec(name, "datetime", f"dates, {mostly or 'ISO 8601'} (most values)", date_format=mostly)
        _, finding = encode_series(series, spec, origin=origin, csv_lines=csv_lines)
        return spec, finding
    distinct = values.len()
    if distinct > MAX_CATEGORY_VALUES or (distinct > IDENTIFIER_SHARE * present and distinct > MIN_IDENTIFIER_VALUES):
        reason = f"identifier or free text: {distinct} distinct values in {present} rows"
        return DroppedColumn(name, reason), _left_out(name, reason, origin)
    categories, counts = _categories(text)
    spec = ColumnSpec(name, "categorical", f"text, {distinct} distinct values", categories)
    once = [value for value, count in zip(categories, counts, strict=True) if count == 1]
    finding = None
    if once:
        shown_once = ", ".join(repr(v) for v in once[:5]) + (" ..." if len(once) > 5 else "")
        finding = Finding(
            "warning",
            "categories seen once",
            [name],
            len(once),
            f"{origin}: {len(once)} of {distinct} values occur in one row only ({shown_once}); the model learns "
            "little from them, and one in the held-out split only is scored as 'unknown'",
        )
    return spec, finding


def _categories(text: Any) -> tuple[tuple[str, ...], list[int]]:
    """Distinct non-missing values, most frequent first (ties by value), and their counts."""
    counts = text.drop_nulls().value_counts(name="n").sort(["n", text.name], descending=[True, False])
    return tuple(str(v) for v in counts.get_column(text.name).to_list()), counts.get_column("n").to_list()


def _date_format(text: Any, *, require_all: bool, distinct: Any = None) -> tuple[bool, str | None, bool, bool]:
    """(found, format, has_time, ambiguous): the first format (None: ISO 8601) reading every distinct value.

    With `require_all=False` (the user said datetime) the format reading the most values is returned when none
    reads them all (encoding then reports the cells it cannot read)."""

    values = distinct if distinct is not None else text.drop_nulls().unique(maintain_order=True)
    if not values.len():
        return True, None, False, False
    sample = values.head(DATE_SAMPLE)
    best: tuple[int, str | None] = (-1, None)
    for date_format in DATE_FORMATS:
        parsed_sample = parse_dates(sample, date_format)
        if parsed_sample.null_count() and require_all:
            continue
        parsed = parse_dates(values, date_format)
        read = int(parsed.len() - parsed.null_count())
        if read == values.len():
            swapped = _SWAPPED.get((date_format or "").split(" ")[0])
            ambiguous = swapped is not None and not parse_dates(values, swapped).null_count()
            return True, date_format, _has_time(parsed), ambiguous
        best = max(best, (read, date_format), key=lambda pair: pair[0])
    return False, best[1], False, False


def _mostly_dates(values: Any) -> tuple[bool, str | None]:
    """(found, the date format (None: ISO 8601)) reading at least half the distinct values of a column it does not
    read entirely, so the cells it cannot read are reported as unparseable dates."""
    sample = values.head(DATE_SAMPLE)
    for date_format in DATE_FORMATS:
        if 2 * parse_dates(sample, date_format).null_count() > sample.len():
            continue
        if 2 * parse_dates(values, date_format).null_count() <= values.len():
            return True, date_format
    return False, None


def _has_time(parsed: Any) -> bool:
    micros = parsed.drop_nulls().dt.epoch("us")
    return bool((micros % 86_400_000_000 != 0).any())


def _native_has_time(series: Any) -> bool:
    import polars as pl

    return series.dtype != pl.Date and _has_time(series)


def _left_out(name: str, reason: str, origin: str) -> Finding:
    return Finding(
        "warning",
        "column left out",
        [name],
        1,
        f"{origin}: {reason}; set data.columns.{name}: categorical to use it as a feature, or drop to silence this",
    )


def _mixed(name: str, text: Any, bad: Any, n_numbers: int, present: int, origin: str, csv_lines: bool) -> Finding:
    import numpy as np

    rows = np.flatnonzero(bad.to_numpy())
    values = text.gather(rows[:5]).to_list()
    where = example_rows(rows, csv_lines=csv_lines, values=values)
    return Finding(
        "error",
        "non-numeric values",
        [name],
        int(rows.size),
        f"{origin}: {n_numbers} of {present} values are numbers, these rows are text: {where}; fix them, or set "
        f"data.columns.{name}: categorical",
    )
