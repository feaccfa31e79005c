"""Reading a fitted scikit-learn model (linear model, linear SVM, MLP; optionally after a StandardScaler, or after a
table's one-hot feature steps) as affine layers in the standardised-input domain, plus what its outputs mean."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mlops_pipeline.quantize._errors import QuantizationError
from mlops_pipeline.quantize._format_features import FeatureBlock, input_scaling, pack_features
from mlops_pipeline.quantize._weights import HIDDEN_ACTIVATIONS, AffineLayer


@dataclass(frozen=True)
class FloatModelLayers:
    """A fitted float model as affine layers in the standardised-input domain."""

    input_mean: np.ndarray
    input_scale: np.ndarray
    layers: list[AffineLayer]
    meta: dict[str, Any]  # model_kind, problem, output, hidden_activation, classes


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


def table_parts(estimator: Any) -> tuple[list[Any], Any, Any] | None:
    """(column specs, fitted feature steps, final estimator) of a table pipeline: ("table", a fitted
    `mlops_pipeline.features.TableEncoder`) -> ("features", feature steps) -> model."""
    if not isinstance(estimator, Pipeline) or [name for name, _ in estimator.steps][:2] != ["table", "features"]:
        return None
    (_, table), (_, steps), (_, final) = estimator.steps
    if not hasattr(table, "specs_"):
        return None
    return list(table.specs_), steps, final


def extract_table_layers(estimator: Any) -> tuple[FloatModelLayers, FeatureBlock]:
    """A table pipeline with one-hot feature steps as affine layers over its model inputs (`FeatureBlock`)."""
    parts = table_parts(estimator)
    if parts is None:
        raise QuantizationError("not a table pipeline (table -> features -> model)")
    specs, steps, final = parts
    if "values" in dict(getattr(steps, "named_transformers_", {})):
        raise QuantizationError(
            f"{type(final).__name__} takes codes and date parts without one-hot features: no affine int8 form"
        )
    block = pack_features(steps, specs, "one_hot")
    mean, scale = input_scaling(steps, block)
    if int(final.n_features_in_) != block.n_outputs:
        raise QuantizationError(f"feature steps give {block.n_outputs} inputs, the model takes {final.n_features_in_}")
    layers, meta = _final_layers(final)
    return FloatModelLayers(mean, scale, layers, meta), block


def extract_layers(estimator: Any, X_reference: np.ndarray) -> FloatModelLayers:
    """The fitted float model as affine layers in the standardised-input domain, plus what its outputs mean."""
    _, final = _split_pipeline(estimator)
    X_reference = np.asarray(X_reference, dtype=np.float64)
    mean, scale, standardised = _input_statistics(estimator, X_reference)
    layers, meta = _final_layers(final)
    if not standardised:
        # raw-domain x = z * scale + mean, so  W @ x + b = (W * scale) @ z + (W @ mean + b)
        first = layers[0]
        layers[0] = AffineLayer(first.weight * scale[None, :], first.weight @ mean + first.bias)
    return FloatModelLayers(mean, scale, layers, meta)


def _final_layers(final: Any) -> tuple[list[AffineLayer], dict[str, Any]]:
    """The final estimator's affine layers (over the inputs it sees) and what its outputs mean."""
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
    return layers, meta
