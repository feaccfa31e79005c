"""QuantizedTrees: a tree ensemble (HistGradientBoosting, random forest, extra trees) scored from uint8 bins, with
the scikit-learn estimator contract of `QuantizedModel`.

The arrays come from `_trees_extract.py`, are stored by `_format_trees.py` and scored by `_trees_kernel.py` (numba,
or its numpy twin). HistGradientBoosting predictions equal scikit-learn's (same bins, float64 sums in the same order,
same link functions); forest thresholds are snapped to at most 255 bins per feature and leaf values are float32, so
their predictions are bounded by the quantization gate as the int8 linear models are.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import ClassifierTags, RegressorTags, Tags, get_tags
from sklearn.utils.extmath import softmax
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from mlops_pipeline.quantize._errors import ModelInputError, QuantizationError
from mlops_pipeline.quantize._format import FORMAT_VERSION, TREES_FAMILY
from mlops_pipeline.quantize._format_features import FEATURES_KEY, features_to_file
from mlops_pipeline.quantize._format_trees import read_trees_file, write_trees_file
from mlops_pipeline.quantize._input import PREDICT_INPUT_CHECKS, rejected_input
from mlops_pipeline.quantize._trees_extract import TreeEnsemble, extract_trees, split_tree_pipeline
from mlops_pipeline.quantize._trees_kernel import compile_trees, predict_raw_threads, warm_up


def _is_classifier_model(model: QuantizedTrees) -> bool:
    return not hasattr(model, "problem_") or model.problem_ == "classification"


def _has_decision_function(model: QuantizedTrees) -> bool:
    return not hasattr(model, "output_") or model.output_ in ("logistic", "softmax")


class QuantizedTrees(BaseEstimator):
    """A tree ensemble scored from uint8 bin indices, with the scikit-learn estimator contract.

    `QuantizedTrees(estimator=fitted_model).fit(X_train)` reads an already fitted `HistGradientBoosting*`,
    `RandomForest*` or `ExtraTrees*` model (or a Pipeline ending in one: a table pipeline `table -> features ->
    model`, whose feature steps are stored as the file's `features` block and applied to encoded rows, or one whose
    other steps are `passthrough`) into arrays; X supplies the calibration rows a forest's thresholds are snapped
    against. `QuantizedTrees.load(path)` or `from_bytes` restores one from `.npz` and compiles its kernels (numba's
    cache; `warm_up`) before returning, so a service's first request does not pay for compilation.

    Prefit semantics as `QuantizedModel` (and scikit-learn's `FrozenEstimator`): `fit` never refits `estimator`;
    `clone()` keeps a fitted `estimator` and drops the extraction. Input: dense numbers of the fitted width (and
    names), NaN allowed (a missing value, as scikit-learn's trees take it); rejected input raises
    `ModelInputError`.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline, default=None
        The tree model; None only for a model restored with `load`.
    feature_names : list of str, default=None
        Names of the input columns, stored in the header; when None, those of a wrapped model fit on a DataFrame.
    n_jobs : int, default=1
        Threads scoring row ranges at once (-1: one per CPU); one thread is the service's and batch scoring's
        setting, where requests or chunks already run side by side.

    Attributes
    ----------
    ensemble_ : TreeEnsemble
        Every array of the model (bin edges, nodes, leaf values), as stored in the file.
    problem_ : {"classification", "regression"}
    output_ : str
        How summed leaf values become predictions: logistic, softmax, identity, exp, average_proba, average.
    model_kind_ : str
        The class name of the wrapped tree model.
    exact_ : bool
        True when every split threshold is one of the stored bin edges (always for HistGradientBoosting).
    n_trees_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The feature names, when given.
    classes_ : ndarray of shape (n_classes,)
        Class labels (classification only).
    """

    def __sklearn_clone__(self) -> QuantizedTrees:
        try:
            check_is_fitted(self.estimator)
            estimator = self.estimator
        except (NotFittedError, TypeError):  # TypeError: None or not an estimator
            estimator = clone(self.estimator, safe=False)
        return type(self)(estimator=estimator, feature_names=clone(self.feature_names, safe=False), n_jobs=self.n_jobs)

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
        tags.input_tags.allow_nan = True
        return tags

    def __init__(self, estimator: Any = None, feature_names: list[str] | None = None, n_jobs: int = 1):
        self.estimator = estimator
        self.feature_names = feature_names
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any = None) -> QuantizedTrees:
        """Read the wrapped (already fitted) tree model into arrays; X: calibration rows; y is ignored (prefit)."""
        if self.estimator is None:
            raise QuantizationError("QuantizedTrees.fit needs a fitted tree `estimator`")
        check_is_fitted(self.estimator)
        model = split_tree_pipeline(self.estimator)[1]
        try:
            X = validate_data(
                self.estimator, X, y="no_validation", reset=False, dtype=np.float64, ensure_all_finite=False
            )
        except (ValueError, TypeError) as exc:
            names = getattr(self.estimator, "feature_names_in_", None)
            expected = [str(name) for name in names] if names is not None else None
            raise ModelInputError(
                f"calibration data: {rejected_input(X, int(model.n_features_in_), exc, expected)}"
            ) from None
        ensemble = extract_trees(self.estimator, X)
        names = (
            self.feature_names if self.feature_names is not None else getattr(self.estimator, "feature_names_in_", None)
        )
        feature_names = [str(name) for name in names] if names is not None else None
        if feature_names is not None and len(feature_names) != ensemble.n_inputs:
            raise ModelInputError(f"feature_names has {len(feature_names)} names for {ensemble.n_inputs} features")
        ensemble.meta["feature_names"] = feature_names
        self._set_state(ensemble)
        return self

    def _set_state(self, ensemble: TreeEnsemble) -> None:
        meta = ensemble.meta
        self.ensemble_ = ensemble
        self.problem_: str = meta["problem"]
        self.output_: str = meta["output"]
        self.model_kind_: str = meta["model_kind"]
        self.exact_ = bool(meta["exact"])
        self.n_trees_ = int(ensemble.tree_roots.shape[0])
        self.features_ = ensemble.features
        self.n_features_in_ = ensemble.n_inputs
        if meta.get("feature_names"):
            self.feature_names_in_ = np.asarray(meta["feature_names"], dtype=object)
        if self.problem_ == "classification":
            self.classes_ = np.asarray(meta["classes"])
        self._compiled = compile_trees(ensemble)
        warm_up(self._compiled)

    # ---- input and raw scores ---------------------------------------------------------------------------------
    def _validated_input(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        if not (type(X) is np.ndarray and X.ndim == 2 and X.shape[1] == self.n_features_in_ and X.dtype.kind in "biuf"):
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
                    X = validate_data(self, X, reset=False, **PREDICT_INPUT_CHECKS)
            except (ValueError, TypeError) as exc:
                names = self.feature_names_in_.tolist() if hasattr(self, "feature_names_in_") else None
                raise ModelInputError(rejected_input(X, self.n_features_in_, exc, names)) from None
        if X.dtype != np.float64 or not (X.flags.c_contiguous or X.flags.f_contiguous):
            X = np.asarray(X, dtype=np.float64, order="C")
        return X

    def raw_scores(self, X: Any) -> np.ndarray:
        """The summed leaf values (n_rows, n_columns): raw scores (HGB, from its baseline), tree sums (forests)."""
        X = self._validated_input(X)
        if self.features_ is not None:  # a table model: encoded rows -> the trees' inputs (codes checked)
            X = self.features_.apply(X)
        out = np.empty((X.shape[0], self.ensemble_.n_columns))
        out[:] = self.ensemble_.init
        n_threads = (os.cpu_count() or 1) if self.n_jobs == -1 else max(int(self.n_jobs), 1)
        predict_raw_threads(X, self._compiled, out, n_threads)
        return out

    def _proba_from_raw(self, raw: np.ndarray) -> np.ndarray:
        if self.output_ == "logistic":
            proba = np.empty((raw.shape[0], 2))
            proba[:, 1] = expit(raw[:, 0])
            proba[:, 0] = 1 - proba[:, 1]
            return proba
        if self.output_ == "softmax":
            return np.asarray(softmax(raw))
        return raw / self.n_trees_  # average_proba

    def _labels_from_raw(self, raw: np.ndarray, proba: np.ndarray | None = None) -> np.ndarray:
        if self.output_ == "logistic":
            return self.classes_[(raw[:, 0] > 0).astype(np.intp)]
        if self.output_ == "softmax":
            return self.classes_[np.argmax(raw, axis=1)]
        return self.classes_[np.argmax(proba if proba is not None else raw / self.n_trees_, axis=1)]

    # ---- prediction -------------------------------------------------------------------------------------------
    @available_if(_has_decision_function)
    def decision_function(self, X: Any) -> np.ndarray:
        """Raw scores of a HistGradientBoostingClassifier: (n_rows,) for two classes, else (n_rows, n_classes)."""
        raw = self.raw_scores(X)
        return raw[:, 0] if raw.shape[1] == 1 else raw

    @available_if(_is_classifier_model)
    def predict_proba(self, X: Any) -> np.ndarray:
        return self._proba_from_raw(self.raw_scores(X))

    @available_if(_is_classifier_model)
    def predict_with_proba(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """predict(X) and predict_proba(X) from one pass over the trees (batch inference writes both)."""
        raw = self.raw_scores(X)
        proba = self._proba_from_raw(raw)
        return self._labels_from_raw(raw, proba), proba

    def predict(self, X: Any) -> np.ndarray:
        raw = self.raw_scores(X)
        if self.problem_ == "classification":
            return self._labels_from_raw(raw)
        if self.output_ == "exp":
            return np.asarray(np.exp(raw[:, 0]))
        if self.output_ == "average":
            return raw[:, 0] / self.n_trees_
        return raw[:, 0]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy for classifiers, R² for regressors (as scikit-learn's mixins)."""
        predictions = self.predict(X)
        if self.problem_ == "classification":
            return float(accuracy_score(y, predictions, sample_weight=sample_weight))
        return float(r2_score(y, predictions, sample_weight=sample_weight))

    # ---- storage ----------------------------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        check_is_fitted(self)
        meta = self.ensemble_.meta
        return {
            "format_version": FORMAT_VERSION,
            "family": TREES_FAMILY,
            "model_kind": self.model_kind_,
            "problem": self.problem_,
            "output": self.output_,
            "input_dtype": meta["input_dtype"],
            "exact": self.exact_,
            "n_features": self.ensemble_.n_features,  # the trees' inputs (after the feature block, if any)
            "n_trees": self.n_trees_,
            "classes": self.classes_.tolist() if self.problem_ == "classification" else None,
            "feature_names": self.feature_names_in_.tolist() if hasattr(self, "feature_names_in_") else None,
            **({FEATURES_KEY: features_to_file(self.features_)[0]} if self.features_ is not None else {}),
        }

    def to_bytes(self) -> bytes:
        """The `.npz` file (pickle-free, `_format_trees.py` lists its arrays); byte-identical for identical models."""
        return write_trees_file(self.header(), self.ensemble_)

    @classmethod
    def from_bytes(cls, data: bytes, origin: str = "<bytes>") -> QuantizedTrees:
        """The model stored in `data`; every header key and array is checked first, errors name `origin`."""
        ensemble = read_trees_file(data, origin)
        model = cls(feature_names=ensemble.meta.get("feature_names"))
        model._set_state(ensemble)
        return model

    @classmethod
    def load(cls, path: str | Path) -> QuantizedTrees:
        path = Path(path)
        return cls.from_bytes(path.read_bytes(), origin=str(path))
