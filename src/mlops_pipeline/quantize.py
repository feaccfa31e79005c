"""Post-training int8 quantization of linear models, linear SVMs and MLPs, as a scikit-learn style estimator.

Every model is turned into a stack of affine layers that works in the *standardised* input domain:
z = (x - mean) / scale, then h = act(h @ W.T + b) per layer. Each W is stored as symmetric int8 per output row with a
float32 scale per row; biases stay float32. Quantizing in the standardised domain, not on raw coefficients, keeps
small-magnitude coefficients of unscaled features (diabetes with scaled=False) from rounding to zero: the error that
matters is in the output.

Rounding is output-aware: on calibration rows (training data) each weight column's rounding error is compensated
on the columns not yet rounded (GPTQ), and each layer's bias absorbs the mean shift rounding leaves in its outputs.

At load the weights are dequantized once into float32 and the standardisation is folded into the first layer
(W / scale, b - W @ (mean / scale)), so predict is one matrix product per layer and never an elementwise pass
over the caller's X. Rows are processed in cache-sized chunks so memory stays flat on large inputs. A model with one
output and no hidden layer (linear regression, binary classifier) is one float64 matrix-vector product on the
caller's rows, as scikit-learn computes it, without a float32 copy of X.

Files are plain `.npz` arrays plus a JSON header, loadable with `numpy.load(allow_pickle=False)`, so a model from
an untrusted source cannot run code; every array's dtype and shape is checked before use.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import ClassifierTags, RegressorTags, Tags, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from mlops_pipeline.config import ProblemKind, QuantizeConfig, primary_metric
from mlops_pipeline.train import rows_agree

if TYPE_CHECKING:
    from mlops_pipeline.train import TrainedModel
    from mlops_pipeline.validate import PreparedData

# Version 1 (linear models only, one array per vector) is no longer read: re-run the pipeline to rewrite it.
FORMAT_VERSION = 2
_INT8_MAX = 127

WeightDtype = Literal["int8", "float32"]

HIDDEN_ACTIVATIONS = frozenset({"identity", "relu", "tanh", "logistic"})
# identity: regression. logistic / softmax: classifier with probabilities (binary / multiclass).
# decision: classifier with a decision function only (LinearSVC); predict_proba is absent, as in scikit-learn.
OUTPUTS = frozenset({"identity", "logistic", "softmax", "decision"})

# Above this |mean / scale| of some feature, float32 would lose the signal to cancellation once the standardisation
# is folded into the weights, so the means are stored and the first layer computed in float64 instead.
_FLOAT32_MAX_OFFSET = 100.0
_DAMPING = 0.01
# predict works on chunks of rows whose widest buffer fits in this (a core's L2 on the benchmark machine): on digits
# rows, 4,096-row chunks for logistic regression and 2,048 for a 100-unit MLP were the fastest (vs 1,024: -25%).
_CACHE_BYTES = 1 << 20
_MIN_CHUNK_ROWS = 256


class QuantizationError(RuntimeError):
    """The model cannot be quantized, or a quantized model file is invalid."""


class QuantizationGateFailed(QuantizationError):
    """The quantized model lost more of the held-out metric than `quantize.max_metric_drop` allows."""

    def __init__(self, report: QuantizationReport):
        self.report = report
        super().__init__(
            f"quantization gate failed: {report.metric_name} fell from {report.float_metric:.4f} (float) to "
            f"{report.int8_metric:.4f} (int8), a drop of {report.metric_drop:.4f} > quantize.max_metric_drop "
            f"{report.max_metric_drop}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions are pickled as cls(*args); args here is the message, not the report.
        return (type(self), (self.report,))


class ModelInputError(ValueError):
    """Input for a quantized model does not match what it was trained on."""


@dataclass(frozen=True)
class AffineLayer:
    weight: np.ndarray  # (n_out, n_in) float64; the first layer's input is the standardised features
    bias: np.ndarray  # (n_out,) float64


@dataclass(frozen=True)
class FloatModelLayers:
    """A fitted float model as affine layers in the standardised-input domain."""

    input_mean: np.ndarray
    input_scale: np.ndarray
    layers: list[AffineLayer]
    meta: dict[str, Any]  # model_kind, problem, output, hidden_activation, classes


# ---- weight quantization ----------------------------------------------------------------------------------------
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


def _all_finite(values: np.ndarray) -> bool:
    """np.isfinite(values).all() for a C-contiguous array, in one BLAS pass without a temporary.

    The sum of squares is finite only if every value is; only when it is not (a NaN / inf, or |values| so large
    that the squares overflow) is every value checked.
    """
    flat = values.reshape(-1)
    return bool(np.isfinite(np.dot(flat, flat))) or bool(np.isfinite(values).all())


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


# ---- reading a fitted scikit-learn model ------------------------------------------------------------------------
def _split_pipeline(estimator: Any) -> tuple[list[Any], Any]:
    if isinstance(estimator, Pipeline):
        steps = [step for _, step in estimator.steps if step not in (None, "passthrough")]
        return steps[:-1], steps[-1]
    return [], estimator


def _input_statistics(estimator: Any, X_reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """The standardisation the quantized model applies, and whether the final estimator already sees it."""
    preprocessing, final = _split_pipeline(estimator)
    n_features = int(final.n_features_in_)
    if len(preprocessing) == 1 and isinstance(preprocessing[0], StandardScaler):
        scaler = preprocessing[0]
        mean = scaler.mean_ if scaler.with_mean else np.zeros(n_features)
        scale = scaler.scale_ if scaler.with_std else np.ones(n_features)
        return np.asarray(mean, np.float64), np.asarray(scale, np.float64), True
    if preprocessing:
        names = ", ".join(type(step).__name__ for step in preprocessing)
        raise QuantizationError(f"cannot quantize a pipeline with preprocessing other than StandardScaler: {names}")
    # No scaler in the model: standardise with the training data's statistics so that quantization error is
    # spread evenly over features rather than concentrated on those with small coefficients.
    std = X_reference.std(axis=0)
    return X_reference.mean(axis=0), np.where(std > 0, std, 1.0), False


def _classification_output(final: Any, n_outputs: int) -> str:
    if isinstance(final, MLPClassifier):
        if final.out_activation_ == "logistic" and n_outputs > 1:
            raise QuantizationError("MLPClassifier trained on multilabel targets is not supported")
        return str(final.out_activation_)
    # Only LogisticRegression's probabilities are the logistic / softmax of its decision function; other linear
    # classifiers (LinearSVC, RidgeClassifier, SGDClassifier) keep a decision function only.
    if isinstance(final, LogisticRegression):
        return "logistic" if n_outputs == 1 else "softmax"
    return "decision"


def extract_layers(estimator: Any, X_reference: np.ndarray) -> FloatModelLayers:
    """The fitted float model as affine layers in the standardised-input domain, plus what its outputs mean."""
    _, final = _split_pipeline(estimator)
    X_reference = np.asarray(X_reference, dtype=np.float64)
    mean, scale, standardised = _input_statistics(estimator, X_reference)
    if isinstance(final, MLPClassifier | MLPRegressor):
        layers = [
            AffineLayer(np.asarray(w, np.float64).T, np.asarray(b, np.float64))
            for w, b in zip(final.coefs_, final.intercepts_, strict=True)
        ]
        hidden_activation = str(final.activation)
    elif hasattr(final, "coef_") and hasattr(final, "intercept_"):
        weight = np.atleast_2d(np.asarray(final.coef_, dtype=np.float64))
        bias = np.broadcast_to(np.asarray(final.intercept_, dtype=np.float64), weight.shape[:1]).copy()
        layers = [AffineLayer(weight, bias)]
        hidden_activation = "identity"
    else:
        raise QuantizationError(f"{type(final).__name__} has no weights to quantize")
    if hidden_activation not in HIDDEN_ACTIVATIONS:
        raise QuantizationError(f"{type(final).__name__}: activation '{hidden_activation}' is not supported")
    if not standardised:
        # raw-domain x = z * scale + mean, so  W @ x + b = (W * scale) @ z + (W @ mean + b)
        first = layers[0]
        layers[0] = AffineLayer(first.weight * scale[None, :], first.weight @ mean + first.bias)
    n_outputs = layers[-1].weight.shape[0]
    meta: dict[str, Any] = {"model_kind": type(final).__name__, "hidden_activation": hidden_activation}
    if is_classifier(final):
        meta.update(
            problem="classification",
            classes=np.asarray(final.classes_).tolist(),
            output=_classification_output(final, n_outputs),
        )
    else:
        meta.update(problem="regression", output="identity", classes=None)
    return FloatModelLayers(mean, scale, layers, meta)


def calibration_rows(X: np.ndarray, max_rows: int) -> np.ndarray:
    """Evenly spaced rows of X, at most max_rows (deterministic, no random state needed)."""
    if X.shape[0] <= max_rows:
        return X
    return X[np.linspace(0, X.shape[0] - 1, max_rows).round().astype(np.intp)]


# ---- the estimator ----------------------------------------------------------------------------------------------
def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


def _needs_float64(mean: np.ndarray, scale: np.ndarray) -> bool:
    return bool(np.any(np.abs(mean) / scale > _FLOAT32_MAX_OFFSET))


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


def _has_probabilities(model: QuantizedModel) -> bool:
    # Unfitted: the method exists and raises NotFittedError when called, as in scikit-learn.
    return not hasattr(model, "output_") or model.output_ in ("logistic", "softmax")


def _is_classifier_model(model: QuantizedModel) -> bool:
    return not hasattr(model, "problem_") or model.problem_ == "classification"


class QuantizedModel(BaseEstimator):
    """An int8 model (linear, linear SVM or MLP) with the scikit-learn estimator contract.

    `QuantizedModel(estimator=fitted_pipeline).fit(X_train)` quantizes an already fitted model: X supplies the
    calibration rows and, when the model has no scaler, the input statistics. `QuantizedModel.load(path)` or
    `from_bytes` restores one from `.npz`. `weight_dtype="float32"` keeps the weights unquantized (same file format
    and code path), to measure what int8 costs. `batch_rows` bounds the rows computed at once.

    Prefit semantics (as scikit-learn's `FrozenEstimator`): `estimator` is an already fitted model and is never
    refit. `fit(X)` only quantizes it, with X as calibration rows; `y` is ignored. `clone()` keeps the same fitted
    `estimator` (not cloned, which would unfit it; an unfitted one is cloned) and drops the quantization, so a
    clone can be fit again on other calibration rows. `is_classifier` / `is_regressor` follow the wrapped
    estimator (or, for a model loaded from `.npz`, its stored problem type).

    Parameters
    ----------
    estimator : fitted estimator or Pipeline, default=None
        The float model to quantize: a (pipeline ending in a) logistic/linear regression, ridge, linear SVM or MLP,
        optionally after a StandardScaler. Must be fitted; None only for a model restored with `load`.
    feature_names : list of str, default=None
        Names of the input columns, stored in the `.npz` header and checked against DataFrame input.
    calibration_rows : int, default=10000
        At most this many rows of X (evenly spaced) calibrate the activation ranges of hidden layers.
    weight_dtype : {"int8", "float32"}, default="int8"
        "float32" stores the weights unquantized (same format and code path), to measure what int8 costs.
    batch_rows : int, default=16384
        At most this many rows are computed at once by predict, bounding the memory of a call; fewer when a
        chunk's widest buffer would not fit in 1 MiB (CPU cache), e.g. 4,096 rows of 64 features.

    Attributes
    ----------
    input_mean_ : ndarray of shape (n_features_in_,)
        Per-feature mean folded into the first layer (the scaler's, else the calibration rows').
    input_scale_ : ndarray of shape (n_features_in_,)
        Per-feature scale folded into the first layer.
    layers_ : list of StoredLayer
        The quantized weights (int8 with per-row scales) and float biases, input layer first.
    problem_ : {"classification", "regression"}
        The ML problem type of the wrapped model.
    output_ : str
        How the last layer's values become predictions, as stored in the `.npz` header.
    hidden_activation_ : str
        Activation of the hidden layers ("identity" for linear models).
    model_kind_ : str
        The kind of the wrapped final estimator, as stored in the header.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The feature names, when given.
    classes_ : ndarray of shape (n_classes,)
        Class labels (classification only).
    """

    def __sklearn_clone__(self) -> QuantizedModel:
        # a fitted wrapped model is prefit: kept as is (sklearn's clone would make an unfitted copy of it); an
        # unfitted one is cloned like any parameter
        params = {
            name: clone(value, safe=False) for name, value in self.get_params(deep=False).items() if name != "estimator"
        }
        try:
            check_is_fitted(self.estimator)
            estimator = self.estimator
        except (NotFittedError, TypeError):  # TypeError: None or not an estimator
            estimator = clone(self.estimator, safe=False)
        return type(self)(estimator=estimator, **params)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        estimator_type = None
        if self.estimator is not None:
            estimator_type = get_tags(self.estimator).estimator_type
        elif hasattr(self, "problem_"):
            estimator_type = "classifier" if self.problem_ == "classification" else "regressor"
        tags.estimator_type = estimator_type
        if estimator_type == "classifier":
            tags.classifier_tags = ClassifierTags()
        elif estimator_type == "regressor":
            tags.regressor_tags = RegressorTags()
        return tags

    def __init__(
        self,
        estimator: Any = None,
        feature_names: list[str] | None = None,
        calibration_rows: int = 10_000,
        weight_dtype: WeightDtype = "int8",
        batch_rows: int = 16_384,
    ):
        self.estimator = estimator
        self.feature_names = feature_names
        self.calibration_rows = calibration_rows
        self.weight_dtype = weight_dtype
        self.batch_rows = batch_rows

    def fit(self, X: Any, y: Any = None) -> QuantizedModel:
        if self.estimator is None:
            raise QuantizationError("QuantizedModel.fit needs a fitted `estimator` to quantize")
        if self.weight_dtype not in ("int8", "float32"):
            raise QuantizationError(f"weight_dtype must be 'int8' or 'float32', got {self.weight_dtype!r}")
        check_is_fitted(self.estimator)
        X = np.asarray(X, dtype=np.float64)
        _, final = _split_pipeline(self.estimator)
        if X.ndim != 2 or X.shape[1] != final.n_features_in_:
            raise ModelInputError(
                f"calibration data: expected rows of {final.n_features_in_} features, got shape {X.shape}"
            )
        extracted = extract_layers(self.estimator, X)
        if self.weight_dtype == "float32":
            stored = float32_layers(extracted.layers)
        else:
            calibration = (calibration_rows(X, self.calibration_rows) - extracted.input_mean) / extracted.input_scale
            stored = quantize_layers(extracted.layers, calibration, extracted.meta["hidden_activation"])
        feature_names = list(self.feature_names) if self.feature_names is not None else None
        if feature_names is not None and len(feature_names) != X.shape[1]:
            raise ModelInputError(f"feature_names has {len(feature_names)} names for {X.shape[1]} features")
        precision = np.float64 if _needs_float64(extracted.input_mean, extracted.input_scale) else np.float32
        self._set_state(
            extracted.input_mean.astype(precision),
            extracted.input_scale.astype(precision),
            stored,
            {**extracted.meta, "feature_names": feature_names},
        )
        return self

    def _set_state(
        self, input_mean: np.ndarray, input_scale: np.ndarray, layers: list[StoredLayer], meta: dict[str, Any]
    ) -> None:
        self.input_mean_ = input_mean
        self.input_scale_ = input_scale
        self.layers_ = layers
        self.problem_: ProblemKind = meta["problem"]
        self.output_: str = meta["output"]
        self.hidden_activation_: str = meta.get("hidden_activation", "identity")
        self.model_kind_: str = meta["model_kind"]
        self.n_features_in_ = int(input_mean.shape[0])
        if meta.get("feature_names"):
            self.feature_names_in_ = np.asarray(meta["feature_names"], dtype=object)
        if self.problem_ == "classification":
            self.classes_ = np.asarray(meta["classes"])
        self._compile()

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
        self._gemv = len(weights) == 1 and weights[0].shape[0] == 1
        if self._gemv:
            self._first_dtype = np.float64
        # Transposed and contiguous, so x @ Wᵀ is a plain row-major GEMM. The first layer's bias rides in the GEMM
        # as an extra weight row against a column of ones in the input buffer, saving a pass over the output.
        self._first_weight_t = np.vstack([weights[0].T, biases[0][None, :]]).astype(self._first_dtype)
        self._weights_t = [np.ascontiguousarray(w.T, dtype=np.float32) for w in weights[1:]]
        self._biases = [b.astype(np.float32) for b in biases[1:]]
        # Labels 0..k-1 stored as intp: the argmax is the prediction, no lookup pass over the output.
        self._labels_are_positions = (
            self.problem_ == "classification"
            and self.classes_.dtype == np.intp
            and np.array_equal(self.classes_, np.arange(len(self.classes_)))
        )

    # ---- input contract -----------------------------------------------------------------------------------------
    def _validated_input(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        if hasattr(X, "columns"):
            columns = [str(c) for c in X.columns]
            expected = getattr(self, "feature_names_in_", None)
            if expected is not None and columns != list(expected):
                missing = [c for c in expected if c not in columns]
                unexpected = [c for c in columns if c not in set(expected)]
                detail = (
                    f"missing {missing[:5]}, unexpected {unexpected[:5]}"
                    if missing or unexpected
                    else "same names in a different order"
                )
                raise ModelInputError(f"feature columns do not match the model's: {detail}")
            X = X.to_numpy()
        X = np.asarray(X)
        if X.dtype.kind == "O":
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ModelInputError(f"features must be numbers: {exc}") from None
        if X.dtype.kind not in "biuf":
            raise ModelInputError(f"features must be numbers, got dtype {X.dtype}")
        if X.ndim != 2:
            raise ModelInputError(
                f"expected a 2-D array of rows x {self.n_features_in_} features, got {X.ndim}-D shape {X.shape}"
                + ("; reshape a single row with X.reshape(1, -1)" if X.ndim == 1 else "")
            )
        if X.shape[1] != self.n_features_in_:
            raise ModelInputError(f"expected rows of {self.n_features_in_} features, got {X.shape[1]} features")
        return X

    def _non_finite_error(self, X_chunk: np.ndarray, first_row: int) -> ModelInputError:
        bad = ~np.isfinite(X_chunk.astype(np.float64))
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
        buffers = [np.ones((n_rows, X.shape[1] + 1), dtype=self._first_dtype)]
        buffers.append(np.empty((n_rows, self._first_weight_t.shape[1]), dtype=self._first_dtype))
        if self._weights_t and self._first_dtype != np.float32:
            buffers.append(np.empty((n_rows, self._first_weight_t.shape[1]), dtype=np.float32))
        buffers.extend(np.empty((n_rows, weight_t.shape[1]), dtype=np.float32) for weight_t in self._weights_t)
        return buffers

    def _forward(self, X: np.ndarray, first_row: int, buffers: list[np.ndarray]) -> np.ndarray:
        """Raw output of the last layer for one chunk of validated rows, computed in the buffers of _buffers."""
        n_rows = X.shape[0]
        if self._gemv:
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
        outputs = iter(buffers[2:])
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

    def _n_outputs(self) -> int:
        return int(self.layers_[-1].weight.shape[0])

    @available_if(_is_classifier_model)
    def decision_function(self, X: Any) -> np.ndarray:
        """Per-class scores (n_rows, n_classes); for two classes, the score of classes_[1] (n_rows,)."""
        check_is_fitted(self)
        if self._n_outputs() == 1:
            return self._map_chunks(X, _copy_first_column, None, np.float64)
        return self._map_chunks(X, _copy_all, self._n_outputs(), np.float64)

    @available_if(_has_probabilities)
    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        write = _write_logistic_proba if self.output_ == "logistic" else _write_softmax
        return self._map_chunks(X, write, len(self.classes_), np.float64)

    @available_if(_has_probabilities)
    def predict_with_proba(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """predict(X) and predict_proba(X) from one pass of the network (batch inference writes both)."""
        check_is_fitted(self)
        label_write = _write_positive if self._n_outputs() == 1 else _write_row_argmax
        proba_write = _write_logistic_proba if self.output_ == "logistic" else _write_softmax
        positions, probabilities = self._map_chunks_to(
            X, [(label_write, None, np.intp), (proba_write, len(self.classes_), np.float64)]
        )
        return (positions if self._labels_are_positions else self.classes_[positions]), probabilities

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        if self.problem_ == "regression":
            if self._n_outputs() == 1:
                return self._map_chunks(X, _copy_first_column, None, np.float64)
            return self._map_chunks(X, _copy_all, self._n_outputs(), np.float64)
        write = _write_positive if self._n_outputs() == 1 else _write_row_argmax
        positions = self._map_chunks(X, write, None, np.intp)
        return positions if self._labels_are_positions else self.classes_[positions]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy for classifiers, R² for regressors (as scikit-learn's mixins)."""
        predictions = self.predict(X)
        if self.problem_ == "classification":
            return float(accuracy_score(y, predictions, sample_weight=sample_weight))
        return float(r2_score(y, predictions, sample_weight=sample_weight))

    # ---- storage ------------------------------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        check_is_fitted(self)
        return {
            "format_version": FORMAT_VERSION,
            "model_kind": self.model_kind_,
            "problem": self.problem_,
            "output": self.output_,
            "hidden_activation": self.hidden_activation_,
            "weight_dtype": "float32" if self.layers_[0].row_scale is None else "int8",
            "n_layers": len(self.layers_),
            "n_features": self.n_features_in_,
            "classes": self.classes_.tolist() if self.problem_ == "classification" else None,
            "feature_names": self.feature_names_in_.tolist() if hasattr(self, "feature_names_in_") else None,
        }

    def to_bytes(self) -> bytes:
        """The `.npz` file: plain arrays and a JSON header; byte-identical for identical models.

        Arrays: `header` (UTF-8 JSON as uint8), `input_standardisation` (rows mean and scale; float32, or float64
        when some feature's mean is over 100 of its standard deviations from zero), and per
        layer `layer{i}_weight` (int8, or float32 for the unquantized twin; n_out x n_in, standardised-input domain)
        with `layer{i}_scale_bias` (float32, rows: per-output-row weight scale, bias). Vectors share an array
        because every zip entry costs ~200 bytes, more than a small model's weights.
        """
        arrays: dict[str, np.ndarray] = {
            "header": np.frombuffer(json.dumps(self.header(), sort_keys=True).encode(), dtype=np.uint8),
            "input_standardisation": np.stack([self.input_mean_, self.input_scale_]),
        }
        for i, layer in enumerate(self.layers_):
            row_scale = layer.row_scale if layer.row_scale is not None else np.ones_like(layer.bias)
            arrays[f"layer{i}_weight"] = layer.weight
            arrays[f"layer{i}_scale_bias"] = np.stack([row_scale, layer.bias]).astype(np.float32)
        return _deterministic_npz(arrays)

    @classmethod
    def from_bytes(cls, data: bytes, origin: str = "<bytes>") -> QuantizedModel:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            header = json.loads(arrays["header"].astype(np.uint8).tobytes().decode())
        except (ValueError, KeyError, OSError, EOFError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            raise QuantizationError(f"{origin}: not a quantized model file ({type(exc).__name__}: {exc})") from None
        input_mean, input_scale, layers = _checked_contents(header, arrays, origin)
        model = cls(feature_names=header.get("feature_names"))
        model._set_state(input_mean, input_scale, layers, header)
        return model

    @classmethod
    def load(cls, path: str | Path) -> QuantizedModel:
        path = Path(path)
        return cls.from_bytes(path.read_bytes(), origin=str(path))


def _checked_contents(
    header: Any, arrays: dict[str, np.ndarray], origin: str
) -> tuple[np.ndarray, np.ndarray, list[StoredLayer]]:
    """Check every header key and array (dtype, shape) of an untrusted file; errors name the key or array."""

    def fail(what: str) -> QuantizationError:
        return QuantizationError(f"{origin}: {what}")

    if not isinstance(header, dict):
        raise fail("header is not a JSON object")
    if header.get("format_version") != FORMAT_VERSION:
        raise fail(f"format_version {header.get('format_version')!r}, this code reads {FORMAT_VERSION}")
    for key in ("model_kind", "problem", "output", "hidden_activation", "weight_dtype", "n_layers", "n_features"):
        if key not in header:
            raise fail(f"header has no '{key}'")
    if header["problem"] not in ("classification", "regression"):
        raise fail(f"header 'problem' is {header['problem']!r}, expected 'classification' or 'regression'")
    if header["output"] not in OUTPUTS:
        raise fail(f"header 'output' is {header['output']!r}, expected one of {sorted(OUTPUTS)}")
    if header["hidden_activation"] not in HIDDEN_ACTIVATIONS:
        raise fail(
            f"header 'hidden_activation' is {header['hidden_activation']!r}, "
            f"expected one of {sorted(HIDDEN_ACTIVATIONS)}"
        )
    if header["weight_dtype"] not in ("int8", "float32"):
        raise fail(f"header 'weight_dtype' is {header['weight_dtype']!r}, expected 'int8' or 'float32'")
    if not isinstance(header["n_layers"], int) or header["n_layers"] < 1:
        raise fail(f"header 'n_layers' is {header['n_layers']!r}, expected an integer >= 1")
    if not isinstance(header["n_features"], int) or header["n_features"] < 1:
        raise fail(f"header 'n_features' is {header['n_features']!r}, expected an integer >= 1")

    def array(name: str, dtype: Any, n_rows: int | None, n_columns: int) -> np.ndarray:
        if name not in arrays:
            raise fail(f"array '{name}' is missing")
        value = arrays[name]
        expected_rows = n_rows if n_rows is not None else (value.shape[0] if value.ndim == 2 else -1)
        if value.dtype != np.dtype(dtype) or value.shape != (expected_rows, n_columns):
            shape = f"({'n' if n_rows is None else n_rows}, {n_columns})"
            raise fail(f"array '{name}' is {value.dtype} {value.shape}, expected {np.dtype(dtype)} {shape}")
        if not np.all(np.isfinite(value)):
            raise fail(f"array '{name}' holds NaN or infinite values")
        return value

    n_features = header["n_features"]
    standardisation = arrays.get("input_standardisation")
    precision = np.float64 if standardisation is not None and standardisation.dtype == np.float64 else np.float32
    input_mean, input_scale = array("input_standardisation", precision, 2, n_features)
    if not np.all(input_scale > 0):
        raise fail("array 'input_standardisation': the scale row must be > 0")
    weight_dtype = np.int8 if header["weight_dtype"] == "int8" else np.float32
    layers: list[StoredLayer] = []
    n_in = n_features
    for i in range(header["n_layers"]):
        weight = array(f"layer{i}_weight", weight_dtype, None, n_in)
        n_out = weight.shape[0]
        row_scale, bias = array(f"layer{i}_scale_bias", np.float32, 2, n_out)
        layers.append(StoredLayer(weight, row_scale if weight_dtype == np.int8 else None, bias))
        n_in = n_out
    classes = header.get("classes")
    if header["problem"] == "classification":
        if not isinstance(classes, list) or len(classes) < 2:
            raise fail("header 'classes': a classifier needs at least two classes")
        if n_in != (1 if len(classes) == 2 else len(classes)):
            raise fail(f"header 'classes': {len(classes)} classes but the last layer has {n_in} outputs")
    feature_names = header.get("feature_names")
    if feature_names is not None and (not isinstance(feature_names, list) or len(feature_names) != n_features):
        raise fail(f"header 'feature_names' must list {n_features} names")
    return input_mean, input_scale, layers


def _deterministic_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """Like numpy.savez_compressed, but with fixed zip timestamps so identical models give identical bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            payload = io.BytesIO()
            np.lib.format.write_array(payload, np.asarray(array), allow_pickle=False)
            archive.writestr(info, payload.getvalue(), compresslevel=9)
    return buffer.getvalue()


# ---- the quantization gate --------------------------------------------------------------------------------------
# A regression prediction "agrees" when int8 is within this fraction of the target's standard deviation of float.
REGRESSION_AGREEMENT_TOLERANCE = 0.01


def agreement_rate(
    float_predictions: np.ndarray, int8_predictions: np.ndarray, y_true: np.ndarray, problem: str
) -> float:
    """Share of rows where int8 agrees with float: same class, or within a small fraction of the target's spread."""
    if len(float_predictions) == 0:
        return 1.0
    tolerance = (
        0.0 if problem == "classification" else REGRESSION_AGREEMENT_TOLERANCE * max(float(np.std(y_true)), 1e-12)
    )
    return float(np.mean(rows_agree(float_predictions, int8_predictions, problem, tolerance)))


@dataclass(frozen=True)
class QuantizationReport:
    float_metric: float
    int8_metric: float
    metric_name: str
    metric_drop: float
    max_metric_drop: float
    agreement: float
    max_abs_output_delta: float
    output_compared: str  # which output max_abs_output_delta is measured on: predict_proba, decision_function, ...
    float_bytes: int
    int8_bytes: int
    int8_predict_seconds: float
    n_test_rows: int

    @property
    def passed(self) -> bool:
        return self.metric_drop <= self.max_metric_drop


@dataclass(frozen=True)
class QuantizationResult:
    model: QuantizedModel
    npz_bytes: bytes
    report: QuantizationReport


def comparable_outputs(float_model: Any, int8_model: QuantizedModel, X: np.ndarray) -> tuple[str, Any, Any]:
    """The richest output both models have: probabilities, else decision function, else predictions."""
    for method in ("predict_proba", "decision_function"):
        if hasattr(int8_model, method) and hasattr(float_model, method):
            return method, np.asarray(getattr(float_model, method)(X)), getattr(int8_model, method)(X)
    return "predict", np.asarray(float_model.predict(X)), int8_model.predict(X)


def compare_models(
    float_model: Any,
    int8_model: QuantizedModel,
    X_test: np.ndarray,
    y_test: np.ndarray,
    problem: ProblemKind,
) -> dict[str, Any]:
    """Held-out metric of both models, prediction agreement and the largest output difference."""
    started = time.perf_counter()
    int8_predictions = int8_model.predict(X_test)
    predict_seconds = time.perf_counter() - started
    float_predictions = np.asarray(float_model.predict(X_test))
    metric_name = primary_metric(problem)
    metric = {"accuracy": accuracy_score, "r2": r2_score}[metric_name]
    output_compared, float_out, int8_out = comparable_outputs(float_model, int8_model, X_test)
    return {
        "metric_name": metric_name,
        "float_metric": float(metric(y_test, float_predictions)),
        "int8_metric": float(metric(y_test, int8_predictions)),
        "agreement": agreement_rate(float_predictions, int8_predictions, y_test, problem),
        "max_abs_output_delta": float(np.max(np.abs(float_out - int8_out))) if len(X_test) else 0.0,
        "output_compared": output_compared,
        "int8_predict_seconds": predict_seconds,
    }


def quantize_and_compare(
    estimator: Any,
    X_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    feature_names: list[str],
    problem: ProblemKind,
    float_bytes: int,
    config: QuantizeConfig,
) -> QuantizationResult:
    """Quantize the float model, then measure it next to the float model on the held-out split."""
    model = QuantizedModel(
        estimator=estimator, feature_names=feature_names, calibration_rows=config.calibration_rows
    ).fit(X_train)
    npz_bytes = model.to_bytes()
    comparison = compare_models(estimator, model, X_test, y_test, problem)
    report = QuantizationReport(
        **comparison,
        metric_drop=comparison["float_metric"] - comparison["int8_metric"],
        max_metric_drop=config.max_metric_drop,
        float_bytes=float_bytes,
        int8_bytes=len(npz_bytes),
        n_test_rows=int(X_test.shape[0]),
    )
    return QuantizationResult(model=model, npz_bytes=npz_bytes, report=report)


def check_quantization(report: QuantizationReport) -> None:
    """Raise QuantizationGateFailed when int8 lost more of the primary metric than the config allows."""
    if not report.passed:
        raise QuantizationGateFailed(report)


def quantize_trained(trained: TrainedModel, data: PreparedData, config: QuantizeConfig) -> QuantizationResult:
    """The int8 model of a trained candidate, measured on the held-out split; raises if it loses too much.

    Calibrates on the training rows and compares on the test rows; `QuantizationGateFailed` (with the report)
    when the metric drops by more than `quantize.max_metric_drop`.
    """
    result = quantize_and_compare(
        trained.estimator,
        data.X_train,
        data.X_test,
        data.y_test,
        data.feature_names,
        data.problem,
        len(trained.model_bytes),
        config,
    )
    check_quantization(result.report)
    return result
