"""QuantizedModel: an int8 model (linear, linear SVM or MLP) with the scikit-learn estimator contract.

At load the weights are dequantized once into float32 and the standardisation is folded into the first layer
(W / scale, b - W @ (mean / scale)), so predict is one matrix product per layer and never an elementwise pass
over the caller's X. Rows are processed in cache-sized chunks so memory stays flat on large inputs. A model with one
output and no hidden layer (linear regression, binary classifier) is one float64 matrix-vector product on the
caller's rows, as scikit-learn computes it, without a float32 copy of X. A table model (a pipeline of table ->
one-hot feature steps -> model) takes the encoded matrix, missing cells as NaN; its first layer is
`_table_layer.TableFirstLayer` (categories gathered, not multiplied) and its steps are the file's `features` block.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import ClassifierTags, RegressorTags, Tags, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from mlops_pipeline.quantize._errors import ModelInputError, QuantizationError
from mlops_pipeline.quantize._extract import _split_pipeline, extract_layers, extract_table_layers, table_parts
from mlops_pipeline.quantize._format import AFFINE_FAMILY, FORMAT_VERSION
from mlops_pipeline.quantize._format_affine import read_affine_file, write_affine_file
from mlops_pipeline.quantize._format_features import FEATURES_KEY, FeatureBlock, features_to_file
from mlops_pipeline.quantize._input import PREDICT_INPUT_CHECKS, rejected_input
from mlops_pipeline.quantize._outputs import (
    _copy_all,
    _copy_first_column,
    _write_logistic_proba,
    _write_positive,
    _write_row_argmax,
    _write_softmax,
)
from mlops_pipeline.quantize._runtime import AffineRuntime, _needs_float64
from mlops_pipeline.quantize._weights import (
    StoredLayer,
    calibration_rows,
    float32_layers,
    quantize_layers,
)

WeightDtype = Literal["int8", "float32"]
Problem = Literal["classification", "regression"]


def _has_probabilities(model: QuantizedModel) -> bool:
    # Unfitted: the method exists and raises NotFittedError when called, as in scikit-learn.
    return not hasattr(model, "output_") or model.output_ in ("logistic", "softmax")


def _is_classifier_model(model: QuantizedModel) -> bool:
    return not hasattr(model, "problem_") or model.problem_ == "classification"


class QuantizedModel(AffineRuntime, BaseEstimator):
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

    Input is checked with scikit-learn's `validate_data` (`fit`: against the wrapped model; `predict` and the other
    methods: against `n_features_in_` and `feature_names_in_`); rejected input raises `ModelInputError`, a
    `ValueError`. The checks scikit-learn's `parametrize_with_checks` still fails are those that fit on data of
    their own width, which a prefit model cannot take.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline, default=None
        The float model to quantize: a (pipeline ending in a) logistic/linear regression, ridge, linear SVM or MLP,
        optionally after a StandardScaler. Must be fitted; None only for a model restored with `load`.
    feature_names : list of str, default=None
        Names of the input columns, stored in the `.npz` header and checked against DataFrame input; when None,
        those of a wrapped model fitted on a DataFrame.
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
        # a table model reads missing cells (NaN) in its encoded rows
        tags.input_tags.allow_nan = (
            table_parts(self.estimator) is not None or getattr(self, "features_", None) is not None
        )
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
        """Quantize the wrapped (already fitted) model, with X as calibration rows; y is ignored (prefit).

        X is checked by scikit-learn's `validate_data` against the wrapped model (its width, and its feature names
        if it was fitted on a DataFrame): dense, finite, real numbers, at least one row and one feature.
        """
        if self.estimator is None:
            raise QuantizationError("QuantizedModel.fit needs a fitted `estimator` to quantize")
        if self.weight_dtype not in ("int8", "float32"):
            raise QuantizationError(f"weight_dtype must be 'int8' or 'float32', got {self.weight_dtype!r}")
        check_is_fitted(self.estimator)
        table = table_parts(self.estimator) is not None
        try:
            # against the wrapped model, which is never changed (reset=False); y="no_validation": y is not used;
            # a table model's encoded rows hold NaN for missing cells
            finite: Any = "allow-nan" if table else True
            X = validate_data(
                self.estimator, X, y="no_validation", reset=False, dtype=np.float64, ensure_all_finite=finite
            )
        except (ValueError, TypeError) as exc:
            n_features = int(_split_pipeline(self.estimator)[1].n_features_in_)
            names = getattr(self.estimator, "feature_names_in_", None)
            expected_names = [str(name) for name in names] if names is not None else None
            raise ModelInputError(f"calibration data: {rejected_input(X, n_features, exc, expected_names)}") from None
        features: FeatureBlock | None = None
        if table:
            extracted, features = extract_table_layers(self.estimator)
        else:
            extracted = extract_layers(self.estimator, X)
        if self.weight_dtype == "float32":
            stored = float32_layers(extracted.layers)
        else:
            reference = calibration_rows(X, self.calibration_rows)
            if features is not None:
                reference = features.apply(reference)
            calibration = (reference - extracted.input_mean) / extracted.input_scale
            stored = quantize_layers(extracted.layers, calibration, extracted.meta["hidden_activation"])
        names = (
            self.feature_names if self.feature_names is not None else getattr(self.estimator, "feature_names_in_", None)
        )
        feature_names = [str(name) for name in names] if names is not None else None
        if feature_names is not None and len(feature_names) != X.shape[1]:
            raise ModelInputError(f"feature_names has {len(feature_names)} names for {X.shape[1]} features")
        precision = np.float64 if _needs_float64(extracted.input_mean, extracted.input_scale) else np.float32
        self._set_state(
            extracted.input_mean.astype(precision),
            extracted.input_scale.astype(precision),
            stored,
            {**extracted.meta, "feature_names": feature_names},
            features,
        )
        return self

    def _set_state(
        self,
        input_mean: np.ndarray,
        input_scale: np.ndarray,
        layers: list[StoredLayer],
        meta: dict[str, Any],
        features: FeatureBlock | None = None,
    ) -> None:
        self.features_ = features
        self.input_mean_ = input_mean
        self.input_scale_ = input_scale
        self.layers_ = layers
        self.problem_: Problem = meta["problem"]
        self.output_: str = meta["output"]
        self.hidden_activation_: str = meta.get("hidden_activation", "identity")
        self.model_kind_: str = meta["model_kind"]
        self.n_features_in_ = int(input_mean.shape[0]) if features is None else features.n_columns
        if meta.get("feature_names"):
            self.feature_names_in_ = np.asarray(meta["feature_names"], dtype=object)
        if self.problem_ == "classification":
            self.classes_ = np.asarray(meta["classes"])
        self._compile()

    # ---- input contract -----------------------------------------------------------------------------------------
    def _validated_input(self, X: Any) -> np.ndarray:
        """X checked by scikit-learn's `validate_data` against the fitted model, neither copied nor cast.

        NaN / inf are left to the forward pass, which finds them on the narrow first-layer output instead of a
        pass over X, and names their rows and columns (`_non_finite_error`).
        """
        check_is_fitted(self)
        if type(X) is np.ndarray and X.ndim == 2 and X.shape[1] == self.n_features_in_ and X.dtype.kind in "biuf":
            # Exactly the arrays validate_data returns unchanged with these settings; its DataFrame detection
            # (~0.1 ms a call) would triple a one-row predict, the prediction service's common case.
            return X
        try:
            with warnings.catch_warnings():
                # The names are the data contract's columns, given as a parameter, not learnt from a DataFrame:
                # plain arrays are the normal input, and scikit-learn's warning for them would be noise.
                warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
                return validate_data(self, X, reset=False, **PREDICT_INPUT_CHECKS)
        except (ValueError, TypeError) as exc:
            raise ModelInputError(rejected_input(X, self.n_features_in_, exc, self._expected_names())) from None

    def _expected_names(self) -> list[str] | None:
        return self.feature_names_in_.tolist() if hasattr(self, "feature_names_in_") else None

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
            "family": AFFINE_FAMILY,
            "model_kind": self.model_kind_,
            "problem": self.problem_,
            "output": self.output_,
            "hidden_activation": self.hidden_activation_,
            "weight_dtype": "float32" if self.layers_[0].row_scale is None else "int8",
            "n_layers": len(self.layers_),
            "n_features": self.n_features_in_,
            "classes": self.classes_.tolist() if self.problem_ == "classification" else None,
            "feature_names": self.feature_names_in_.tolist() if hasattr(self, "feature_names_in_") else None,
            **({FEATURES_KEY: features_to_file(self.features_)[0]} if self.features_ is not None else {}),
        }

    def to_bytes(self) -> bytes:
        """The `.npz` file (pickle-free, `_format_affine.py` lists its arrays); byte-identical for identical models."""
        header = {k: v for k, v in self.header().items() if k != FEATURES_KEY}
        return write_affine_file(header, self.input_mean_, self.input_scale_, self.layers_, self.features_)

    @classmethod
    def from_bytes(cls, data: bytes, origin: str = "<bytes>") -> QuantizedModel:
        """The model stored in `data`; every header key and array is checked first, errors name `origin`."""
        header, input_mean, input_scale, layers, features = read_affine_file(data, origin)
        model = cls(feature_names=header.get("feature_names"))
        model._set_state(input_mean, input_scale, layers, header, features)
        return model

    @classmethod
    def load(cls, path: str | Path) -> QuantizedModel:
        path = Path(path)
        return cls.from_bytes(path.read_bytes(), origin=str(path))
