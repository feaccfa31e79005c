"""Mixed-type tables: column kinds, the encoded matrix, and the model steps that turn it into features."""

from mlops_pipeline.features._encode import encode_frame
from mlops_pipeline.features._spec import (
    EPOCH,
    MAX_CATEGORIES,
    UNKNOWN_CODE,
    ColumnKind,
    ColumnSetting,
    ColumnSpec,
    DroppedColumn,
    is_all_numeric,
)

__all__ = [
    "EPOCH",
    "MAX_CATEGORIES",
    "UNKNOWN_CODE",
    "ColumnKind",
    "ColumnSetting",
    "ColumnSpec",
    "DroppedColumn",
    "encode_frame",
    "is_all_numeric",
]
