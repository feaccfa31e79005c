"""Post-training int8 quantization of linear models, as a scikit-learn style estimator.

The quantized model works in the *standardised* input domain: z = (x - mean) / scale, then one affine layer
y = z @ W.T + b with W stored as symmetric int8 per output row plus a float32 scale per row. Quantizing there,
not on raw coefficients, keeps small-magnitude coefficients of unscaled features (diabetes with scaled=False)
from rounding to zero: the error that matters is in the output.

Files are plain `.npz` arrays plus a JSON header, loadable with `numpy.load(allow_pickle=False)`, so a model from
an untrusted source cannot run code.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from sklearn.base import BaseEstimator
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from tasks.config import QuantizeConfig, TaskKind

FORMAT_VERSION = 1
_INT8_MAX = 127


class QuantizationError(RuntimeError):
    """The model cannot be quantized, or the quantized model lost more accuracy than allowed."""


class ModelInputError(ValueError):
    """Input for a quantized model does not match what it was trained on."""


@dataclass(frozen=True)
class AffineLayer:
    weight: np.ndarray  # (n_out, n_in) float64, in the standardised-input domain for the first layer
    bias: np.ndarray  # (n_out,)


def quantize_rows(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization with one float32 scale per output row."""
    weight = np.atleast_2d(np.asarray(weight, dtype=np.float64))
    max_abs = np.abs(weight).max(axis=1)
    scales = np.where(max_abs > 0, max_abs / _INT8_MAX, 1.0).astype(np.float32)
    quantized = np.clip(np.rint(weight / scales[:, None]), -_INT8_MAX, _INT8_MAX).astype(np.int8)
    return quantized, scales


def dequantize_rows(quantized: np.ndarray, scales: np.ndarray) -> np.ndarray:
    return quantized.astype(np.float32) * scales.astype(np.float32)[:, None]


def _input_statistics(
    estimator: Pipeline, X_reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray, BaseEstimator]:
    """The standardisation the quantized model applies, and the final estimator after it."""
    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    *preprocessing, final = steps
    if len(preprocessing) == 1 and isinstance(preprocessing[0], StandardScaler):
        scaler = preprocessing[0]
        n_features = final.n_features_in_
        mean = scaler.mean_ if scaler.with_mean else np.zeros(n_features)
        scale = scaler.scale_ if scaler.with_std else np.ones(n_features)
        return np.asarray(mean, np.float64), np.asarray(scale, np.float64), final
    if preprocessing:
        names = ", ".join(type(s).__name__ for s in preprocessing)
        raise QuantizationError(f"cannot quantize a pipeline with preprocessing other than StandardScaler: {names}")
    # No scaler in the model: standardise with the training data's statistics so that quantization error is
    # spread evenly over features rather than concentrated on those with small coefficients.
    X_reference = np.asarray(X_reference, dtype=np.float64)
    std = X_reference.std(axis=0)
    return X_reference.mean(axis=0), np.where(std > 0, std, 1.0), final


def extract_layers(
    estimator: Pipeline, X_reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[AffineLayer], dict[str, Any]]:
    """The float model as (input mean, input scale, affine layers in the standardised domain, metadata)."""
    mean, scale, final = _input_statistics(estimator, X_reference)
    if not hasattr(final, "coef_"):
        raise QuantizationError(f"{type(final).__name__} has no weights to quantize")
    coef = np.atleast_2d(np.asarray(final.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(final.intercept_, dtype=np.float64))
    if _already_standardised(estimator):
        weight, bias = coef, intercept
    else:
        # raw-domain x = z * scale + mean, so  coef @ x + b = (coef * scale) @ z + (coef @ mean + b)
        weight, bias = coef * scale[None, :], coef @ mean + intercept
    meta: dict[str, Any] = {"model_kind": type(final).__name__}
    if hasattr(final, "classes_"):
        classes = final.classes_
        meta["task"] = "classification"
        meta["classes"] = classes.tolist()
        meta["output"] = "logistic" if coef.shape[0] == 1 else "softmax"
    else:
        meta["task"] = "regression"
        meta["output"] = "identity"
    return mean, scale, [AffineLayer(weight, bias)], meta


def _already_standardised(estimator: Pipeline) -> bool:
    return isinstance(estimator, Pipeline) and any(isinstance(s, StandardScaler) for _, s in estimator.steps[:-1])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


class QuantizedModel(BaseEstimator):
    """An int8 linear model with the scikit-learn estimator contract.

    `QuantizedModel(estimator=fitted_pipeline).fit(X_train)` quantizes an already fitted model (X supplies the
    input statistics when the model has no scaler); `QuantizedModel.load(path)` restores one from `.npz`.
    """

    def __init__(self, estimator: Any = None, feature_names: list[str] | None = None):
        self.estimator = estimator
        self.feature_names = feature_names

    def fit(self, X: np.ndarray, y: Any = None) -> QuantizedModel:
        if self.estimator is None:
            raise QuantizationError("QuantizedModel.fit needs a fitted `estimator` to quantize")
        check_is_fitted(self.estimator)
        mean, scale, layers, meta = extract_layers(self.estimator, X)
        quantized = [quantize_rows(layer.weight) for layer in layers]
        self._set_state(
            input_mean=mean.astype(np.float32),
            input_scale=scale.astype(np.float32),
            weights_q=[q for q, _ in quantized],
            weight_scales=[s for _, s in quantized],
            biases=[layer.bias.astype(np.float32) for layer in layers],
            meta={**meta, "feature_names": list(self.feature_names) if self.feature_names else None},
        )
        return self

    def _set_state(self, *, input_mean: np.ndarray, input_scale: np.ndarray, weights_q: list[np.ndarray],
                   weight_scales: list[np.ndarray], biases: list[np.ndarray], meta: dict[str, Any]) -> None:
        self.input_mean_ = input_mean
        self.input_scale_ = input_scale
        self.weights_q_ = weights_q
        self.weight_scales_ = weight_scales
        self.biases_ = biases
        self.task_: TaskKind = meta["task"]
        self.output_: str = meta["output"]
        self.model_kind_: str = meta["model_kind"]
        self.n_features_in_ = int(input_mean.shape[0])
        if meta.get("feature_names"):
            self.feature_names_in_ = np.asarray(meta["feature_names"], dtype=object)
        if self.task_ == "classification":
            self.classes_ = np.asarray(meta["classes"])
        # Dequantize once, here, so predict is one float32 matrix product per layer.
        self._weights_t = [dequantize_rows(q, s).T.copy() for q, s in zip(weights_q, weight_scales, strict=True)]

    # ---- prediction -------------------------------------------------------------------------------------
    def _check_input(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "weights_q_")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ModelInputError(
                f"expected rows of {self.n_features_in_} features, got an array of shape {X.shape}"
            )
        return X

    def _raw_output(self, X: Any) -> np.ndarray:
        X = self._check_input(X)
        activations = (X - self.input_mean_) / self.input_scale_
        for weight_t, bias in zip(self._weights_t, self.biases_, strict=True):
            activations = activations @ weight_t + bias
        return activations

    def decision_function(self, X: Any) -> np.ndarray:
        out = self._raw_output(X)
        if self.task_ != "classification":
            raise AttributeError("decision_function is for classifiers")
        return out.ravel() if out.shape[1] == 1 else out

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.task_ != "classification":
            raise AttributeError("predict_proba is for classifiers")
        out = self._raw_output(X)
        if self.output_ == "logistic":
            positive = 1.0 / (1.0 + np.exp(-out[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        return _softmax(out)

    def predict(self, X: Any) -> np.ndarray:
        out = self._raw_output(X)
        if self.task_ == "regression":
            return out.ravel() if out.shape[1] == 1 else out
        index = (out[:, 0] > 0).astype(int) if self.output_ == "logistic" else out.argmax(axis=1)
        return self.classes_[index]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        predictions = self.predict(X)
        if self.task_ == "classification":
            return float(accuracy_score(y, predictions, sample_weight=sample_weight))
        return float(r2_score(y, predictions, sample_weight=sample_weight))

    # ---- storage ----------------------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        check_is_fitted(self, "weights_q_")
        return {
            "format_version": FORMAT_VERSION,
            "model_kind": self.model_kind_,
            "task": self.task_,
            "output": self.output_,
            "n_layers": len(self.weights_q_),
            "n_features": self.n_features_in_,
            "classes": self.classes_.tolist() if self.task_ == "classification" else None,
            "feature_names": self.feature_names_in_.tolist() if hasattr(self, "feature_names_in_") else None,
        }

    def to_bytes(self) -> bytes:
        """The `.npz` file: plain arrays and a JSON header; byte-identical for identical models."""
        arrays: dict[str, np.ndarray] = {
            "header": np.asarray(json.dumps(self.header(), sort_keys=True)),
            "input_mean": self.input_mean_,
            "input_scale": self.input_scale_,
        }
        for i, (q, s, b) in enumerate(zip(self.weights_q_, self.weight_scales_, self.biases_, strict=True)):
            arrays[f"layer{i}_weight_int8"] = q
            arrays[f"layer{i}_weight_scale"] = s
            arrays[f"layer{i}_bias"] = b
        return _deterministic_npz(arrays)

    @classmethod
    def from_bytes(cls, data: bytes, origin: str = "<bytes>") -> QuantizedModel:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            header = json.loads(str(arrays["header"]))
        except (ValueError, KeyError, OSError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise QuantizationError(f"{origin}: not a quantized model file ({exc})") from None
        if header.get("format_version") != FORMAT_VERSION:
            raise QuantizationError(
                f"{origin}: format_version {header.get('format_version')!r}, this code reads {FORMAT_VERSION}"
            )
        n_layers = int(header["n_layers"])
        model = cls(feature_names=header.get("feature_names"))
        model._set_state(
            input_mean=arrays["input_mean"],
            input_scale=arrays["input_scale"],
            weights_q=[arrays[f"layer{i}_weight_int8"] for i in range(n_layers)],
            weight_scales=[arrays[f"layer{i}_weight_scale"] for i in range(n_layers)],
            biases=[arrays[f"layer{i}_bias"] for i in range(n_layers)],
            meta=header,
        )
        return model

    @classmethod
    def load(cls, path: str | Path) -> QuantizedModel:
        path = Path(path)
        return cls.from_bytes(path.read_bytes(), origin=str(path))


def _deterministic_npz(arrays: dict[str, np.ndarray]) -> bytes:
    """Like numpy.savez, but with fixed zip timestamps so identical models give identical bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            payload = io.BytesIO()
            np.lib.format.write_array(payload, np.asarray(array), allow_pickle=False)
            archive.writestr(info, payload.getvalue())
    return buffer.getvalue()


@dataclass(frozen=True)
class QuantizationReport:
    float_metric: float
    int8_metric: float
    metric_name: str
    metric_drop: float
    max_metric_drop: float
    agreement: float
    max_abs_output_delta: float
    float_bytes: int
    int8_bytes: int
    int8_predict_seconds: float

    @property
    def passed(self) -> bool:
        return self.metric_drop <= self.max_metric_drop


@dataclass(frozen=True)
class QuantizationResult:
    model: QuantizedModel
    npz_bytes: bytes
    report: QuantizationReport


def _float_outputs(estimator: Any, X: np.ndarray, task_kind: TaskKind) -> np.ndarray:
    if task_kind == "classification":
        return np.asarray(estimator.predict_proba(X))
    return np.asarray(estimator.predict(X))


def quantize_and_compare(
    estimator: Any, X_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, feature_names: list[str],
    task_kind: TaskKind, float_bytes: int, config: QuantizeConfig,
) -> QuantizationResult:
    """Quantize the float model, then measure it next to the float model on the held-out split."""
    model = QuantizedModel(estimator=estimator, feature_names=feature_names).fit(X_train)
    npz_bytes = model.to_bytes()
    started = time.perf_counter()
    int8_predictions = model.predict(X_test)
    predict_seconds = time.perf_counter() - started
    float_predictions = estimator.predict(X_test)
    float_out = _float_outputs(estimator, X_test, task_kind)
    int8_out = model.predict_proba(X_test) if task_kind == "classification" else model.predict(X_test)
    if task_kind == "classification":
        metric_name = "accuracy"
        float_metric = float(accuracy_score(y_test, float_predictions))
        int8_metric = float(accuracy_score(y_test, int8_predictions))
        agreement = float(np.mean(float_predictions == int8_predictions))
    else:
        metric_name = "r2"
        float_metric = float(r2_score(y_test, float_predictions))
        int8_metric = float(r2_score(y_test, int8_predictions))
        tolerance = 1e-3 * max(float(np.std(y_test)), 1e-12)
        agreement = float(np.mean(np.abs(float_predictions - int8_predictions) <= tolerance))
    report = QuantizationReport(
        float_metric=float_metric,
        int8_metric=int8_metric,
        metric_name=metric_name,
        metric_drop=float_metric - int8_metric,
        max_metric_drop=config.max_metric_drop,
        agreement=agreement,
        max_abs_output_delta=float(np.max(np.abs(float_out - int8_out))),
        float_bytes=float_bytes,
        int8_bytes=len(npz_bytes),
        int8_predict_seconds=predict_seconds,
    )
    return QuantizationResult(model=model, npz_bytes=npz_bytes, report=report)


def check_quantization(report: QuantizationReport) -> None:
    """Raise when int8 lost more of the primary metric than the config allows."""
    if not report.passed:
        raise QuantizationError(
            f"quantization gate failed: {report.metric_name} fell from {report.float_metric:.4f} (float) to "
            f"{report.int8_metric:.4f} (int8), a drop of {report.metric_drop:.4f} > quantize.max_metric_drop "
            f"{report.max_metric_drop}"
        )


@task(name="quantize", persist_result=False)
def quantize(
    estimator: Any, X_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, feature_names: list[str],
    task_kind: TaskKind, float_bytes: int, config: QuantizeConfig,
) -> QuantizationResult:
    """Quantize to int8 and fail the run if the held-out metric drops more than `quantize.max_metric_drop`."""
    result = quantize_and_compare(
        estimator, X_train, X_test, y_test, feature_names, task_kind, float_bytes, config
    )
    check_quantization(result.report)
    return result
