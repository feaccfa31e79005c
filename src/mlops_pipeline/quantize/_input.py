"""The input contract of QuantizedModel: scikit-learn's `validate_data` settings, and the errors it raises told in
the project's words (the expected shape, the columns at fault) ahead of scikit-learn's own message."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

# predict's input checks (validate_data): dense numbers of the fitted width and names, any layout and dtype (cast
# chunk by chunk in the forward pass, no copy of X); empty input gives empty output; NaN / inf: see _validated_input
PREDICT_INPUT_CHECKS: dict[str, Any] = {
    "accept_sparse": False,
    "dtype": "numeric",
    "order": None,
    "copy": False,
    "ensure_all_finite": False,
    "ensure_min_samples": 0,
}


def rejected_input(X: Any, n_features: int, error: Exception, expected_names: list[str] | None = None) -> str:
    """What is wrong with input validate_data rejected, in the words callers read, then scikit-learn's message.

    The lead names the columns at fault or the expected shape (serving and batch errors show it to users);
    scikit-learn's own first line follows, so its wording ("X has 3 features, but ... is expecting 4") is kept.
    """
    columns = [str(column) for column in X.columns] if hasattr(X, "columns") else None
    try:  # a list or another array-like without .shape: numpy's view of it (this is the error path only)
        shape = X.shape if hasattr(X, "shape") else np.asarray(X, dtype=object).shape
    except (ValueError, TypeError):  # a ragged list
        shape = None
    if columns is not None and expected_names is not None and columns != expected_names:
        missing = [name for name in expected_names if name not in set(columns)]
        unexpected = [name for name in columns if name not in set(expected_names)]
        detail = f"missing {missing[:5]}, unexpected {unexpected[:5]}" if missing or unexpected else ""
        lead = f"feature columns do not match the model's: {detail or 'same names in a different order'}"
    elif sparse.issparse(X):
        lead = "sparse input is not supported: pass a dense array"
    elif shape is not None and len(shape) != 2:
        lead = f"expected a 2-D array of rows x {n_features} features, got {len(shape)}-D shape {tuple(shape)}"
        lead += "; reshape a single row with X.reshape(1, -1)" if len(shape) == 1 else ""
    elif shape is not None and shape[1] != n_features:
        lead = f"expected rows of {n_features} features, got {shape[1]} features"
    else:
        lead = "features must be numbers"
    first_line = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
    return f"{lead} ({first_line.strip()})"
