"""The int8 form of table models: the feature steps as plain arrays (FeatureBlock), the affine file that carries
them, and the int8 model's agreement with the float model on mixed tables with missing cells and unseen values."""

from __future__ import annotations

import io
import json
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.base import is_classifier
from sklearn.metrics import r2_score
from sklearn.utils.estimator_checks import parametrize_with_checks
from table_support import SPECS, mixed_table, with_unseen_categories

from mlops_pipeline.config import (
    LinearSVMConfig,
    LogisticRegressionConfig,
    MLPClassifierConfig,
    MLPRegressorConfig,
    ModelConfig,
    RidgeConfig,
)
from mlops_pipeline.features import feature_steps
from mlops_pipeline.quantize import ModelInputError, QuantizationError, QuantizedModel
from mlops_pipeline.quantize._format import FileChecker, _deterministic_npz
from mlops_pipeline.quantize._format_features import (
    FeatureBlock,
    features_from_file,
    features_to_file,
    input_scaling,
    pack_features,
)
from mlops_pipeline.train import fit_model

N_TRAIN = 4000


def _float_predict(estimator: Any, X: np.ndarray, method: str = "predict") -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scikit-learn's note on unseen categories
        return np.asarray(getattr(estimator, method)(X))


@pytest.mark.parametrize("family", ["one_hot", "native", "ordinal"])
def test_the_block_computes_what_the_fitted_steps_compute(family: Any) -> None:
    X, _ = mixed_table(3000)
    steps = feature_steps(SPECS, family).fit(X[:2000])
    block = pack_features(steps, SPECS, family)
    for rows in (X[2000:], with_unseen_categories(X[2000:])):
        expected = _float_predict(steps, rows, "transform")
        expected = expected.toarray() if hasattr(expected, "toarray") else expected
        got = block.apply(rows)
        if family == "one_hot":
            mean, scale = input_scaling(steps, block)
            got = (got - mean) / scale
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)  # NaN in the same cells (native, ordinal)
    assert block.categorical_mask().tolist() == (
        [False, False, True, False, True, False] + [False] * 5 if family == "native" else [False] * block.n_outputs
    )


@pytest.mark.parametrize(
    ("family", "names"),
    [
        ("one_hot", ["features_fill", "features_program", "features_slots"]),
        ("native", ["features_program"]),
        ("ordinal", ["features_program"]),
    ],
)
def test_the_block_round_trips_through_its_file_arrays(family: Any, names: list[str]) -> None:
    X, _ = mixed_table(1000)
    block = pack_features(feature_steps(SPECS, family).fit(X), SPECS, family)
    header, arrays = features_to_file(block)
    assert sorted(arrays) == names
    assert all(array.dtype != object for array in arrays.values())
    restored = features_from_file(FileChecker({"features": json.loads(json.dumps(header))}, arrays, "f.npz"))
    assert isinstance(restored, FeatureBlock) and restored.family == family
    np.testing.assert_array_equal(restored.apply(X), block.apply(X))
    np.testing.assert_array_equal(restored.categorical_mask(), block.categorical_mask())
    assert [c.spec for c in restored.columns] == [s.to_dict() for s in SPECS]


def test_a_code_outside_the_categories_is_refused_naming_the_column() -> None:
    X, _ = mixed_table(500)
    block = pack_features(feature_steps(SPECS, "one_hot").fit(X), SPECS, "one_hot")
    bad = X.copy()
    bad[3, 4] = 7.0
    with pytest.raises(ModelInputError, match=r"column 'size'.*rows \[3\]"):
        block.apply(bad)


CONFIGS: dict[str, ModelConfig] = {
    "logistic": LogisticRegressionConfig(),
    "linear-svm": LinearSVMConfig(),
    "mlp-classifier": MLPClassifierConfig(hidden_layer_sizes=[32], max_iter=400),
    "ridge": RidgeConfig(),
    "mlp-regressor": MLPRegressorConfig(hidden_layer_sizes=[16], max_iter=600),
}


@pytest.fixture(scope="module")
def table_models() -> dict[str, tuple[Any, np.ndarray, np.ndarray, np.ndarray]]:
    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLP convergence
        for name, config in CONFIGS.items():
            regression = name in ("ridge", "mlp-regressor")
            X, y = mixed_table(N_TRAIN + 4000, seed=3, regression=regression)
            fitted = fit_model(X[:N_TRAIN], y[:N_TRAIN], config, seed=0, columns=SPECS)
            models[name] = (fitted.estimator, X[:N_TRAIN], with_unseen_categories(X[N_TRAIN:]), y[N_TRAIN:])
    return models


@pytest.mark.parametrize("name", list(CONFIGS))
def test_int8_table_models_agree_with_the_float_model(name: str, table_models: dict[str, Any]) -> None:
    estimator, X_train, X_test, y_test = table_models[name]
    assert [step for step, _ in estimator.steps] == ["table", "features", "model"]
    names = [spec.name for spec in SPECS]
    model = QuantizedModel.from_bytes(QuantizedModel(estimator, feature_names=names).fit(X_train).to_bytes())
    assert model.n_features_in_ == len(SPECS) and model.feature_names_in_.tolist() == names
    float_predictions, int8_predictions = _float_predict(estimator, X_test), model.predict(X_test)
    float32 = QuantizedModel(estimator, weight_dtype="float32").fit(X_train)  # the same code path, unquantized
    if is_classifier(estimator):
        assert np.mean(int8_predictions == float_predictions) >= 0.995
        method = "predict_proba" if hasattr(estimator, "predict_proba") else "decision_function"
        np.testing.assert_allclose(getattr(model, method)(X_test), _float_predict(estimator, X_test, method), atol=0.05)
        np.testing.assert_array_equal(float32.predict(X_test), float_predictions)
    else:
        # int8 rounding moves a regression value by a few hundredths of the target's spread (the trend and the
        # year of a date are collinear, so their weights are large and opposite): bounded by the metric, which is
        # what the quantization gate bounds
        assert r2_score(y_test, float_predictions) - r2_score(y_test, int8_predictions) <= 0.005
        np.testing.assert_allclose(float32.predict(X_test), float_predictions, rtol=0, atol=1e-5)


def test_table_model_file_is_deterministic_pickle_free_and_checked(table_models: dict[str, Any]) -> None:
    estimator, X_train, X_test, _ = table_models["logistic"]
    data = QuantizedModel(estimator).fit(X_train).to_bytes()
    assert QuantizedModel(estimator).fit(X_train).to_bytes() == data
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    header = json.loads(arrays["header"].tobytes())
    assert header["family"] == "affine_layers" and header["n_features"] == len(SPECS)
    assert header["features"]["family"] == "one_hot"
    assert header["features"]["columns"][2]["categories"] == list(SPECS[2].categories or ())
    n_inputs = header["features"]["n_outputs"]
    assert arrays["layer0_weight"].dtype == np.int8 and arrays["layer0_weight"].shape[1] == n_inputs

    def refused(changed: dict[str, np.ndarray], message: str) -> None:
        with pytest.raises(QuantizationError, match=message):
            QuantizedModel.from_bytes(_deterministic_npz(changed), origin="model.int8.npz")

    slots = arrays["features_slots"].copy()
    slots[0, 0] = 0  # a category pointing at a dense input
    refused({**arrays, "features_slots": slots}, "model.int8.npz: array 'features_slots'")
    program = arrays["features_program"].copy()
    program[0, 0] = 99
    refused({**arrays, "features_program": program}, "array 'features_program'")
    refused({k: v for k, v in arrays.items() if k != "features_fill"}, "array 'features_fill' is missing")
    bad_header = {**header, "features": {**header["features"], "family": "bags"}}
    refused({**arrays, "header": np.frombuffer(json.dumps(bad_header).encode(), np.uint8)}, "header 'features'")


def test_table_model_scores_missing_cells_but_refuses_infinite_ones(table_models: dict[str, Any]) -> None:
    estimator, X_train, X_test, _ = table_models["mlp-classifier"]
    model = QuantizedModel(estimator).fit(X_train)
    rows = X_test[:10].copy()
    rows[:, [0, 1, 2, 3, 4]] = np.nan  # every column that can be missing, at once
    assert model.predict(rows).shape == (10,)
    rows[4, 5] = np.inf
    with pytest.raises(ModelInputError, match=r"rows \[4\]"):
        model.predict(rows)


def test_a_tree_family_pipeline_has_no_affine_form() -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from mlops_pipeline.features import TableEncoder

    X, y = mixed_table(300)
    pipeline = Pipeline(
        [
            ("table", TableEncoder([s.to_dict() for s in SPECS])),
            ("features", feature_steps(SPECS, "ordinal")),
            ("model", RandomForestClassifier(n_estimators=3, random_state=0)),
        ]
    ).fit(X, y)
    with pytest.raises(QuantizationError, match="RandomForestClassifier"):
        QuantizedModel(pipeline).fit(X)


def _numeric_table_model(regression: bool) -> QuantizedModel:
    """A table model the estimator checks can feed their random numbers to: numbers, a date and a boolean (codes
    would be refused), with missing cells, so it is table -> features -> model."""
    from test_quantized_estimator import N_FEATURES, Y_CLASS, Y_REG, X

    from mlops_pipeline.features import ColumnSpec

    kinds = ["numeric", "numeric", "datetime", "boolean"]
    specs = [ColumnSpec(f"c{i}", kind) for i, kind in enumerate(kinds)]  # type: ignore[arg-type]
    assert len(specs) == N_FEATURES
    rows = X.copy()
    rows[::5, 1] = np.nan
    config = RidgeConfig() if regression else LogisticRegressionConfig()
    return QuantizedModel(fit_model(rows, Y_REG if regression else Y_CLASS, config, seed=0, columns=specs).estimator)


def _expected_failures(estimator: Any) -> dict[str, str]:
    from test_quantized_estimator import expected_failures

    return expected_failures(estimator)


@parametrize_with_checks(
    [_numeric_table_model(regression=False), _numeric_table_model(regression=True)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks_of_a_table_model(estimator: QuantizedModel, check: Any) -> None:
    """The same checks as the all-numeric QuantizedModel, failing only where prefit semantics make them fail."""
    check(estimator)
