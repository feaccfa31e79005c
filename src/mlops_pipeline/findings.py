"""Findings: one broken (or suspicious) data rule, with where it happened and a few examples.

Shared by the loader (cells that are not numbers), the training-time checks and the inference-time contract, so
every message has the same shape: file, rule, column(s), count, example rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Severity = Literal["error", "warning"]
MAX_EXAMPLES = 5


class DataValidationError(ValueError):
    """The data breaks the contract; the message lists every violation with its rule, columns and counts."""

    def __init__(self, message: str, findings: Sequence[Finding] = ()):
        super().__init__(message)
        self.findings = list(findings)


@dataclass(frozen=True)
class Finding:
    severity: Severity
    rule: str
    columns: list[str]
    count: int
    detail: str

    def __str__(self) -> str:
        shown = ", ".join(self.columns[:MAX_EXAMPLES]) + (" ..." if len(self.columns) > MAX_EXAMPLES else "")
        where = f" [column{'s' if len(self.columns) > 1 else ''} {shown}]" if self.columns else ""
        return f"{self.severity}: {self.rule}{where}: {self.detail} (count {self.count})"

    def as_row(self) -> dict[str, object]:
        """One row of the data-quality table artifact."""
        return {
            "severity": self.severity,
            "rule": self.rule,
            "columns": ", ".join(self.columns),
            "count": self.count,
            "detail": self.detail,
        }


def errors_in(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def raise_on_errors(findings: Sequence[Finding], origin: str) -> None:
    """Raise one DataValidationError listing every error (warnings ride along in `.findings`)."""
    errors = errors_in(findings)
    if errors:
        listed = "\n".join(f"  - {f}" for f in errors)
        raise DataValidationError(f"{origin}: {len(errors)} data contract violation(s)\n{listed}", findings)


def row_label(index: int, row_offset: int, csv_lines: bool) -> str:
    """How a user finds a row: the file line for CSV (line 1 is the header), else the 1-based row number."""
    position = row_offset + int(index)
    return f"line {position + 2}" if csv_lines else f"row {position + 1}"


def example_rows(
    indices: np.ndarray | Sequence[int],
    *,
    row_offset: int = 0,
    csv_lines: bool = False,
    values: Sequence[object] | None = None,
) -> str:
    """'line 5, line 9 (...)' or with values 'line 5: 'abc', line 9: 'x'', at most MAX_EXAMPLES shown."""
    indices = list(indices[: MAX_EXAMPLES + 1])
    shown = []
    for i, index in enumerate(indices[:MAX_EXAMPLES]):
        label = row_label(index, row_offset, csv_lines)
        shown.append(f"{label}: {values[i]!r}" if values is not None else label)
    return ", ".join(shown) + (", ..." if len(indices) > MAX_EXAMPLES else "")
