"""The skops form of a model without a quantized form: trusted types only, hash-checked, scored like int8."""

from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline

from mlops_pipeline.batch import load_scoring_model
from mlops_pipeline.config import DataConfig, QuantizeConfig, parse_config
from mlops_pipeline.contract import CONTRACT_FILE
from mlops_pipeline.data import load_dataset
from mlops_pipeline.gate import QuantizationResult, quantize_or_keep_float
from mlops_pipeline.quantize import QuantizationError, QuantizedTrees, model_from_bytes
from mlops_pipeline.registry import FLOAT_MODEL_FILE, IntegrityError, ModelStore
from mlops_pipeline.skops_form import (
    PIPELINE_TRUSTED_TYPES,
    SKOPS_MODEL_FILE,
    FloatForm,
    FloatModel,
    UntrustedModelError,
    dump_skops,
    load_skops,
    trusted_types,
)
from mlops_pipeline.train import build_estimator, fit_model
from mlops_pipeline.validate import PreparedData, prepare

OWN_ESTIMATOR = """
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.naive_bayes import GaussianNB

class OwnBayes(ClassifierMixin, BaseEstimator):
    # a user's own estimator class: skops trusts no such type unless told

    def __init__(self, smoothing=1e-9):
        self.smoothing = smoothing

    def fit(self, X, y):
        self.bayes_ = GaussianNB(var_smoothing=self.smoothing).fit(X, y)
        self.classes_ = self.bayes_.classes_
        return self

    def predict(self, X):
        return self.bayes_.predict(X)

def make(smoothing=1e-9):
    return OwnBayes(smoothing)
"""


@pytest.fixture
def own_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    name = f"own_estimators_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(OWN_ESTIMATOR))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    yield module
    sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def iris() -> PreparedData:
    config = DataConfig(source="iris")
    return prepare(load_dataset(config), config, "classification")


@pytest.mark.parametrize(
    "model",
    [
        {"kind": "logistic_regression"},
        {"kind": "mlp_classifier", "max_iter": 20},
        {"kind": "mlp_classifier", "max_iter": 20, "solver": "sgd"},
        {"kind": "hist_gradient_boosting", "max_iter": 5},
        {"kind": "random_forest", "n_estimators": 3},
        {"kind": "extra_trees", "n_estimators": 3},
    ],
)
def test_the_pipelines_own_trusted_types_cover_every_built_in_kind(model: dict[str, Any], iris: PreparedData) -> None:
    [spec] = parse_config({"model": model}).candidates
    fitted = fit_model(iris.X_train, iris.y_train, spec, seed=0).estimator
    data = dump_skops(fitted)
    restored = load_skops(data, trusted_types(), "test")
    assert np.array_equal(restored.predict(iris.X_test), fitted.predict(iris.X_test))


def test_an_untrusted_type_is_refused_naming_it_until_the_config_trusts_it(own_module: Any, iris: PreparedData) -> None:
    fitted = own_module.make().fit(iris.X_train, iris.y_train)
    data = dump_skops(fitted)
    type_name = f"{own_module.__name__}.OwnBayes"
    with pytest.raises(
        UntrustedModelError, match=rf"models/v1/model.skops: holds types that are not trusted: {type_name}"
    ):
        load_skops(data, trusted_types(), "models/v1/model.skops")
    restored = load_skops(data, trusted_types([type_name]), "models/v1/model.skops")
    assert np.array_equal(restored.predict(iris.X_test), fitted.predict(iris.X_test))


def test_a_file_that_is_not_skops_is_refused() -> None:
    with pytest.raises(UntrustedModelError, match="not a readable skops file"):
        load_skops(b"\x80\x04pickle bytes", trusted_types(), "model.skops")


def test_float_model_scores_like_the_quantized_model(iris: PreparedData) -> None:
    knn = GaussianNB().fit(iris.X_train, iris.y_train)
    model = FloatModel(knn, "classification")
    labels, probabilities = model.predict_with_proba(iris.X_test)
    assert np.array_equal(labels, knn.predict(iris.X_test))
    assert np.allclose(probabilities, knn.predict_proba(iris.X_test))
    assert list(model.classes_) == list(knn.classes_)
    regressor = FloatModel(HistGradientBoostingRegressor(max_iter=3).fit(iris.X_train, iris.y_train), "regression")
    assert not hasattr(regressor, "predict_proba") and not hasattr(regressor, "classes_")


def _trained(iris: PreparedData, model: dict[str, Any], **config: Any) -> tuple[Any, QuantizeConfig]:
    parsed = parse_config({"model": model, **config})
    return fit_model(iris.X_train, iris.y_train, parsed.candidates[0], seed=0), parsed.quantize


def test_quantize_step_keeps_a_model_without_a_quantized_form_as_skops(own_module: Any, iris: PreparedData) -> None:
    custom = {"kind": "custom", "factory": f"{own_module.__name__}:make"}
    trained, quantize = _trained(iris, {**custom, "trusted_types": [f"{own_module.__name__}.OwnBayes"]})
    form = quantize_or_keep_float(trained, iris, quantize)
    assert isinstance(form, FloatForm)
    assert "OwnBayes is neither a linear model, an MLP nor a tree ensemble" in form.reason
    assert form.agreement == 1.0 and f"{own_module.__name__}.OwnBayes" in form.trusted_types
    # the same model without its type trusted: the run cannot promote what the service could not load
    untrusted, quantize = _trained(iris, custom)
    with pytest.raises(QuantizationError, match=rf"not trusted: {own_module.__name__}.OwnBayes"):
        quantize_or_keep_float(untrusted, iris, quantize)
    # quantize.enabled: true explicitly: a clear error (the run's start check says so before training)
    with pytest.raises(QuantizationError, match="quantize.enabled is true, but the model has no quantized form"):
        quantize_or_keep_float(trained, iris, QuantizeConfig(enabled=True))


def test_quantize_step_still_quantizes_linear_models(iris: PreparedData) -> None:
    trained, quantize = _trained(iris, {"kind": "logistic_regression"}, gate={"min_metrics": {"accuracy": 0.5}})
    assert isinstance(quantize_or_keep_float(trained, iris, quantize), QuantizationResult)


def test_trees_get_the_tree_form_not_the_skops_file(iris: PreparedData) -> None:
    trained, quantize = _trained(iris, {"kind": "random_forest", "n_estimators": 5})
    form = quantize_or_keep_float(trained, iris, quantize)
    assert isinstance(form, QuantizationResult) and isinstance(form.model, QuantizedTrees)
    reloaded = model_from_bytes(form.npz_bytes, "forest.npz")
    assert np.array_equal(reloaded.predict(iris.X_test), form.model.predict(iris.X_test))


def test_batch_scoring_loads_the_skops_file_after_the_hash_check(iris: PreparedData, tmp_path: Path) -> None:
    knn = Pipeline([("model", GaussianNB())]).fit(iris.X_train, iris.y_train)
    assert iris.contract is not None
    files = {
        FLOAT_MODEL_FILE: b"not used by scoring",
        SKOPS_MODEL_FILE: dump_skops(knn),
        CONTRACT_FILE: iris.contract.to_json_bytes(),
    }
    card = {"problem": "classification", "selection": {"model": {"kind": "custom", "trusted_types": []}}}
    store = ModelStore(tmp_path, "knn")
    store.publish(files, card, promote=True)
    scoring = load_scoring_model(tmp_path, "knn")
    assert scoring.form == "float, skops"
    assert np.array_equal(scoring.model.predict(iris.X_test), knn.predict(iris.X_test))
    # a tampered file is refused by the card's hash before skops reads it
    (tmp_path / "knn" / "v1" / SKOPS_MODEL_FILE).write_bytes(
        dump_skops(GaussianNB(var_smoothing=0.5).fit(iris.X_train, iris.y_train))
    )
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        load_scoring_model(tmp_path, "knn")


def test_the_trusted_list_is_the_pipelines_own_plus_the_configs() -> None:
    assert set(PIPELINE_TRUSTED_TYPES) <= set(trusted_types(["a.B"])) and "a.B" in trusted_types(["a.B"])
    assert build_estimator(parse_config({"model": {"kind": "ridge"}, "gate": {"min_metrics": {}}}).candidates[0], 0)


@pytest.mark.parametrize("model", [{"kind": "random_forest", "n_estimators": 4}, {"kind": "hist_gradient_boosting"}])
def test_the_same_stored_model_always_gives_the_same_skops_bytes(model: dict[str, Any], iris: PreparedData) -> None:
    # skops names files and memo ids after id() and stamps the time; tree nodes carry padding bytes: none of it may
    # leak into the bytes, or an unchanged retrain would look like a new model
    trained = fit_model(iris.X_train, iris.y_train, parse_config({"model": model}).candidates[0], seed=0)
    first = dump_skops(joblib.load(io.BytesIO(trained.model_bytes)))
    second = dump_skops(joblib.load(io.BytesIO(trained.model_bytes)))
    assert first == second
    restored = load_skops(first, trusted_types(), "test")
    assert np.array_equal(restored.predict(iris.X_test), trained.estimator.predict(iris.X_test))
