"""Column types and the encoded form every part of the pipeline shares.

A table is read once into an *encoded matrix*: one float64 column per raw feature column, in the contract's order,
so every numpy code path (splits, fingerprints, chunked reading, ranges, drift) works on mixed tables unchanged.
What a cell becomes depends on its column's kind:

| kind        | encoded value                                                    | missing cell |
|-------------|------------------------------------------------------------------|--------------|
| numeric     | the number                                                       | NaN          |
| boolean     | 0.0 / 1.0                                                        | NaN          |
| categorical | the index of the value in `categories` (0, 1, ...);               | NaN          |
|             | `UNKNOWN_CODE` (-1.0) for a value not among them                 |              |
| datetime    | days since 1970-01-01T00:00 (UTC, fractional for times of day)  | NaN          |

Categorical values are compared as strings (`str(value).strip()`), so a column the user names as categorical may
hold integers. `categories` are those of the training split, most frequent first (ties by value), at most
`MAX_CATEGORIES`: HistGradientBoosting takes at most 255 bins and keeps one for missing values.

The model turns the encoded matrix into its own inputs (one-hot, date parts, imputation, scaling): see
`mlops_pipeline.features` for those steps and the pickle-free int8 form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

ColumnKind = Literal["numeric", "boolean", "categorical", "datetime"]
# What a column can be set to in `data.columns` (config): a kind, "identifier" (left out of the features, like a
# detected identifier or free-text column) or "drop" (left out, no warning).
ColumnSetting = Literal["numeric", "boolean", "categorical", "datetime", "identifier", "drop"]

UNKNOWN_CODE = -1.0
MAX_CATEGORIES = 254
EPOCH = "1970-01-01T00:00:00"


@dataclass(frozen=True)
class ColumnSpec:
    """One feature column: its kind, why it was typed so (shown in the data-quality table), and for categories the
    values in code order; for dates whether times of day occur and the text format they were read with."""

    name: str
    kind: ColumnKind
    reason: str = ""
    categories: tuple[str, ...] | None = None
    date_format: str | None = None  # a strptime format, or None for ISO 8601 / native date columns
    has_time: bool = False

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["categories"] = None if self.categories is None else list(self.categories)
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ColumnSpec:
        categories = raw.get("categories")
        return cls(**{**raw, "categories": None if categories is None else tuple(str(c) for c in categories)})


@dataclass(frozen=True)
class DroppedColumn:
    """A column left out of the features, and why (an identifier, free text, the user's `drop`)."""

    name: str
    reason: str


def is_all_numeric(specs: list[ColumnSpec]) -> bool:
    """True when no column needs more than today's numeric path (numbers and booleans only)."""
    return all(spec.kind in ("numeric", "boolean") for spec in specs)
