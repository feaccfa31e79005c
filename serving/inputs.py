"""A /predict request body, checked against the served version's data contract.

Accepted (KServe V1 / MLflow ``instances``): ``{"instances": [[f1, f2, ...], ...]}`` in the contract's column
order, or ``{"instances": [{"column": value, ...}, ...]}`` by name. For a model of numbers only, a value is a JSON
number; ``null`` (and the ``NaN`` / ``Infinity`` literals Python's json writes) count as missing, imputed when the
model was trained with ``data.impute``, else refused. For a model of a mixed table (categorical, datetime or boolean
columns), a row carries text categories and dates as strings (``{"colour": "red", "size": 3.5, "when":
"2024-03-01"}``), encoded with the contract's column specs (`mlops_pipeline.data.encode_rows`, which encodes like
batch scoring reads files); the target and the columns left out of the features (a name per row) are ignored with a
warning, other unknown keys refused; a category the training data never had is a warning (or refused under
``--unknown-categories error``), and missing cells go to the model when it handles them. Everything else is
refused with a `RequestError` whose message names the fault: the row (``instances[i]``, counted from 0), the column
and the value. The rows become a matrix in `mlops_pipeline.data` (`rows_to_matrix`, `encode_rows`, shared with the
library's other readers); the body's shape and the HTTP status are decided here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import orjson

from mlops_pipeline.contract import DataContract, apply_missing_policy, check_ranges
from mlops_pipeline.data import RowsError, encode_rows, json_type, rows_to_matrix
from mlops_pipeline.features import ColumnSpec
from mlops_pipeline.findings import Finding, errors_in

MAX_LISTED = 20  # errors listed in one answer
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
    # a mixed table: the numeric columns (ranges apply to numbers only: not to category codes, nor to dates, whose
    # moving past the training range is drift, not a bad request) and the contract of just those columns
    numeric: np.ndarray | None = None
    numeric_contract: DataContract | None = None

    @classmethod
    def of(cls, contract: DataContract, columns: Sequence[ColumnSpec] = ()) -> ContractLimits:
        low = np.array([f.min for f in contract.features], dtype=np.float64)
        high = np.array([f.max for f in contract.features], dtype=np.float64)
        if not is_mixed(columns):
            return cls(low, high)
        numeric = np.array([j for j, spec in enumerate(columns) if spec.kind == "numeric"], dtype=np.intp)
        features = [contract.features[j] for j in numeric]
        return cls(low[numeric], high[numeric], numeric, dataclasses.replace(contract, features=features))


def is_mixed(columns: Sequence[ColumnSpec]) -> bool:
    """A model of a mixed table: some column is not a plain number, so rows may carry text, dates, booleans."""
    return any(spec.kind != "numeric" for spec in columns)


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
            400, f'the body must be a JSON object {{"instances": [...]}}, got a JSON {json_type(payload)}'
        )
    unknown = sorted(k for k in payload if k != "instances")
    if unknown:
        raise RequestError(400, f"unknown key(s) {unknown} in the body; the only key is 'instances'")
    if "instances" not in payload:
        raise RequestError(400, "the body has no 'instances' key: send {\"instances\": [[...], ...]}")
    instances = payload["instances"]
    if not isinstance(instances, list):
        raise RequestError(400, f"'instances' must be a list of rows, got a JSON {json_type(instances)}")
    if not instances:
        raise RequestError(422, "'instances' is empty: send at least one row")
    if len(instances) > max_rows:
        raise RequestError(
            413, f"{len(instances)} rows in one request; at most {max_rows} are accepted (--max-rows): split the batch"
        )
    return instances


def _rows_matrix(instances: list[Any], contract: DataContract) -> np.ndarray:
    """Rows of numbers (or None) in contract order, or a RequestError listing every row/column at fault."""
    try:
        return rows_to_matrix(instances, contract.feature_names, max_errors=MAX_LISTED)
    except RowsError as exc:
        malformed = bool(exc.errors) and all(e["rule"] == "malformed row" for e in exc.errors)
        raise RequestError(400 if malformed else 422, str(exc), exc.errors) from None


def _finding_errors(findings: list[Finding]) -> list[dict[str, Any]]:
    return [
        {"rule": f.rule, "columns": f.columns[:MAX_LISTED], "count": f.count, "detail": str(f)}
        for f in errors_in(findings)
    ]


def _without_known_extras(instances: list[Any], contract: DataContract) -> tuple[list[Any], list[str]]:
    """Rows by name without the keys the contract knows but the model does not take (the target, the columns left
    out of the features such as a name per row), so a row copied from the training file is answered; and those
    keys, for a warning. Any other unknown key stays, and is refused naming it (a typo is not silently dropped)."""
    known = {contract.target, *(d.name for d in contract.dropped)} - {None} - set(contract.feature_names)
    if not known or not isinstance(instances[0], dict):
        return instances, []
    ignored: dict[str, None] = {}
    rows = []
    for row in instances:
        if isinstance(row, dict) and not known.isdisjoint(row):
            ignored.update(dict.fromkeys(key for key in row if key in known))
            row = {key: value for key, value in row.items() if key not in known}
        rows.append(row)
    return rows, list(ignored)


def _encoded_rows(
    instances: list[Any], contract: DataContract, columns: Sequence[ColumnSpec], unknown: Literal["warning", "error"]
) -> tuple[np.ndarray, list[Finding]]:
    """A mixed table's rows as the encoded matrix (category codes, days since 1970, 0/1), or a RequestError."""
    rows, ignored = _without_known_extras(instances, contract)
    try:
        X, findings = encode_rows(rows, columns, max_errors=MAX_LISTED, unknown=unknown)
    except RowsError as exc:
        malformed = bool(exc.errors) and all(e.get("rule") == "malformed row" for e in exc.errors)
        raise RequestError(400 if malformed else 422, str(exc), exc.errors) from None
    if ignored:
        detail = f"{ORIGIN}: the training file's target or columns left out of the features; ignored"
        findings.append(Finding("warning", "columns not used by the model", ignored, len(ignored), detail))
    return np.ascontiguousarray(X), findings


def check_request(
    body: bytes,
    contract: DataContract,
    limits: ContractLimits,
    max_rows: int,
    *,
    columns: Sequence[ColumnSpec] = (),
    unknown: Literal["warning", "error"] = "warning",
) -> CheckedRows:
    """The body's rows as a float64 matrix in contract order, checked against the contract, or a RequestError.

    `columns` are the contract's column specs: for a mixed table, rows are encoded with them, and a category never
    seen in training is a warning or (`unknown="error"`) refused."""
    instances = _instances(parse_body(body), max_rows)
    findings: list[Finding] = []
    if is_mixed(columns):
        X, findings = _encoded_rows(instances, contract, columns, unknown)
    else:
        X = _rows_matrix(instances, contract)
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
    numbers = X if limits.numeric is None else X[:, limits.numeric]
    with np.errstate(invalid="ignore"):
        outside = bool((np.less(numbers, limits.low) | np.greater(numbers, limits.high)).any())
    if outside:
        findings += check_ranges(numbers, limits.numeric_contract or contract, ORIGIN, beyond_tolerance="error")
        errors = _finding_errors(findings)
        if errors:
            raise RequestError(
                422,
                f"value(s) beyond the training range by more than the contract's tolerance "
                f"({contract.range_tolerance:g} x range): {errors[0]['detail']}",
                errors,
            )
    return CheckedRows(X, [str(f) for f in findings if f.severity == "warning"])
