"""Mixed-type tables: column kinds, the encoded matrix, and the model steps that turn it into features."""

from mlops_pipeline.features._detect import detect_columns
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
from mlops_pipeline.features._steps import (
    MIN_CATEGORY_ROWS,
    DateParts,
    FeatureFamily,
    TableEncoder,
    categorical_output_mask,
    column_specs,
    feature_steps,
    numeric_specs,
    preprocessing_family,
)

__all__ = [
    "EPOCH",
    "MAX_CATEGORIES",
    "MIN_CATEGORY_ROWS",
    "UNKNOWN_CODE",
    "ColumnKind",
    "ColumnSetting",
    "ColumnSpec",
    "DateParts",
    "DroppedColumn",
    "FeatureFamily",
    "TableEncoder",
    "categorical_output_mask",
    "column_specs",
    "detect_columns",
    "encode_frame",
    "feature_steps",
    "is_all_numeric",
    "numeric_specs",
    "preprocessing_family",
]
