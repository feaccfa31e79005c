"""How the last layer's values become the result arrays, chunk by chunk, written into preallocated output rows."""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy.special import expit


def _all_finite(values: np.ndarray) -> bool:
    """np.isfinite(values).all() for a C-contiguous array, in one BLAS pass without a temporary.

    The sum of squares is finite only if every value is; only when it is not (a NaN / inf, or |values| so large
    that the squares overflow) is every value checked.
    """
    flat = values.reshape(-1)
    return bool(np.isfinite(np.dot(flat, flat))) or bool(np.isfinite(values).all())


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _copy_all(values: np.ndarray, out: np.ndarray) -> None:
    out[:] = values


def _copy_first_column(values: np.ndarray, out: np.ndarray) -> None:
    out[:] = values[:, 0]


def _write_positive(values: np.ndarray, out: np.ndarray) -> None:
    np.greater(values[:, 0], 0, out=out, casting="unsafe")


def _write_row_argmax(values: np.ndarray, out: np.ndarray) -> None:
    """np.argmax(values, axis=1) into out, three times faster for a few columns.

    numpy's argmax loops row by row over a short last axis; on the transposed block the max down each column is
    one vectorised pass per class. The first maximal column wins, as with np.argmax.
    """
    n_columns = values.shape[1]
    by_class = np.ascontiguousarray(values.T)
    is_max = by_class == by_class.max(axis=0)
    np.subtract(n_columns - 1, (is_max * _reversed_index(n_columns)).max(axis=0), out=out, casting="unsafe")


@cache
def _reversed_index(n_columns: int) -> np.ndarray:
    """Column (n_columns - 1 - index): over the maximal columns of a row it is largest for the first one."""
    return np.arange(n_columns - 1, -1, -1, dtype=np.min_scalar_type(n_columns))[:, None]


def _write_logistic_proba(values: np.ndarray, out: np.ndarray) -> None:
    out[:, 1] = expit(values[:, 0].astype(np.float64))
    np.subtract(1.0, out[:, 1], out=out[:, 0])


def _write_softmax(values: np.ndarray, out: np.ndarray) -> None:
    out[:] = _softmax(values.astype(np.float64))
