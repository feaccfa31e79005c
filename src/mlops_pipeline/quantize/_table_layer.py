"""The first layer of an affine table model at inference: dense inputs by one matrix product, each category by a
gathered weight row (a one-hot column times a weight row is a lookup, not a multiplication).

Built once at load from the dequantized first layer with its standardisation folded in (`QuantizedModel._compile`):
the weight columns of the dense inputs (numbers, indicators, date parts; `FeatureBlock.dense`) and, per categorical
column, a table of one weight row per slot (each code, unknown, missing; zero where the code sets no column).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops_pipeline.quantize._format_features import FeatureBlock


class TableFirstLayer:
    """First-layer outputs (n_rows, n_out) of encoded rows: dense @ W_dense + bias + sum of gathered rows."""

    def __init__(self, block: FeatureBlock, weight: np.ndarray, bias: np.ndarray, dtype: Any):
        # weight: (n_out, n_inputs) float64 in the unscaled model-input domain; bias: (n_out,)
        self.block = block
        self.dtype = dtype
        n_dense = block.n_dense
        self.weight_t: np.ndarray = np.vstack([weight[:, :n_dense].T, bias[None, :]]).astype(dtype)
        self.tables: list[tuple[int, int, np.ndarray]] = []
        for column, n_categories, slots in block.categorical():
            table: np.ndarray = np.zeros((n_categories + 2, weight.shape[0]), dtype=dtype)
            hit = slots >= 0
            table[hit] = weight[:, slots[hit]].T
            self.tables.append((column, n_categories, table))

    @property
    def n_out(self) -> int:
        return int(self.weight_t.shape[1])

    @property
    def width(self) -> int:
        return int(self.weight_t.shape[0])

    def buffers(self, n_rows: int) -> list[np.ndarray]:
        """The dense inputs (column-major, so each is written contiguously; last column ones for the bias), the
        output and the gathered rows."""
        return [
            np.ones((n_rows, self.width), dtype=self.dtype, order="F"),
            np.empty((n_rows, self.n_out), dtype=self.dtype),
            np.empty((n_rows, self.n_out), dtype=self.dtype),
        ]

    def forward(self, X: np.ndarray, buffers: list[np.ndarray]) -> np.ndarray:
        n_rows = X.shape[0]
        dense = buffers[0][:n_rows]
        self.block.dense(X, dense[:, :-1])
        values = np.matmul(dense, self.weight_t, out=buffers[1][:n_rows])
        gathered = buffers[2][:n_rows]
        for column, n_categories, table in self.tables:
            np.take(table, self.block.slot_indices(X, column, n_categories), axis=0, out=gathered)
            values += gathered
        return values
