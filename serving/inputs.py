"""A /predict request body, checked against the served version's data contract.

Accepted (KServe V1 / MLflow ``instances``): ``{"instances": [[f1, f2, ...], ...]}`` in the contract's column
order, or ``{"instances": [{"column": value, ...}, ...]}`` by name. A value is a JSON number; ``null`` (and the
``NaN`` / ``Infinity`` literals Python's json writes) count as missing, imputed when the model was trained with
``data.impute``, else refused. Everything else is refused with a `RequestError` whose message names the fault:
the row (``instances[i]``, counted from 0), the column and the value.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from mlops_pipeline.contract import DataContract, apply_missing_policy, check_ranges
from mlops_pipeline.findings import Finding, errors_in

MAX_LISTED = 20  # errors listed in one answer
_NUMBER_TYPES = frozenset({int, float})  # bool is an int subclass, but `type(True) is bool`: refused
ORIGIN = "request"


class RequestError(Exception):
    """A request the service refuses: HTTP `status`, a message naming the fault, and the individual errors."""

    def __init__(self, status: int, message: str, errors: Sequence[dict[str, Any]] = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)[:MAX_LISTED]

    def body(self) -> dict[str, Any]:
        return {"detail": self.message, "errors": self.errors}


@dataclass(frozen=True)
class ContractLimits:
    """The contract's training ranges as arrays, so a request within range costs two vector comparisons; the
    library's `check_ranges` (tolerance, severity, message) runs only when some value is outside."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, contract: DataContract) -> ContractLimits:
        return cls(
            np.array([f.min for f in contract.features], dtype=np.float64),
            np.array([f.max for f in contract.features], dtype=np.float64),
        )


@dataclass(frozen=True)
class CheckedRows:
    X: np.ndarray  # float64, contract column order, imputed where the contract imputes
    warnings: list[str] = field(default_factory=list)


def parse_body(body: bytes) -> Any:
    if not body.strip():
        raise RequestError(400, 'empty request body; send JSON: {"instances": [[...], ...]}')
    try:
        return orjson.loads(body)  # fast; refuses NaN / Infinity literals, deep nesting, huge integers ...
    except orjson.JSONDecodeError:
        pass
    try:  # ... which the standard parser reads (or words the error of, with line and column)
        return json.loads(body)
    except UnicodeDecodeError:
        raise RequestError(400, "request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise RequestError(400, "malformed request: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal with more digits than Python converts
        raise RequestError(400, f"malformed JSON: {exc}") from None


def _instances(payload: Any, max_rows: int) -> list[Any]:
    if not isinstance(payload, dict):
        raise RequestError(
            400, f'the body must be a JSON object {{"instances": [...]}}, got a JSON {_json_type(payload)}'
        )
    unknown = sorted(k for k in payload if k != "instances")
    if unknown:
        raise RequestError(400, f"unknown key(s) {unknown} in the body; the only key is 'instances'")
    if "instances" not in payload:
        raise RequestError(400, "the body has no 'instances' key: send {\"instances\": [[...], ...]}")
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise RequestError(400, f"'instances' must be a list of rows, got a JSON {_json_type(instances)}")
    if not instances:
        raise RequestError(422, "'instances' is empty: send at least one row")
    if len(instances) > max_rows:
        raise RequestError(
            413, f"{len(instances)} rows in one request; at most {max_rows} are accepted (--max-rows): split the batch"
        )
    return instances


def _json_type(value: Any) -> str:
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
        "detail": f"instances[{row}][{column!r}]: {shown} is a JSON {_json_type(value)}, not a number",
    }


def _rows_matrix(instances: list[Any], contract: DataContract) -> np.ndarray:  # noqa: C901 - one pass per cell kind
    """Rows of numbers (or None) in contract order, or a RequestError listing every row/column at fault."""
    names = contract.feature_names
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
                        "columns": missing[:MAX_LISTED],
                        "detail": f"instances[{i}]: missing column(s) {_names(missing)}; the model needs all {n}",
                    }
                )
            if unknown:
                errors.append(
                    {
                        "rule": "unknown column",
                        "row": i,
                        "columns": unknown[:MAX_LISTED],
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
                    "detail": f"instances[{i}]: a JSON {_json_type(row)}; every row must be {form}, like instances[0]",
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
        if len(errors) >= MAX_LISTED:
            break
    if errors:
        status = 400 if all(e["rule"] == "malformed row" for e in errors) else 422
        raise RequestError(status, _summary(errors), errors)
    try:
        return np.array(rows, dtype=np.float64)
    except OverflowError:  # an integer beyond float64 (|x| > 1.8e308)
        raise RequestError(422, "a value is too large for a float64 number (|x| > 1.8e308)") from None


def _names(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _summary(errors: list[dict[str, Any]]) -> str:
    first = errors[0]["detail"]
    return first if len(errors) == 1 else f"{first} (and {len(errors) - 1} more error(s), listed in 'errors')"


def _finding_errors(findings: list[Finding]) -> list[dict[str, Any]]:
    return [
        {"rule": f.rule, "columns": f.columns[:MAX_LISTED], "count": f.count, "detail": str(f)}
        for f in errors_in(findings)
    ]


def check_request(body: bytes, contract: DataContract, limits: ContractLimits, max_rows: int) -> CheckedRows:
    """The body's rows as a float64 matrix in contract order, checked against the contract, or a RequestError."""
    instances = _instances(parse_body(body), max_rows)
    X = _rows_matrix(instances, contract)
    findings: list[Finding] = []
    if not np.isfinite(X).all():  # NaN / inf / null: imputed (warning) or refused, as the contract says
        findings += apply_missing_policy(X, contract, ORIGIN)
        errors = _finding_errors(findings)
        if errors:
            raise RequestError(
                422,
                f"missing or non-finite values (NaN, inf, null) and the model was trained "
                f"without imputation: {errors[0]['detail']}",
                errors,
            )
    with np.errstate(invalid="ignore"):
        outside = bool((np.less(X, limits.low) | np.greater(X, limits.high)).any())
    if outside:
        findings += check_ranges(X, contract, ORIGIN, beyond_tolerance="error")
        errors = _finding_errors(findings)
        if errors:
            raise RequestError(
                422,
                f"value(s) beyond the training range by more than the contract's tolerance "
                f"({contract.range_tolerance:g} x range): {errors[0]['detail']}",
                errors,
            )
    return CheckedRows(X, [str(f) for f in findings if f.severity == "warning"])
