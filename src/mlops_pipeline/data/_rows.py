"""Rows as the online service receives them: JSON rows, lists in the contract's column order or objects by column
name, to the float64 feature matrix, with every row and column at fault named.

A value is a JSON number; ``null`` (and the ``NaN`` / ``Infinity`` literals Python's json writes) count as missing
(NaN here; the contract's missing-value policy decides). A boolean, a string, a list ... is refused. Each error is a
dict (``rule``, ``row`` counted from 0, ``column``/``columns``, ``detail``) that the service returns as it is.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

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


def rows_to_matrix(instances: list[Any], names: Sequence[str], max_errors: int = 20) -> np.ndarray:  # noqa: C901
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
                        "detail": f"instances[{i}]: unknown column(s) {_names(unknown)}; the contract's "
                        f"columns are {_names(names)}",
                    }
                )
            if missing or unknown:
                continue
            values = [row[name] for name in names]
        elif not by_name and isinstance(row, list):
            if len(row) != n:
                errors.append(
                    {
                        "rule": "wrong number of columns",
                        "row": i,
                        "detail": f"instances[{i}]: {len(row)} values; the model takes {n} columns in "
                        f"contract order ({_names(names)})",
                    }
                )
                continue
            values = row
        else:
            form = "an object of column: value" if by_name else f"a list of {n} numbers"
            errors.append(
                {
                    "rule": "malformed row",
                    "row": i,
                    "detail": f"instances[{i}]: a JSON {json_type(row)}; every row must be {form}, like instances[0]",
                }
            )
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


def _names(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _summary(errors: list[dict[str, Any]]) -> str:
    first = errors[0]["detail"]
    return first if len(errors) == 1 else f"{first} (and {len(errors) - 1} more error(s), listed in 'errors')"
