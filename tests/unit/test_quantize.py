"""The int8 QuantizedModel: accuracy against the float model, storage, input contract, scikit-learn contract."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.datasets import load_diabetes, load_digits, make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier

from mlops_pipeline.quantize import (
    FORMAT_VERSION,
    ModelInputError,
    QuantizationError,
    QuantizedModel,
    dequantize_rows,
    quantize_rows,
)
from mlops_pipeline.quantize._format import _deterministic_npz
from mlops_pipeline.quantize._outputs import _all_finite, _write_row_argmax
from mlops_pipeline.quantize._weights import _activate

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _split(X: np.ndarray, y: np.ndarray) -> Split:
    return tuple(train_test_split(X, y, test_size=0.25, random_state=0))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def digits() -> Split:
    X, y = load_digits(return_X_y=True)
    return _split(X, y)


@pytest.fixture(scope="module")
def binary() -> Split:
    X, y = make_classification(400, 12, n_informative=6, random_state=0)
    return _split(X * 50 + 300, np.where(y == 1, "yes", "no"))  # unscaled features, string labels


@pytest.fixture(scope="module")
def diabetes_raw() -> Split:
    X, y = load_diabetes(return_X_y=True, scaled=False)
    return _split(X, y)


@pytest.fixture(scope="module")
def regression() -> Split:
    X, y = make_regression(400, 8, noise=5.0, random_state=0)
    return _split(X * [1, 10, 100, 1000, 0.01, 1, 5, 0.1] + 7, y)


def _mlp(**kwargs: Any) -> MLPClassifier:
    return MLPClassifier(hidden_layer_sizes=(24, 12), max_iter=300, random_state=0, **kwargs)


# (estimator factory, data fixture, float methods whose outputs the int8 model must reproduce)
MODELS: dict[str, tuple[Callable[[], Any], str, tuple[str, ...]]] = {
    "logreg-multiclass": (
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
        "digits",
        ("decision_function", "predict_proba"),
    ),
    "logreg-binary-unscaled": (
        lambda: LogisticRegression(max_iter=2000),
        "binary",
        ("decision_function", "predict_proba"),
    ),
    "linear-svc-multiclass": (
        lambda: make_pipeline(StandardScaler(), LinearSVC(random_state=0)),
        "digits",
        ("decision_function",),
    ),
    "linear-svc-binary": (
        lambda: make_pipeline(StandardScaler(), LinearSVC(random_state=0)),
        "binary",
        ("decision_function",),
    ),
    "linear-svr": (
        lambda: make_pipeline(StandardScaler(), LinearSVR(C=10.0, max_iter=20_000, random_state=0)),
        "regression",
        ("predict",),
    ),
    "linear-regression-unscaled": (LinearRegression, "diabetes_raw", ("predict",)),
    "ridge": (lambda: make_pipeline(StandardScaler(), Ridge()), "regression", ("predict",)),
    "mlp-relu-multiclass": (lambda: make_pipeline(StandardScaler(), _mlp()), "digits", ("predict_proba",)),
    "mlp-tanh-binary": (lambda: make_pipeline(StandardScaler(), _mlp(activation="tanh")), "binary", ("predict_proba",)),
    "mlp-logistic-multiclass": (
        lambda: make_pipeline(StandardScaler(), _mlp(activation="logistic")),
        "digits",
        ("predict_proba",),
    ),
    "mlp-identity": (
        lambda: make_pipeline(StandardScaler(), _mlp(activation="identity")),
        "binary",
        ("predict_proba",),
    ),
    "mlp-regressor": (
        lambda: make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16,), max_iter=2000, random_state=0)),
        "regression",
        ("predict",),
    ),
}


@pytest.fixture(scope="module")
def fitted(request: pytest.FixtureRequest) -> dict[str, tuple[Any, Split]]:
    """Every model of MODELS fitted once for the module (MLPs take a moment)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    models = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, (factory, data_name, _) in MODELS.items():
            data: Split = request.getfixturevalue(data_name)
            models[name] = (factory().fit(data[0], data[2]), data)
    return models


def _max_relative_error(reference: np.ndarray, value: np.ndarray) -> float:
    return float(np.max(np.abs(reference - value)) / max(float(np.max(np.abs(reference))), 1e-12))


@pytest.mark.parametrize("name", list(MODELS))
def test_float32_twin_reproduces_scikit_learn_outputs(name: str, fitted: dict[str, tuple[Any, Split]]) -> None:
    """Same code path with unquantized weights: any mismatch is a bug in layers, folding or output mapping."""
    estimator, (X_train, X_test, _, _) = fitted[name]
    twin = QuantizedModel(estimator=estimator, weight_dtype="float32").fit(X_train)
    if twin.problem_ == "classification":
        np.testing.assert_array_equal(twin.predict(X_test), estimator.predict(X_test))
    for method in MODELS[name][2]:
        assert _max_relative_error(getattr(estimator, method)(X_test), getattr(twin, method)(X_test)) < 1e-4


@pytest.mark.parametrize("name", list(MODELS))
def test_int8_model_stays_close_to_the_float_model(name: str, fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, X_test, _, y_test) = fitted[name]
    model = QuantizedModel(estimator=estimator).fit(X_train)
    assert all(layer.weight.dtype == np.int8 for layer in model.layers_)
    float_predictions, int8_predictions = estimator.predict(X_test), model.predict(X_test)
    if model.problem_ == "classification":
        assert np.mean(float_predictions == int8_predictions) >= 0.99
    else:
        assert abs(r2_score(y_test, float_predictions) - model.score(X_test, y_test)) <= 0.002
    for method in MODELS[name][2]:
        assert _max_relative_error(getattr(estimator, method)(X_test), getattr(model, method)(X_test)) < 0.05


def test_linear_svc_has_no_probabilities_like_scikit_learn(fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, X_test, _, _) = fitted["linear-svc-multiclass"]
    model = QuantizedModel(estimator=estimator).fit(X_train)
    assert not hasattr(estimator, "predict_proba") and not hasattr(model, "predict_proba")
    with pytest.raises(AttributeError):
        model.predict_proba(X_test)
    assert model.decision_function(X_test).shape == (len(X_test), 10)


def test_regressors_have_neither_probabilities_nor_decision_function(
    fitted: dict[str, tuple[Any, Split]],
) -> None:
    estimator, (X_train, _, _, _) = fitted["linear-svr"]
    model = QuantizedModel(estimator=estimator).fit(X_train)
    assert not hasattr(model, "predict_proba") and not hasattr(model, "decision_function")


def test_binary_outputs_have_scikit_learn_shapes_and_labels(fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, X_test, _, _) = fitted["logreg-binary-unscaled"]
    model = QuantizedModel(estimator=estimator).fit(X_train)
    assert model.decision_function(X_test).shape == (len(X_test),)
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(X_test)) <= {"yes", "no"}


def test_quantizing_in_the_standardised_domain_keeps_unscaled_features(diabetes_raw: Split) -> None:
    """On diabetes(scaled=False) raw coefficients span orders of magnitude; per-row int8 on them loses R²."""
    X_train, X_test, y_train, y_test = diabetes_raw
    estimator = LinearRegression().fit(X_train, y_train)
    float_r2 = r2_score(y_test, estimator.predict(X_test))
    q, scale = quantize_rows(estimator.coef_)
    naive = X_test @ dequantize_rows(q, scale)[0] + estimator.intercept_
    int8_r2 = QuantizedModel(estimator=estimator).fit(X_train).score(X_test, y_test)
    assert abs(float_r2 - int8_r2) <= 0.002
    assert float_r2 - r2_score(y_test, naive) > 10 * abs(float_r2 - int8_r2)


def test_output_aware_rounding_lowers_the_output_error_on_correlated_inputs() -> None:
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((2000, 32)) @ rng.standard_normal((32, 32))  # strongly correlated columns
    weight = rng.standard_normal((4, 32))
    second_moment = inputs.T @ inputs / len(inputs)

    def output_error(q: np.ndarray, s: np.ndarray) -> float:
        return float(np.mean((inputs @ (weight - dequantize_rows(q, s)).T) ** 2))

    nearest, aware = quantize_rows(weight), quantize_rows(weight, second_moment)
    np.testing.assert_array_equal(nearest[1], aware[1])  # same scales: storage is unchanged
    assert aware[0].dtype == np.int8 and np.abs(aware[0].astype(int)).max() <= 127
    assert output_error(*aware) < 0.7 * output_error(*nearest)


def test_quantize_rows_uses_the_full_int8_range_per_row() -> None:
    q, scale = quantize_rows(np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [200.0, 3.0, -100.0]]))
    assert q.dtype == np.int8 and scale.dtype == np.float32
    assert np.abs(q[0]).max() == 127 and np.abs(q[2]).max() == 127
    np.testing.assert_array_equal(q[1], 0)


@pytest.mark.parametrize(
    "values",
    [
        np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 1.0], [-1.0, -2.0, -1.0], [0.0, 0.0, 0.0]], dtype=np.float32),
        np.random.default_rng(0).standard_normal((50, 12)).astype(np.float32),
    ],
)
def test_row_argmax_matches_numpy_including_ties(values: np.ndarray) -> None:
    out = np.empty(len(values), dtype=np.intp)
    _write_row_argmax(values, out)
    np.testing.assert_array_equal(out, values.argmax(axis=1))


def test_chunked_prediction_matches_one_shot(fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, X_test, _, _) = fitted["mlp-relu-multiclass"]
    whole = QuantizedModel(estimator=estimator, batch_rows=100_000).fit(X_train)
    chunked = QuantizedModel(estimator=estimator, batch_rows=7).fit(X_train)
    # BLAS may block a 7-row product differently: equal up to float32 rounding
    np.testing.assert_allclose(whole.predict_proba(X_test), chunked.predict_proba(X_test), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(whole.predict(X_test), chunked.predict(X_test))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[1.0, -2.0], [3.0, 0.0]], dtype=np.float32), True),
        (np.array([[1e30, -1e30]], dtype=np.float32), True),  # the squares overflow: every value is checked
        (np.array([[1.0, np.nan]], dtype=np.float32), False),
        (np.array([[np.inf, 1.0]]), False),
        (np.array([[-np.inf], [1.0]]), False),
        (np.empty((0, 3), dtype=np.float32), True),
    ],
)
def test_all_finite_matches_numpy(values: np.ndarray, expected: bool) -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        assert _all_finite(values) is expected


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_activations_match_their_definition(activation: str) -> None:
    values = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    reference = {
        "relu": lambda v: np.maximum(v, 0),
        "tanh": np.tanh,
        "logistic": lambda v: 1 / (1 + np.exp(-v)),
        "identity": lambda v: v,
    }[activation](values.copy())
    np.testing.assert_allclose(_activate(values, activation), reference, rtol=1e-6)


@pytest.mark.parametrize("name", ["linear-regression-unscaled", "logreg-binary-unscaled", "linear-svc-binary"])
def test_one_output_models_accept_any_layout_and_dtype(name: str, fitted: dict[str, tuple[Any, Split]]) -> None:
    """One output: the matrix-vector product reads the caller's float64 rows as they are; others are cast."""
    estimator, (X_train, X_test, _, _) = fitted[name]
    model = QuantizedModel(estimator=estimator, batch_rows=7).fit(X_train)
    method = "predict" if name.startswith("linear-regression") else "decision_function"
    reference = getattr(model, method)(X_test)
    for variant in (np.asfortranarray(X_test), X_test[:, ::-1][:, ::-1], X_test.astype(np.float32)):
        np.testing.assert_allclose(getattr(model, method)(variant), reference, rtol=1e-5, atol=1e-4)
    if method == "decision_function":  # labels: the same, not just close
        np.testing.assert_array_equal(model.predict(np.asfortranarray(X_test)), model.predict(X_test))
    with pytest.raises(ModelInputError, match=r"rows \[3\]"):
        model.predict(np.where(np.arange(len(X_test))[:, None] == 3, np.nan, X_test))


def test_features_far_from_zero_keep_their_precision() -> None:
    """|mean / std| of 1e7: the first layer switches to float64 instead of cancelling in float32."""
    X, y = make_regression(300, 5, noise=1.0, random_state=1)
    X_far = X + 1e7
    estimator = make_pipeline(StandardScaler(), Ridge(alpha=0.1)).fit(X_far, y)
    model = QuantizedModel(estimator=estimator).fit(X_far)
    assert abs(r2_score(y, estimator.predict(X_far)) - model.score(X_far, y)) <= 0.002
    restored = QuantizedModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(restored.predict(X_far), model.predict(X_far))


def test_empty_input_gives_empty_output(fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, X_test, _, _) = fitted["logreg-multiclass"]
    model = QuantizedModel(estimator=estimator).fit(X_train)
    assert model.predict(X_test[:0]).shape == (0,)
    assert model.predict_proba(X_test[:0]).shape == (0, 10)


# ---- storage -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["logreg-multiclass", "linear-svc-binary", "mlp-tanh-binary", "mlp-regressor"])
def test_file_round_trip_is_exact_and_byte_deterministic(name: str, fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, X_test, _, _) = fitted[name]
    names = [f"f{i}" for i in range(X_train.shape[1])]
    model = QuantizedModel(estimator=estimator, feature_names=names).fit(X_train)
    data = model.to_bytes()
    assert QuantizedModel(estimator=estimator, feature_names=names).fit(X_train).to_bytes() == data
    restored = QuantizedModel.from_bytes(data)
    np.testing.assert_array_equal(restored.predict(X_test), model.predict(X_test))
    assert restored.to_bytes() == data
    assert list(restored.feature_names_in_) == names


def test_file_is_plain_arrays_with_a_json_header(fitted: dict[str, tuple[Any, Split]], tmp_path: Any) -> None:
    estimator, (X_train, _, _, _) = fitted["mlp-relu-multiclass"]
    path = tmp_path / "model.int8.npz"
    path.write_bytes(QuantizedModel(estimator=estimator).fit(X_train).to_bytes())
    with np.load(path, allow_pickle=False) as npz:
        header = json.loads(npz["header"].tobytes())
        assert sorted(npz.files) == sorted(
            [
                "header",
                "input_standardisation",
                "layer0_weight",
                "layer0_scale_bias",
                "layer1_weight",
                "layer1_scale_bias",
                "layer2_weight",
                "layer2_scale_bias",
            ]
        )
        assert npz["layer0_weight"].dtype == np.int8 and npz["layer0_weight"].shape == (24, 64)
    assert header["format_version"] == FORMAT_VERSION
    assert header["model_kind"] == "MLPClassifier" and header["hidden_activation"] == "relu"
    assert header["classes"] == list(range(10)) and header["output"] == "softmax"
    assert QuantizedModel.load(path).n_features_in_ == 64


def _arrays_of(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def _with_header(arrays: dict[str, np.ndarray], **changes: Any) -> dict[str, np.ndarray]:
    header = json.loads(arrays["header"].tobytes())
    header.update(changes)
    return {**arrays, "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}


CORRUPTIONS: dict[str, tuple[Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], str]] = {
    "weights as float64": (
        lambda a: {**a, "layer0_weight": a["layer0_weight"].astype(np.float64)},
        "array 'layer0_weight' is float64",
    ),
    "missing bias": (
        lambda a: {k: v for k, v in a.items() if k != "layer0_scale_bias"},
        "array 'layer0_scale_bias' is missing",
    ),
    "wrong width": (lambda a: {**a, "layer0_weight": a["layer0_weight"][:, :5]}, "array 'layer0_weight'"),
    "future version": (lambda a: _with_header(a, format_version=99), "format_version 99"),
    "unknown activation": (lambda a: _with_header(a, hidden_activation="gelu"), "'hidden_activation' is 'gelu'"),
    "classes mismatch": (lambda a: _with_header(a, classes=[0, 1, 2]), "3 classes but the last layer has 10"),
    "nan scale": (
        lambda a: {**a, "input_standardisation": np.full_like(a["input_standardisation"], np.nan)},
        "NaN or infinite",
    ),
    "no header": (lambda a: {k: v for k, v in a.items() if k != "header"}, "not a quantized model file"),
    "unknown family": (lambda a: _with_header(a, family="tree_ensemble"), "header 'family' is 'tree_ensemble'"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_invalid_files_are_rejected_naming_the_problem(corruption: str, fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, _, _, _) = fitted["logreg-multiclass"]
    arrays = _arrays_of(QuantizedModel(estimator=estimator).fit(X_train).to_bytes())
    change, message = CORRUPTIONS[corruption]
    with pytest.raises(QuantizationError, match="model.int8.npz") as error:
        QuantizedModel.from_bytes(_deterministic_npz(change(arrays)), origin="model.int8.npz")
    assert message in str(error.value)


def test_a_file_without_the_family_key_is_read_as_affine_layers(fitted: dict[str, tuple[Any, Split]]) -> None:
    """Files written before the header named its model family hold affine layers, and stay loadable."""
    estimator, (X_train, X_test, _, _) = fitted["mlp-tanh-binary"]
    model = QuantizedModel(estimator=estimator).fit(X_train)
    arrays = _arrays_of(model.to_bytes())
    header = json.loads(arrays["header"].tobytes())
    assert header["family"] == "affine_layers"
    del header["family"]
    older = {**arrays, "header": np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)}
    restored = QuantizedModel.from_bytes(_deterministic_npz(older))
    np.testing.assert_array_equal(restored.predict_proba(X_test), model.predict_proba(X_test))


def test_a_pickle_inside_the_file_is_never_loaded() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, header=np.array([{"format_version": 2}], dtype=object))
    with pytest.raises(QuantizationError, match="not a quantized model file"):
        QuantizedModel.from_bytes(buffer.getvalue())
    with pytest.raises(QuantizationError, match="not a quantized model file"):
        QuantizedModel.from_bytes(b"not a zip file")


def test_fixed_zip_timestamps() -> None:
    data = _deterministic_npz({"a": np.arange(3)})
    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].date_time == (1980, 1, 1, 0, 0, 0)


# ---- input contract ----------------------------------------------------------------------------------------------
def _Frame(values: np.ndarray, columns: list[str]) -> pl.DataFrame:
    """A DataFrame with named columns (polars: a dependency of the project; scikit-learn reads its names)."""
    return pl.DataFrame(values, schema=columns, orient="row")


@pytest.fixture(scope="module")
def named_model(digits: Split) -> QuantizedModel:
    X_train, _, y_train, _ = digits
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X_train, y_train)
    return QuantizedModel(estimator=estimator, feature_names=[f"pixel_{i}" for i in range(64)]).fit(X_train)


BAD_INPUTS: dict[str, tuple[Callable[[np.ndarray], Any], str]] = {
    "too few features": (lambda X: X[:, :10], "expected rows of 64 features, got 10"),
    "one row as 1-D": (lambda X: X[0], "reshape a single row"),
    "strings": (lambda X: X.astype(str), "features must be numbers"),
    "NaN": (lambda X: np.where(np.arange(64) == 5, np.nan, X)[:3], "rows [0, 1, 2], columns ['pixel_5']"),
    "infinity in one row": (lambda X: np.vstack([X[:4], np.full((1, 64), np.inf)]), "rows [4]"),
    "renamed column": (
        lambda X: _Frame(X, ["pixel_0", "x"] + [f"pixel_{i}" for i in range(2, 64)]),
        "missing ['pixel_1'], unexpected ['x']",
    ),
    "reordered columns": (lambda X: _Frame(X, [f"pixel_{i}" for i in reversed(range(64))]), "different order"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_input_outside_the_contract_is_rejected(case: str, named_model: QuantizedModel, digits: Split) -> None:
    make, message = BAD_INPUTS[case]
    with pytest.raises(ModelInputError) as error:
        named_model.predict(make(digits[1]))
    assert message in str(error.value)


def test_matching_named_columns_and_integer_input_are_accepted(named_model: QuantizedModel, digits: Split) -> None:
    X_test = digits[1]
    frame = _Frame(X_test, [f"pixel_{i}" for i in range(64)])
    np.testing.assert_array_equal(named_model.predict(frame), named_model.predict(X_test))
    np.testing.assert_array_equal(named_model.predict(X_test.astype(np.int64)), named_model.predict(X_test))


# ---- scikit-learn contract ---------------------------------------------------------------------------------------
def test_clone_of_an_unfitted_model_keeps_its_params() -> None:
    model = QuantizedModel(estimator=LogisticRegression(C=0.5), feature_names=["a", "b"], batch_rows=64)
    copy = clone(model)
    assert copy.get_params()["feature_names"] == ["a", "b"] and copy.batch_rows == 64
    assert copy.estimator.C == 0.5 and copy.estimator is not model.estimator
    with pytest.raises(NotFittedError):
        copy.predict(np.zeros((1, 2)))


def test_clone_of_a_fitted_model_is_unfitted(fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, _, _, _) = fitted["logreg-multiclass"]
    copy = clone(QuantizedModel(estimator=estimator).fit(X_train))
    assert not hasattr(copy, "layers_")


@pytest.mark.parametrize(
    "estimator, X, message",
    [
        (None, np.zeros((3, 2)), "needs a fitted `estimator`"),
        (
            make_pipeline(MinMaxScaler(), LogisticRegression()).fit([[0, 1], [1, 0]], [0, 1]),
            np.zeros((3, 2)),
            "other than StandardScaler: MinMaxScaler",
        ),
        (DecisionTreeClassifier().fit([[0, 1], [1, 0]], [0, 1]), np.zeros((3, 2)), "no weights to quantize"),
        (
            MLPClassifier(hidden_layer_sizes=(3,), max_iter=500, random_state=0).fit(
                [[0, 1], [1, 0]], [[0, 1], [1, 1]]
            ),
            np.zeros((3, 2)),
            "multilabel",
        ),
    ],
)
def test_models_that_cannot_be_quantized_say_why(estimator: Any, X: np.ndarray, message: str) -> None:
    with pytest.raises(QuantizationError, match=message):
        QuantizedModel(estimator=estimator).fit(X)


def test_calibration_data_must_match_the_model(fitted: dict[str, tuple[Any, Split]]) -> None:
    estimator, (X_train, _, _, _) = fitted["logreg-multiclass"]
    with pytest.raises(ModelInputError, match="calibration data: expected rows of 64 features"):
        QuantizedModel(estimator=estimator).fit(X_train[:, :3])


def test_unfitted_pipeline_is_not_quantized() -> None:
    with pytest.raises(NotFittedError):
        QuantizedModel(estimator=Pipeline([("model", LogisticRegression())])).fit(np.zeros((2, 2)))


def test_predict_with_proba_is_predict_and_predict_proba_from_one_pass() -> None:
    from sklearn.datasets import load_digits, load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    for X, y in (load_digits(return_X_y=True), load_iris(return_X_y=True)):
        for labels in (y, np.where(y == 0, "zero", "other")):  # softmax over classes, and two text classes
            float_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, labels)
            model = QuantizedModel(estimator=float_model).fit(X)
            predictions, probabilities = model.predict_with_proba(X)
            np.testing.assert_array_equal(predictions, model.predict(X))
            np.testing.assert_array_equal(probabilities, model.predict_proba(X))
