"""The model steps of mixed tables: TableEncoder, DateParts, feature_steps per family, and the pipelines
build_estimator makes (a stored model scores `pandas.read_csv(file)`)."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from table_support import SPECS, mixed_table, raw_frame, with_unseen_categories

from mlops_pipeline.config import LogisticRegressionConfig, RidgeConfig
from mlops_pipeline.features import (
    MIN_CATEGORY_ROWS,
    ColumnSpec,
    DateParts,
    TableEncoder,
    categorical_output_mask,
    feature_steps,
    preprocessing_family,
)
from mlops_pipeline.quantize._dates import date_parts
from mlops_pipeline.train import build_estimator, fit_model


@parametrize_with_checks([TableEncoder(), DateParts()])
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def test_date_parts_of_day_numbers() -> None:
    stamps = [dt.datetime(2024, 2, 29, 13, 30), dt.datetime(1970, 1, 1), dt.datetime(1999, 12, 31, 23, 45)]
    days = np.array([(s - dt.datetime(1970, 1, 1)).total_seconds() / 86_400 for s in stamps] + [np.nan])
    parts = date_parts(days, has_time=True)
    expected = [
        [2024, 2, 29, 3, 13.5],  # a Thursday
        [1970, 1, 1, 3, 0.0],
        [1999, 12, 31, 4, 23.75],  # a Friday
    ]
    np.testing.assert_allclose(parts[:3], expected, atol=1e-6)
    assert np.isnan(parts[3]).all()
    assert date_parts(days, has_time=False).shape == (4, 4)


@pytest.mark.parametrize(
    ("kind", "family"),
    [
        ("logistic_regression", "one_hot"),
        ("mlp_classifier", "one_hot"),
        ("custom", "one_hot"),
        ("hist_gradient_boosting", "native"),
        ("random_forest", "ordinal"),
        ("extra_trees", "ordinal"),
    ],
)
def test_preprocessing_family(kind: str, family: str) -> None:
    assert preprocessing_family(kind) == family


def test_one_hot_steps_impute_indicate_scale_and_bucket_rare_and_unseen_categories() -> None:
    X, _ = mixed_table(2000)
    steps = feature_steps(SPECS, "one_hot").fit(X)
    names = list(steps.get_feature_names_out())
    # missing indicators only for the columns that had missing cells in training (not `score`, not `size`)
    indicators = [name for name in names if name.startswith("numeric__missingindicator")]
    assert indicators == [f"numeric__missingindicator_{c}" for c in ("x0", "x1", "x3")]
    # the rare colour (2 rows < MIN_CATEGORY_ROWS) has no column of its own: it is the infrequent bucket
    assert MIN_CATEGORY_ROWS == 5
    assert "categories__x2_infrequent_sklearn" in names and "categories__x2_4.0" not in names
    assert "categories__x2_nan" in names  # a missing cell is a category of its own
    out = steps.transform(with_unseen_categories(X))
    out = out.toarray() if hasattr(out, "toarray") else out
    assert np.isfinite(out).all()
    colour = [names.index(n) for n in names if n.startswith("categories__x2_")]
    unknown = with_unseen_categories(X)[:, 2] == -1
    assert (out[unknown][:, colour].sum(axis=1) == 1).all()  # unseen -> the infrequent column
    assert (out[unknown][:, names.index("categories__x2_infrequent_sklearn")] == 1).all()
    scaled = [names.index(n) for n in names if n.startswith(("numeric__x", "date_parts__"))]
    np.testing.assert_allclose(steps.transform(X)[:, scaled].mean(axis=0), 0.0, atol=1e-9)


@pytest.mark.parametrize("family", ["native", "ordinal"])
def test_tree_steps_keep_codes_and_missing_cells_and_add_date_parts(family: str) -> None:
    X, _ = mixed_table(300)
    out = feature_steps(SPECS, family).fit(X).transform(X)
    np.testing.assert_array_equal(out[:, : len(SPECS)], X)  # NaN in the same cells
    np.testing.assert_array_equal(out[:, len(SPECS) :], date_parts(X[:, 3], has_time=True))
    mask = categorical_output_mask(SPECS, family)
    if family == "native":
        assert mask is not None and mask.tolist() == [False, False, True, False, True, False] + [False] * 5
    else:
        assert mask is None


def test_table_encoder_reads_frames_by_name_and_passes_encoded_rows_through() -> None:
    specs = [
        ColumnSpec("size", "numeric"),
        ColumnSpec("colour", "categorical", categories=("red", "blue")),
        ColumnSpec("day", "datetime"),
    ]
    encoder = TableEncoder(columns=[s.to_dict() for s in specs]).fit(np.zeros((1, 3)))
    frame = {"label": ["a", "b", "c"], "day": ["2024-01-02", None, "1970-01-01"], "colour": ["blue", "red", "teal"]}
    frame["size"] = [1.5, None, 3.0]  # type: ignore[list-item]
    with pytest.warns(UserWarning, match="colour.*teal"):
        encoded = encoder.transform(pd.DataFrame(frame))
    np.testing.assert_array_equal(encoded, [[1.5, 1.0, 19724.0], [np.nan, 0.0, np.nan], [3.0, -1.0, 0.0]])
    np.testing.assert_array_equal(encoder.transform(pl.DataFrame(frame)), encoded)
    np.testing.assert_array_equal(encoder.transform(encoded), encoded)
    with pytest.raises(ValueError, match="expecting 3 features"):
        encoder.transform(np.zeros((2, 4)))
    strict = TableEncoder(columns=[s.to_dict() for s in specs], unknown="error").fit(encoded)
    with pytest.raises(ValueError, match="colour"):
        strict.transform(pd.DataFrame(frame))
    with pytest.raises(ValueError, match="size"):
        encoder.transform(pd.DataFrame({"colour": ["red"], "day": ["2024-01-01"]}))
    assert encoder.get_feature_names_out().tolist() == ["size", "colour", "day"]


def test_all_numeric_tables_without_missing_cells_keep_the_plain_pipeline() -> None:
    numeric = [ColumnSpec("a", "numeric"), ColumnSpec("b", "boolean")]
    plain = build_estimator(LogisticRegressionConfig(), seed=0, columns=numeric)
    assert [name for name, _ in plain.steps] == ["scaler", "model"]
    assert isinstance(plain.steps[0][1], StandardScaler)
    assert [name for name, _ in build_estimator(LogisticRegressionConfig(), seed=0).steps] == ["scaler", "model"]
    with_missing = build_estimator(LogisticRegressionConfig(), seed=0, columns=numeric, missing_cells=True)
    assert [name for name, _ in with_missing.steps] == ["table", "features", "model"]
    mixed = build_estimator(RidgeConfig(), seed=0, columns=SPECS)
    assert [name for name, _ in mixed.steps] == ["table", "features", "model"]


def test_fit_model_on_missing_cells_builds_the_table_pipeline() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] > 0).astype(int)
    X[::7, 1] = np.nan
    fitted = fit_model(X, y, LogisticRegressionConfig(), seed=0)  # no specs: every column numeric
    assert [name for name, _ in fitted.estimator.steps] == ["table", "features", "model"]
    assert fitted.estimator.score(X, y) > 0.9


def test_native_family_sets_the_categorical_features_of_hist_gradient_boosting() -> None:
    X, y = mixed_table(500)
    pipeline = Pipeline(
        [
            ("table", TableEncoder(columns=[s.to_dict() for s in SPECS])),
            ("features", feature_steps(SPECS, "native")),
            ("model", HistGradientBoostingClassifier(categorical_features=categorical_output_mask(SPECS, "native"))),
        ]
    ).fit(X, y)
    assert pipeline[-1].is_categorical_.tolist() == categorical_output_mask(SPECS, "native").tolist()  # type: ignore[union-attr]
    assert pipeline.score(with_unseen_categories(X), y) > 0.7


def test_a_stored_table_model_scores_a_csv_read_by_pandas(tmp_path: Path) -> None:
    X, y = mixed_table(1500)
    fitted = fit_model(X[:1000], y[:1000], LogisticRegressionConfig(), seed=0, columns=SPECS)
    (tmp_path / "model.joblib").write_bytes(fitted.model_bytes)
    X_new = with_unseen_categories(X[1000:])
    raw_frame(X_new, y[1000:]).to_csv(tmp_path / "new.csv", index=False)  # columns in another order, + extras
    model = joblib.load(tmp_path / "model.joblib")
    with pytest.warns(UserWarning, match="purple"):
        from_file = model.predict(pd.read_csv(tmp_path / "new.csv"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        np.testing.assert_array_equal(from_file, model.predict(X_new))
    assert (from_file == y[1000:]).mean() > 0.8


def test_missing_cells_only_in_the_test_split_still_give_a_model_that_imputes() -> None:
    from mlops_pipeline.train import train_model
    from mlops_pipeline.validate import PreparedData

    rng = np.random.default_rng(0)
    X_train, X_test = rng.normal(size=(200, 3)), rng.normal(size=(50, 3))
    y_train, y_test = (X_train[:, 0] > 0).astype(int), (X_test[:, 0] > 0).astype(int)
    X_test[::5, 2] = np.nan
    data = PreparedData(X_train, X_test, y_train, y_test, ["a", "b", "c"], "t", "test", "classification", "fp")
    fitted = train_model(data, LogisticRegressionConfig(), seed=0)
    assert [name for name, _ in fitted.estimator.steps] == ["table", "features", "model"]
    assert fitted.estimator.score(X_test, y_test) > 0.9
    complete = PreparedData(X_train, X_train, y_train, y_train, ["a", "b", "c"], "t", "test", "classification", "fp")
    assert [name for name, _ in train_model(complete, LogisticRegressionConfig(), seed=0).estimator.steps] == [
        "scaler",
        "model",
    ]
