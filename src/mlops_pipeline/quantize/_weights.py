"""Weight maths: symmetric int8 rows, output-aware (GPTQ-style) rounding, calibration, hidden activations.

Every model is a stack of affine layers in the *standardised* input domain: z = (x - mean) / scale, then
h = act(h @ W.T + b) per layer. Each W is stored as symmetric int8 per output row with a float32 scale per row;
biases stay float32. Quantizing in the standardised domain, not on raw coefficients, keeps small-magnitude
coefficients of unscaled features (diabetes with scaled=False) from rounding to zero: the error that matters is in
the output.

Rounding is output-aware: on calibration rows (training data) each weight column's rounding error is compensated
on the columns not yet rounded (GPTQ), and each layer's bias absorbs the mean shift rounding leaves in its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.special import expit

_INT8_MAX = 127
_DAMPING = 0.01

HIDDEN_ACTIVATIONS = frozenset({"identity", "relu", "tanh", "logistic"})


@dataclass(frozen=True)
class AffineLayer:
    weight: np.ndarray  # (n_out, n_in) float64; the first layer's input is the standardised features
    bias: np.ndarray  # (n_out,) float64


def quantize_rows(weight: np.ndarray, second_moment: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization with one float32 scale per output row (max|w| / 127).

    Without `second_moment`, each weight is rounded to nearest. With the inputs' second-moment matrix C = E[x xᵀ],
    weights are rounded one input column at a time and each column's rounding error is compensated on the columns
    not yet rounded, weighted by C (GPTQ, Frantar et al. 2022): the row's expected squared *output* error shrinks
    (by 20-30% on the digits models) while storage stays plain int8 with the same scales.
    """
    weight = np.array(np.atleast_2d(weight), dtype=np.float64)
    max_abs = np.abs(weight).max(axis=1)
    scales = np.where(max_abs > 0, max_abs / _INT8_MAX, 1.0).astype(np.float32)
    step = scales.astype(np.float64)[:, None]
    if second_moment is None:
        return np.clip(np.rint(weight / step), -_INT8_MAX, _INT8_MAX).astype(np.int8), scales
    n_in = weight.shape[1]
    # Damping keeps the inverse defined for constant or collinear inputs (1% of the mean variance, as in GPTQ).
    damped = second_moment + _DAMPING * max(float(np.mean(np.diag(second_moment))), 1e-12) * np.eye(n_in)
    inverse_factor = np.linalg.cholesky(np.linalg.inv(damped)).T  # upper triangular U with C⁻¹ = Uᵀ U
    quantized = np.empty(weight.shape, dtype=np.int8)
    for column in range(n_in):
        rounded = np.clip(np.rint(weight[:, column] / step[:, 0]), -_INT8_MAX, _INT8_MAX)
        quantized[:, column] = rounded
        error = (weight[:, column] - rounded * step[:, 0]) / inverse_factor[column, column]
        weight[:, column + 1 :] -= np.outer(error, inverse_factor[column, column + 1 :])
    return quantized, scales


def dequantize_rows(quantized: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return quantized.astype(np.float32) * scales.astype(np.float32)[:, None]


def _activate(values: np.ndarray, activation: str) -> np.ndarray:
    """Apply a hidden-layer activation in place (values is a fresh buffer)."""
    if activation == "relu":
        # Against a row of zeros rather than the scalar 0: numpy's vectorised loop, 2.5x faster on (rows, 100).
        np.maximum(values, _zero_row(values.shape[1], values.dtype), out=values)
    elif activation == "tanh":
        np.tanh(values, out=values)
    elif activation == "logistic":
        expit(values, out=values)
    return values


@cache
def _zero_row(width: int, dtype: np.dtype) -> np.ndarray:
    zeros = np.zeros((1, width), dtype=dtype)
    zeros.flags.writeable = False
    return zeros


@dataclass(frozen=True)
class StoredLayer:
    weight: np.ndarray  # (n_out, n_in) int8, or float32 for the unquantized twin
    row_scale: np.ndarray | None  # (n_out,) float32 for int8 weights
    bias: np.ndarray  # (n_out,) float32

    def dequantized(self) -> np.ndarray:
        if self.row_scale is None:
            return self.weight.astype(np.float32)
        return dequantize_rows(self.weight, self.row_scale)


def quantize_layers(layers: list[AffineLayer], calibration: np.ndarray, hidden_activation: str) -> list[StoredLayer]:
    """Quantize layer by layer; calibration rows (standardised) flow through the float and the int8 network.

    Each layer is rounded for the inputs it really sees (the int8 network's activations), and its bias absorbs the
    mean difference between its float and int8 outputs on them, so rounding error does not pile up as a shift
    through the layers (on an MLP regressor for diabetes this cut the output RMS error by a quarter).
    """
    stored: list[StoredLayer] = []
    float_in = quant_in = np.asarray(calibration, dtype=np.float64)
    for index, layer in enumerate(layers):
        centred = quant_in - quant_in.mean(axis=0)
        quantized, row_scale = quantize_rows(layer.weight, centred.T @ centred / max(quant_in.shape[0], 1))
        dequantized = dequantize_rows(quantized, row_scale).astype(np.float64)
        float_out = float_in @ layer.weight.T + layer.bias
        quant_out = quant_in @ dequantized.T + layer.bias
        shift = float_out.mean(axis=0) - quant_out.mean(axis=0) if quant_in.shape[0] else 0.0
        stored.append(StoredLayer(quantized, row_scale, (layer.bias + shift).astype(np.float32)))
        if index < len(layers) - 1:
            float_in = _activate(float_out, hidden_activation)
            quant_in = _activate(quant_out + shift, hidden_activation)
    return stored


def float32_layers(layers: list[AffineLayer]) -> list[StoredLayer]:
    """The same layers unquantized: the float32 twin that isolates what int8 costs."""
    return [StoredLayer(layer.weight.astype(np.float32), None, layer.bias.astype(np.float32)) for layer in layers]


def calibration_rows(X: np.ndarray, max_rows: int) -> np.ndarray:
    """Evenly spaced rows of X, at most max_rows (deterministic, no random state needed)."""
    if X.shape[0] <= max_rows:
        return X
    return X[np.linspace(0, X.shape[0] - 1, max_rows).round().astype(np.intp)]
