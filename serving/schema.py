"""The `/predict` request schema of the model being served, for `/openapi.json` and `/docs`.

The body is parsed by `inputs` (which names every fault), so this schema documents rather than enforces: one
property per column of the champion's data contract with its type, the training range of a number, the allowed
values (`enum`) of a category and the format of a date, and an example row. It is made again when the champion
changes, so `/docs` always describes the model that answers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mlops_pipeline.contract import DataContract, FeatureSpec
from mlops_pipeline.drift import date_text
from mlops_pipeline.features import EPOCH, ColumnSpec

ENUM_LIMIT = 254  # every training category (MAX_CATEGORIES): Swagger UI shows them as a drop-down


def _date_example(days: float, spec: ColumnSpec) -> str:
    if spec.date_format is None:
        return date_text(days, spec.has_time).replace(" ", "T")
    return (datetime.fromisoformat(EPOCH) + timedelta(days=days)).strftime(spec.date_format)


def column_schema(feature: FeatureSpec, spec: ColumnSpec, unknown: str) -> dict[str, Any]:
    """One column's JSON schema: its type, what it accepts, and an example value."""
    if spec.kind == "categorical":
        categories = list(spec.categories or ())
        otherwise = (
            "another value is refused (the service runs with --unknown-categories error)"
            if unknown == "error"
            else "another value is scored as an unseen category, with a warning"
        )
        return {
            "type": ["string", "null"],
            "enum": [*categories[:ENUM_LIMIT], None],
            "description": f"categorical: one of the {len(categories)} categories of the training data "
            f"(most frequent first); {otherwise}; null = missing.",
            "example": categories[0] if categories else None,
        }
    if spec.kind == "datetime":
        written = f"written as {spec.date_format!r} (strftime)" if spec.date_format else "ISO 8601"
        return {
            "type": ["string", "null"],
            "format": "date-time" if spec.has_time else "date",
            "description": f"datetime: {'a date and time' if spec.has_time else 'a date'}, {written}; training "
            f"range {date_text(feature.min, spec.has_time)} .. {date_text(feature.max, spec.has_time)}; "
            "null = missing.",
            "example": _date_example(feature.mean, spec),
        }
    if spec.kind == "boolean":
        return {
            "type": ["boolean", "null"],
            "description": "boolean: true or false (1 or 0); null = missing.",
            "example": bool(round(feature.mean)),
        }
    low, high = (feature.domain[0], feature.domain[1]) if feature.domain else (feature.min, feature.max)
    example: float | int = round(feature.mean) if feature.integer else round(feature.mean, 4)
    return {
        "type": ["number", "null"],
        "description": f"numeric{' (whole numbers in training)' if feature.integer else ''}: "
        f"{'domain' if feature.domain else 'training range'} [{low:g}, {high:g}]; null = missing.",
        "example": example,
    }


def request_schema(
    contract: DataContract, columns: list[ColumnSpec], *, max_rows: int, unknown: str = "warning"
) -> dict[str, Any]:
    """The /predict body: `instances`, rows by column name (described per column) or in the contract's order."""
    properties = {
        feature.name: column_schema(feature, spec, unknown)
        for feature, spec in zip(contract.features, columns, strict=True)
    }
    names = contract.feature_names
    by_name = {
        "title": "Row by column name",
        "type": "object",
        "properties": properties,
        "required": names,
        "description": "One row: every feature column by name, in any order.",
    }
    in_order = {
        "title": "Row in contract order",
        "type": "array",
        "minItems": len(names),
        "maxItems": len(names),
        "prefixItems": [{"title": name, **properties[name]} for name in names],
        "description": f"One row: the {len(names)} values in the contract's column order.",
    }
    kinds = sorted({spec.kind for spec in columns})
    example_row = {name: schema.get("example") for name, schema in properties.items()}
    return {
        "title": "PredictRequest",
        "type": "object",
        "required": ["instances"],
        "additionalProperties": False,
        "properties": {
            "instances": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_rows,
                "items": {"anyOf": [by_name, in_order]},
                "description": f"Rows to predict ({len(names)} columns: {', '.join(kinds)}); "
                f"at most {max_rows} per request.",
            }
        },
        "example": {"instances": [example_row]},
    }
