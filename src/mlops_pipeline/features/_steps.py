"""The model's own preprocessing of a table: raw columns -> encoded matrix -> the estimator's features.

`model.joblib` of a mixed table is `Pipeline([("table", TableEncoder(columns)), ("features", feature_steps(...)),
("model", estimator)])`. `TableEncoder` reads a pandas or polars DataFrame of raw columns by name (other columns,
such as the target, are ignored) into the encoded matrix (`features/_spec.py`); a numeric array of the right width
is taken as already encoded, which is how the pipeline trains, gates and batch-scores. `feature_steps` is learnt on
the training split only (it is fitted inside the Pipeline) and depends on the model's preprocessing family:

- "one_hot" (linear models, MLPs, custom estimators): numbers, booleans and the day number of dates -> median
  imputation with a missing indicator (for columns that had missing cells in training) and standard scaling;
  dates also -> year, month, day, weekday (and hour with times of day), imputed and scaled; categories -> one-hot
  of the codes, where a missing cell is a category of its own, and categories seen fewer than
  `MIN_CATEGORY_ROWS` times in training share an "infrequent" column, which also takes values unseen in training
  (the unknown code -1; with no infrequent category, an unseen value has all its columns zero).
- "native" (HistGradientBoosting): the encoded columns as they are (codes, NaN for missing) followed by the date
  parts; `categorical_output_mask` marks the code columns for the model's `categorical_features`.
- "ordinal" (random forests, extra trees): the same columns, codes used as numbers.

The int8 and tree forms carry these steps as plain arrays (`mlops_pipeline.quantize._format_features`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from mlops_pipeline.features._spec import ColumnSpec
from mlops_pipeline.quantize._dates import date_parts, part_names
from mlops_pipeline.quantize._format_features import FAMILIES, FeatureFamily

# A category seen in fewer training rows than this gets no one-hot column of its own: it shares the "infrequent"
# column, which also takes values never seen in training. Five rows is the least that gives a weight some support.
MIN_CATEGORY_ROWS = 5


def preprocessing_family(kind: str) -> FeatureFamily:
    """The feature steps a model kind gets: trees take codes and NaN natively, every other kind one-hot."""
    if kind == "hist_gradient_boosting":
        return "native"
    if kind in ("random_forest", "extra_trees"):
        return "ordinal"
    return "one_hot"


def column_specs(columns: Sequence[ColumnSpec | Mapping[str, Any]]) -> list[ColumnSpec]:
    """ColumnSpecs from specs or their dicts (`ColumnSpec.to_dict`), as estimator params hold them."""
    return [spec if isinstance(spec, ColumnSpec) else ColumnSpec.from_dict(dict(spec)) for spec in columns]


def numeric_specs(names: Sequence[str]) -> list[ColumnSpec]:
    """Specs of an all-numeric table (what an array or a table without column typing is)."""
    return [ColumnSpec(str(name), "numeric", "a number in every row") for name in names]


def _is_frame(X: Any) -> bool:
    return isinstance(X, Mapping) or (hasattr(X, "columns") and not isinstance(X, np.ndarray))


class TableEncoder(TransformerMixin, BaseEstimator):
    """Raw table columns -> the encoded matrix (one float64 column per spec, see `features/_spec.py`).

    A pandas or polars DataFrame (or a mapping of column name -> values) is read by column name with
    `mlops_pipeline.features.encode_frame`: the spec columns are picked, others (the target, extra columns) are
    ignored, a missing spec column is an error naming it. Values unseen in training get the unknown code with a
    warning (`unknown="warning"`) or are refused naming column and value (`unknown="error"`). A numeric array of
    `len(columns)` columns is taken as already encoded and passed through (NaN allowed: a missing cell).

    Parameters
    ----------
    columns : list of dict, default=None
        The feature columns as `ColumnSpec.to_dict()` dicts, in encoded-matrix order. None: every column of the
        data `fit` sees is numeric.
    unknown : {"warning", "error"}, default="warning"
        What a categorical value unseen in training does when a DataFrame is encoded.

    Attributes
    ----------
    specs_ : list of ColumnSpec
    n_features_in_ : int
        The number of encoded columns (len(specs_)).
    """

    def __init__(self, columns: list[dict[str, Any]] | None = None, unknown: Literal["warning", "error"] = "warning"):
        self.columns = columns
        self.unknown = unknown

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X: Any, y: Any = None) -> TableEncoder:
        if self.unknown not in ("warning", "error"):
            raise ValueError(f"TableEncoder: unknown must be 'warning' or 'error', got {self.unknown!r}")
        if self.columns is not None:
            self.specs_ = column_specs(self.columns)
            if not _is_frame(X):
                X = validate_data(self, X, reset=True, ensure_all_finite="allow-nan", dtype=np.float64)
                if X.shape[1] != len(self.specs_):
                    raise ValueError(
                        f"TableEncoder: X has {X.shape[1]} features, but TableEncoder is expecting "
                        f"{len(self.specs_)} features as input (columns {[s.name for s in self.specs_][:5]} ...)"
                    )
        elif _is_frame(X) and not hasattr(X, "dtypes"):  # a mapping: every column numeric
            self.specs_ = numeric_specs(list(X))
        else:
            names = [str(name) for name in X.columns] if _is_frame(X) else None
            X = validate_data(self, X, reset=True, ensure_all_finite="allow-nan", dtype=np.float64)
            self.specs_ = numeric_specs(names or [f"x{i}" for i in range(X.shape[1])])
        self.n_features_in_ = len(self.specs_)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        if _is_frame(X):
            from mlops_pipeline.features._encode import encode_frame

            matrix, findings = encode_frame(X, self.specs_, origin="DataFrame", unknown=self.unknown)
            for finding in findings:
                if finding.severity == "error":
                    raise ValueError(f"TableEncoder: {finding}")
                warnings.warn(f"TableEncoder: {finding}", UserWarning, stacklevel=2)
            return np.asarray(matrix, dtype=np.float64)
        return validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray([spec.name for spec in self.specs_], dtype=object)


class DateParts(TransformerMixin, BaseEstimator):
    """Encoded date columns (day numbers) -> per column year, month, day, weekday (and hour where `hours` says).

    Parameters
    ----------
    hours : tuple of bool, default=None
        Per input column, whether it has times of day (an hour part). None: no column has.
    """

    def __init__(self, hours: tuple[bool, ...] | None = None):
        self.hours = hours

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X: Any, y: Any = None) -> DateParts:
        X = validate_data(self, X, reset=True, ensure_all_finite="allow-nan", dtype=np.float64)
        hours = tuple(bool(h) for h in self.hours) if self.hours is not None else (False,) * X.shape[1]
        if len(hours) != X.shape[1]:
            raise ValueError(f"DateParts: hours has {len(hours)} entries for {X.shape[1]} columns")
        self.hours_ = hours
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        parts = [date_parts(X[:, j], has_time) for j, has_time in enumerate(self.hours_)]
        return np.hstack(parts) if parts else np.empty((X.shape[0], 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self)
        names = input_features if input_features is not None else [f"x{j}" for j in range(len(self.hours_))]
        return np.asarray(
            [
                f"{name}_{part}"
                for name, has_time in zip(names, self.hours_, strict=True)
                for part in part_names(has_time)
            ],
            dtype=object,
        )


def _indices(specs: Sequence[ColumnSpec], *kinds: str) -> list[int]:
    return [i for i, spec in enumerate(specs) if spec.kind in kinds]


def feature_steps(specs: Sequence[ColumnSpec], family: FeatureFamily) -> ColumnTransformer:
    """The (unfitted) steps from the encoded matrix to the model's features; see the module docstring.

    Output columns, in order. one_hot: the scaled non-categorical columns (the date's day number among them), then
    their missing indicators, the scaled date parts, the one-hot columns. native / ordinal: every encoded column as
    it is, then the date parts.
    """
    if family not in FAMILIES:
        raise ValueError(f"feature family {family!r}: expected one of {list(FAMILIES)}")
    specs = list(specs)
    dates = _indices(specs, "datetime")
    date_steps = DateParts(hours=tuple(specs[i].has_time for i in dates))
    transformers: list[tuple[str, Any, list[int]]] = []
    if family == "one_hot":
        dense = _indices(specs, "numeric", "boolean", "datetime")
        categorical = _indices(specs, "categorical")
        if dense:
            impute = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
            transformers.append(("numeric", Pipeline([("impute", impute), ("scale", StandardScaler())]), dense))
        if dates:
            impute = SimpleImputer(strategy="median", keep_empty_features=True)
            steps = Pipeline([("parts", date_steps), ("impute", impute), ("scale", StandardScaler())])
            transformers.append(("date_parts", steps, dates))
        if categorical:
            one_hot = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_CATEGORY_ROWS)
            transformers.append(("categories", one_hot, categorical))
    else:
        transformers.append(("values", "passthrough", list(range(len(specs)))))
        if dates:
            transformers.append(("date_parts", date_steps, dates))
    return ColumnTransformer(transformers, remainder="drop")


def categorical_output_mask(specs: Sequence[ColumnSpec], family: FeatureFamily) -> np.ndarray | None:
    """native: which output columns of `feature_steps` are category codes (HistGradientBoosting's
    `categorical_features`); None when there are none or for the other families."""
    if family != "native" or not any(spec.kind == "categorical" for spec in specs):
        return None
    n_parts = sum(len(part_names(spec.has_time)) for spec in specs if spec.kind == "datetime")
    return np.asarray([spec.kind == "categorical" for spec in specs] + [False] * n_parts)
