"""The runtime of QuantizedModel: the weights compiled once at load, and the chunked forward pass of predict.

`AffineRuntime` is a mixin of `QuantizedModel` (`_estimator.py`), which holds the fitted state it reads
(`layers_`, `input_mean_`, `input_scale_`, `features_`, `hidden_activation_`, `problem_`, `classes_`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlops_pipeline.quantize._errors import ModelInputError
from mlops_pipeline.quantize._format_features import FeatureBlock
from mlops_pipeline.quantize._outputs import _all_finite
from mlops_pipeline.quantize._table_layer import TableFirstLayer
from mlops_pipeline.quantize._weights import StoredLayer, _activate

# Above this |mean / scale| of some feature, float32 would lose the signal to cancellation once the standardisation
# is folded into the weights, so the means are stored and the first layer computed in float64 instead.
_FLOAT32_MAX_OFFSET = 100.0
# predict works on chunks of rows whose widest buffer fits in this (a core's L2 on the benchmark machine): on digits
# rows, 4,096-row chunks for logistic regression and 2,048 for a 100-unit MLP were the fastest (vs 1,024: -25%).
_CACHE_BYTES = 1 << 20
_MIN_CHUNK_ROWS = 256


def _needs_float64(mean: np.ndarray, scale: np.ndarray) -> bool:
    return bool(np.any(np.abs(mean) / scale > _FLOAT32_MAX_OFFSET))


class AffineRuntime:
    """Compiled weights and the chunked forward pass (see `_estimator.py`'s module docstring)."""

    layers_: list[StoredLayer]
    input_mean_: np.ndarray
    input_scale_: np.ndarray
    features_: FeatureBlock | None
    hidden_activation_: str
    problem_: str
    classes_: np.ndarray
    feature_names_in_: np.ndarray
    n_features_in_: int
    batch_rows: int

    def _validated_input(self, X: Any) -> np.ndarray:  # pragma: no cover - QuantizedModel's
        raise NotImplementedError

    def _compile(self) -> None:
        """Dequantize once and fold the standardisation into the first layer: predict is then matmuls only."""
        weights = [layer.dequantized().astype(np.float64) for layer in self.layers_]
        biases = [layer.bias.astype(np.float64) for layer in self.layers_]
        mean, scale = self.input_mean_.astype(np.float64), self.input_scale_.astype(np.float64)
        weights[0] = weights[0] / scale[None, :]
        biases[0] = biases[0] - weights[0] @ mean
        self._first_dtype = np.float64 if _needs_float64(mean, scale) else np.float32
        # One output of one layer (linear regression, binary classifier): a float64 matrix-vector product on the
        # caller's rows as they are, as scikit-learn computes it; no cast and no copy of X.
        self._gemv = len(weights) == 1 and weights[0].shape[0] == 1 and self.features_ is None
        if self._gemv:
            self._first_dtype = np.float64
        # Transposed and contiguous, so x @ Wᵀ is a plain row-major GEMM. The first layer's bias rides in the GEMM
        # as an extra weight row against a column of ones in the input buffer, saving a pass over the output.
        self._first_weight_t = np.vstack([weights[0].T, biases[0][None, :]]).astype(self._first_dtype)
        self._table = None
        if self.features_ is not None:
            self._table = TableFirstLayer(self.features_, weights[0], biases[0], self._first_dtype)
        self._weights_t = [np.ascontiguousarray(w.T, dtype=np.float32) for w in weights[1:]]
        self._biases = [b.astype(np.float32) for b in biases[1:]]
        # Labels 0..k-1 stored as intp: the argmax is the prediction, no lookup pass over the output.
        self._labels_are_positions = (
            self.problem_ == "classification"
            and self.classes_.dtype == np.intp
            and np.array_equal(self.classes_, np.arange(len(self.classes_)))
        )

    def _non_finite_error(self, X_chunk: np.ndarray, first_row: int) -> ModelInputError:
        # a table model's NaN is a missing cell: only infinite values are at fault
        bad = np.isinf(X_chunk) if self.features_ is not None else ~np.isfinite(X_chunk.astype(np.float64))
        if not bad.any():
            return ModelInputError("features too large for float32 arithmetic (|x| > 3.4e38 after scaling)")
        rows = (np.flatnonzero(bad.any(axis=1)) + first_row).tolist()
        columns = np.flatnonzero(bad.any(axis=0))
        names = self.feature_names_in_[columns].tolist() if hasattr(self, "feature_names_in_") else columns.tolist()
        return ModelInputError(f"NaN or infinite feature values in rows {rows[:5]}, columns {names[:5]}")

    # ---- prediction ---------------------------------------------------------------------------------------------
    def _chunk_rows(self) -> int:
        """batch_rows, lowered to a power of two so that the widest buffer of a chunk stays within _CACHE_BYTES."""
        limit = max(int(self.batch_rows), 1)
        widths = [self.n_features_in_, *(w.shape[1] for w in [self._first_weight_t, *self._weights_t])]
        cached_rows = _CACHE_BYTES // (4 * max(widths) if not self._gemv else 8 * self.n_features_in_)
        return min(limit, max(1 << max(cached_rows.bit_length() - 1, 0), _MIN_CHUNK_ROWS))

    def _buffers(self, n_rows: int, X: np.ndarray) -> list[np.ndarray]:
        """Per-call work buffers of n_rows: the first layer's input (last column ones, for the bias), each output."""
        if self._gemv:  # float64 rows are used as they are
            return [np.empty((n_rows if X.dtype != np.float64 else 0, X.shape[1])), np.empty((n_rows, 1))]
        if self._table is not None:  # dense inputs, first-layer output, gathered rows
            buffers = self._table.buffers(n_rows)
        else:
            buffers = [np.ones((n_rows, X.shape[1] + 1), dtype=self._first_dtype)]
            buffers.append(np.empty((n_rows, self._first_weight_t.shape[1]), dtype=self._first_dtype))
        if self._weights_t and self._first_dtype != np.float32:
            buffers.append(np.empty((n_rows, self._first_weight_t.shape[1]), dtype=np.float32))
        buffers.extend(np.empty((n_rows, weight_t.shape[1]), dtype=np.float32) for weight_t in self._weights_t)
        return buffers

    def _forward(self, X: np.ndarray, first_row: int, buffers: list[np.ndarray]) -> np.ndarray:
        """Raw output of the last layer for one chunk of validated rows, computed in the buffers of _buffers."""
        n_rows = X.shape[0]
        if self._table is not None:
            values = self._table.forward(X, buffers)
        elif self._gemv:
            x = X
            if X.dtype != np.float64:
                x = buffers[0][:n_rows]
                np.copyto(x, X, casting="unsafe")
            values = buffers[1][:n_rows]
            np.matmul(x, self._first_weight_t[:-1, 0], out=values[:, 0])
            values += self._first_weight_t[-1, 0]
        else:
            x = buffers[0][:n_rows]
            # One cast into a small reused buffer, instead of a float32 copy of the whole X.
            np.copyto(x[:, :-1], X, casting="unsafe")
            values = np.matmul(x, self._first_weight_t, out=buffers[1][:n_rows])
        # A NaN or inf anywhere in a row makes every first-layer output of that row non-finite, so checking
        # the narrow output instead of the wide input costs almost nothing.
        if not _all_finite(values):
            raise self._non_finite_error(X, first_row)
        if not self._weights_t:
            return values
        outputs = iter(buffers[3 if self._table is not None else 2 :])
        if values.dtype != np.float32:  # a float64 first layer (features far from zero); hidden layers are float32
            narrowed = next(outputs)[:n_rows]
            np.copyto(narrowed, values, casting="same_kind")
            values = narrowed
        for weight_t, bias in zip(self._weights_t, self._biases, strict=True):
            values = np.matmul(_activate(values, self.hidden_activation_), weight_t, out=next(outputs)[:n_rows])
            values += bias
        if not _all_finite(values):
            raise ModelInputError(
                f"rows {first_row}..{first_row + n_rows - 1}: the network overflowed float32; "
                "feature values are far outside the training range"
            )
        return values

    def _map_chunks(
        self, X: Any, write: Callable[[np.ndarray, np.ndarray], Any], width: int | None, dtype: Any
    ) -> np.ndarray:
        """Run the network chunk by chunk; write(raw_output, out_rows) fills each chunk's rows of the result."""
        return self._map_chunks_to(X, [(write, width, dtype)])[0]

    def _map_chunks_to(
        self, X: Any, outputs: list[tuple[Callable[[np.ndarray, np.ndarray], Any], int | None, Any]]
    ) -> list[np.ndarray]:
        """_map_chunks with several (write, width, dtype) results filled from the same pass over X."""
        X = self._validated_input(X)
        n_rows, chunk = X.shape[0], self._chunk_rows()
        results = [
            np.empty((n_rows,) if width is None else (n_rows, width), dtype=dtype) for _, width, dtype in outputs
        ]
        buffers = self._buffers(min(chunk, n_rows), X)
        # NaN / inf in the input is reported by _forward as a ModelInputError naming rows and columns; numpy's
        # RuntimeWarning on the way there would only add noise.
        with np.errstate(invalid="ignore", over="ignore"):
            for start in range(0, n_rows, chunk):
                stop = min(start + chunk, n_rows)
                values = self._forward(X[start:stop], start, buffers)
                for (write, _, _), result in zip(outputs, results, strict=True):
                    write(values, result[start:stop])
        return results
