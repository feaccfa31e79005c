"""Rows as the online service receives them: JSON rows, lists in the contract's column order or objects by column
name, to the float64 feature matrix, with every row and column at fault named.

`rows_to_matrix` (every feature numeric): a value is a JSON number; ``null`` (and the ``NaN`` / ``Infinity``
literals Python's json writes) count as missing (NaN here; the contract's missing-value policy decides). A boolean,
a string, a list ... is refused. `encode_rows` (features of any kind, `features._spec`): numbers, strings, booleans
and ``null`` by column, encoded like a file's columns (`features.encode_frame`: categories as text, dates in the
column's format). Each error is a dict (``rule``, ``row`` counted from 0, ``column``/``columns``, ``detail``) that
the service returns as it is.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlops_pipeline.features._encode import UnknownPolicy, encode_frame
from mlops_pipeline.features._spec import ColumnSpec
from mlops_pipeline.findings import Finding

_NUMBER_TYPES = frozenset({int, float})  # bool is an int subclass, but `type(True) is bool`: refused


class RowsError(ValueError):
    """Rows that cannot become a feature matrix; `errors` lists the faults (empty for a value too large)."""

    def __init__(self, message: str, errors: Sequence[dict[str, Any]] = ()):
        super().__init__(message)
        self.errors = list(errors)


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (`null`, `boolean`, `number`, `string`, `array`, `object`)."""
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _value_error(row: int, column: str, value: Any) -> dict[str, Any] | None:
    if value is None or type(value) in _NUMBER_TYPES:
        return None
    shown = json.dumps(value)[:40] if not isinstance(value, str) else repr(value[:40])
    return {
        "rule": "non-numeric value",
        "row": row,
        "column": column,
        "detail": f"instances[{row}][{column!r}]: {shown} is a JSON {json_type(value)}, not a number",
    }


def rows_to_matrix(instances: list[Any], names: Sequence[str], max_errors: int = 20) -> np.ndarray:
    """Rows of numbers (or None) as a float64 matrix in `names` order, or a RowsError listing every row/column at
    fault (up to about `max_errors`). One pass per cell kind: the common case, every row a list of n JSON numbers,
    is one numpy conversion."""
    n = len(names)
    # the common case in one pass of C loops: every row a list of n JSON numbers
    if (
        all(type(row) is list and len(row) == n for row in instances)
        and set(map(type, itertools.chain.from_iterable(instances))) <= _NUMBER_TYPES
    ):
        try:
            return np.array(instances, dtype=np.float64)
        except OverflowError:  # an integer beyond float64: the slow path words it
            pass
    position = {name: j for j, name in enumerate(names)}
    by_name = isinstance(instances[0], dict)
    rows: list[list[Any]] = []
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(instances):
        values = _row_values(i, row, names, position, by_name, errors, max_errors, cells="numbers")
        if values is None:
            continue
        if not all(type(v) in _NUMBER_TYPES for v in values):  # the slow path only for a row with a bad cell
            bad = [e for j, v in enumerate(values) if (e := _value_error(i, names[j], v)) is not None]
            if bad:
                errors += bad
                continue
            values = [np.nan if v is None else v for v in values]
        rows.append(values)
        if len(errors) >= max_errors:
            break
    if errors:
        raise RowsError(_summary(errors), errors)
    try:
        return np.array(rows, dtype=np.float64)
    except OverflowError:  # an integer beyond float64 (|x| > 1.8e308)
        raise RowsError("a value is too large for a float64 number (|x| > 1.8e308)") from None


_SCALAR_TYPES = frozenset({int, float, str, bool, type(None)})


def encode_rows(
    instances: list[Any], columns: Sequence[ColumnSpec], *, max_errors: int = 20, unknown: UnknownPolicy = "warning"
) -> tuple[np.ndarray, list[Finding]]:
    """Rows (objects by column name, or lists in contract order) of numbers, strings, booleans or null as the
    encoded matrix, and the warnings seen (unseen categories); a RowsError lists every row/column at fault.

    An all-numeric contract takes `rows_to_matrix` as before; other contracts accept strings for every kind
    (a number column still needs numbers, as text or JSON). Extra keys in an object are refused, like there."""
    names = [spec.name for spec in columns]
    if all(spec.kind == "numeric" for spec in columns):
        return rows_to_matrix(instances, names, max_errors=max_errors), []
    position = {name: j for j, name in enumerate(names)}
    by_name = isinstance(instances[0], dict)
    cells: list[list[Any]] = [[] for _ in names]
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(instances):
        values = _row_values(i, row, names, position, by_name, errors, max_errors)
        if values is None:
            continue
        for j, value in enumerate(values):
            if type(value) not in _SCALAR_TYPES:
                errors.append(
                    {
                        "rule": "non-scalar value",
                        "row": i,
                        "column": names[j],
                        "detail": f"instances[{i}][{names[j]!r}]: a JSON {json_type(value)}; a cell is a number, "
                        "a string, a boolean or null",
                    }
                )
            cells[j].append(value)
        if len(errors) >= max_errors:
            break
    if errors:
        raise RowsError(_summary(errors), errors)
    # row_offset -1: findings name rows from 0, as instances[i] does
    X, findings = encode_frame(
        dict(zip(names, cells, strict=True)), columns, origin="instances", row_offset=-1, unknown=unknown
    )
    bad = [f for f in findings if f.severity == "error"]
    if bad:
        listed = [{"rule": f.rule, "columns": f.columns, "count": f.count, "detail": str(f)} for f in bad]
        raise RowsError(_summary(listed), listed)
    return X, findings


def _row_values(
    i: int,
    row: Any,
    names: Sequence[str],
    position: dict[str, int],
    by_name: bool,
    errors: list[dict[str, Any]],
    max_errors: int,
    cells: str = "values",
) -> list[Any] | None:
    """One row's values in `names` order, or None after adding its structural errors (shape, columns) to `errors`;
    `cells` names what a list row holds in the malformed-row message ("numbers" for an all-numeric contract)."""
    n = len(names)
    if by_name and isinstance(row, dict):
        missing = [name for name in names if name not in row]
        unknown = [key for key in row if key not in position]
        if missing:
            errors.append(
                {
                    "rule": "missing column",
                    "row": i,
                    "columns": missing[:max_errors],
                    "detail": f"instances[{i}]: missing column(s) {_names(missing)}; the model needs all {n}",
                }
            )
        if unknown:
            errors.append(
                {
                    "rule": "unknown column",
                    "row": i,
                    "columns": unknown[:max_errors],
                    "detail": f"instances[{i}]: unknown column(s) {_names(unknown)}; the contract's columns are "
                    f"{_names(names)}",
                }
            )
        return None if missing or unknown else [row[name] for name in names]
    if not by_name and isinstance(row, list):
        if len(row) == n:
            return row
        errors.append(
            {
                "rule": "wrong number of columns",
                "row": i,
                "detail": f"instances[{i}]: {len(row)} values; the model takes {n} columns in contract order "
                f"({_names(names)})",
            }
        )
        return None
    form = "an object of column: value" if by_name else f"a list of {n} {cells}"
    errors.append(
        {
            "rule": "malformed row",
            "row": i,
            "detail": f"instances[{i}]: a JSON {json_type(row)}; every row must be {form}, like instances[0]",
        }
    )
    return None


def _names(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _summary(errors: list[dict[str, Any]]) -> str:
    first = errors[0]["detail"]
    return first if len(errors) == 1 else f"{first} (and {len(errors) - 1} more error(s), listed in 'errors')"
