"""The data contract: what the training data looked like, saved with the model (`contract.json`), and the checks of
data a model is later asked to score against it.

It records feature names and order, each feature's kind (numeric, boolean, categorical with its categories,
datetime with its format; features._spec), dtypes, min/max/mean/std per feature (of the encoded values), the
target and its class set, the imputation learned on the training split, the columns left out, and what missing
cells mean (`missing`: "model" lets the model fill them, "error" refuses them). The checks take columns or rows
already read (by `mlops_pipeline.data` for files, by the service for JSON rows) and return findings: missing or
unexpected columns, missing values (imputed when the contract imputes), new class labels, values outside the
training range (within `range_tolerance` of the range: a warning; beyond it: an error). Nothing here reads a file.

    _model.py   FeatureSpec, DataContract (contract.json), learn_contract
    _checks.py  the checks: columns, missing values, ranges, labels, check_chunk
"""

from mlops_pipeline.contract._checks import (
    apply_missing_policy,
    check_chunk,
    check_columns,
    check_labels,
    check_ranges,
)
from mlops_pipeline.contract._model import (
    CONTRACT_FILE,
    CONTRACT_SCHEMA_VERSION,
    DataContract,
    FeatureSpec,
    TargetKind,
    learn_contract,
    target_kind_of,
)
from mlops_pipeline.findings import DataValidationError

__all__ = [
    "CONTRACT_FILE",
    "CONTRACT_SCHEMA_VERSION",
    "DataContract",
    "DataValidationError",
    "FeatureSpec",
    "TargetKind",
    "apply_missing_policy",
    "check_chunk",
    "check_columns",
    "check_labels",
    "check_ranges",
    "learn_contract",
    "target_kind_of",
]
