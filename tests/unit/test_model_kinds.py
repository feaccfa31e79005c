"""The tree kinds and your own estimator: config keys, the run's problem, the factory's checks, seeding."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline

from mlops_pipeline.config import ConfigError, CustomModelConfig, parse_config
from mlops_pipeline.estimators import (
    FactoryError,
    check_model_factories,
    custom_estimator,
    factory_source_digest,
    final_estimator,
    quantizable,
    quantized_family,
)
from mlops_pipeline.train import build_estimator, candidate_rows, fit_model, score_candidate

FACTORIES = """
from sklearn.ensemble import ExtraTreesClassifier, RandomForestRegressor
from sklearn.neighbors import KNeighborsClassifier
import numpy as np

def extra_trees(n_estimators=10, max_depth=None):
    return ExtraTreesClassifier(n_estimators=n_estimators, max_depth=max_depth)

def neighbours(n_neighbors=3):
    return KNeighborsClassifier(n_neighbors=n_neighbors)

def regressor():
    return RandomForestRegressor(n_estimators=3)

def fitted():
    return ExtraTreesClassifier(n_estimators=2).fit(np.eye(4), [0, 1, 0, 1])

def not_an_estimator():
    return {"model": "forest"}

def raises():
    raise RuntimeError("the license server is down")

def anything(**kwargs):
    return ExtraTreesClassifier(n_estimators=5, random_state=7, **kwargs)

VALUE = 3
"""


@pytest.fixture
def factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A user's module of factories, importable as `user_models_<n>` (written here, put on sys.path)."""
    name = f"user_models_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(FACTORIES))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _custom(factory: str, **keys: object) -> dict[str, object]:
    return {"model": {"kind": "custom", "factory": factory, **keys}}


# ---- config ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "gate", "problem", "expected"),
    [
        ({"kind": "hist_gradient_boosting"}, {}, "classification", HistGradientBoostingClassifier),
        ({"kind": "hist_gradient_boosting"}, {"min_metrics": {"r2": 0.1}}, "regression", HistGradientBoostingRegressor),
        ({"kind": "random_forest", "n_estimators": 7}, {}, "classification", RandomForestClassifier),
        ({"kind": "random_forest", "problem": "regression"}, {"min_metrics": {}}, "regression", RandomForestRegressor),
        ({"kind": "extra_trees", "max_features": "all"}, {}, "classification", ExtraTreesClassifier),
        ({"kind": "extra_trees", "problem": "regression"}, {"min_metrics": {}}, "regression", ExtraTreesRegressor),
    ],
)
def test_tree_kinds_parse_and_build_the_estimator_of_the_runs_problem(
    model: dict[str, object], gate: dict[str, object], problem: str, expected: type
) -> None:
    config = parse_config({"model": model, "gate": gate})
    assert config.problem == problem
    [candidate] = config.candidates
    assert candidate.problem == problem  # type: ignore[union-attr]  # set on the candidate as trained
    estimator = build_estimator(candidate, seed=5)
    assert [name for name, _ in estimator.steps] == ["model"]  # no scaler in front of trees
    assert type(estimator[-1]) is expected
    assert estimator[-1].random_state == 5
    if model.get("n_estimators"):
        assert estimator[-1].n_estimators == 7
    if model.get("max_features") == "all":
        assert estimator[-1].max_features == 1.0


def test_an_explicit_problem_beats_the_gate_and_must_agree_with_the_other_candidates() -> None:
    config = parse_config(
        {
            "model": {"candidates": [{"kind": "random_forest"}, {"kind": "ridge"}]},
            "gate": {"min_metrics": {"r2": 0.1}},
        }
    )
    assert config.problem == "regression"
    assert config.candidates[0].problem == "regression"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"random_forest \(regression\), logistic_regression \(classification\)"):
        parse_config({"model": {"candidates": [{"kind": "random_forest", "problem": "regression"}, {"C": 1.0}]}})


def test_existing_kinds_keep_their_problem_and_their_config() -> None:
    config = parse_config({"model": {"kind": "ridge"}, "gate": {"min_metrics": {"r2": 0.1}}})
    assert config.candidates == list(config.model.candidates)  # nothing added to a kind that fixes its problem
    assert "problem" not in config.candidates[0].model_dump()


@pytest.mark.parametrize(
    ("model", "key", "valid"),
    [
        ({"kind": "random_forest", "n_trees": 10}, "model.n_trees", "n_estimators"),
        ({"kind": "hist_gradient_boosting", "iterations": 10}, "model.iterations", "max_iter"),
        ({"kind": "extra_trees", "learning_rate": 0.1}, "model.learning_rate", "min_samples_leaf"),
        ({"kind": "custom", "factory": "a.b:c", "param": {}}, "model.param", "params"),
    ],
)
def test_an_unknown_hyperparameter_is_named_with_the_valid_ones(model: dict[str, object], key: str, valid: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"model": model})
    message = str(error.value)
    assert f"unknown key '{key}'" in message
    assert "allowed here:" in message and valid in message.split("allowed here:")[1]


@pytest.mark.parametrize("factory", ["mypackage.models", "mypackage.models.make", "not a path:f", "pkg.mod:"])
def test_a_factory_path_must_be_module_colon_function(factory: str) -> None:
    with pytest.raises(ConfigError, match=r"'model\.factory'") as error:
        parse_config(_custom(factory))
    assert factory in str(error.value)


def test_custom_defaults_to_one_hot_preprocessing() -> None:
    [candidate] = parse_config(_custom("pkg.mod:make")).candidates
    assert isinstance(candidate, CustomModelConfig)
    assert (candidate.preprocessing, candidate.params, candidate.trusted_types) == ("one_hot", {}, [])


# ---- the factory ----------------------------------------------------------------------------------------------
def test_a_factory_is_called_with_its_params_cloned_and_seeded(factories: str) -> None:
    config = parse_config(_custom(f"{factories}:extra_trees", params={"n_estimators": 4, "max_depth": 3}))
    check_model_factories(config)
    estimator = build_estimator(config.candidates[0], seed=11)
    assert [name for name, _ in estimator.steps] == ["scaler", "model"]
    model = estimator[-1]
    assert isinstance(model, ExtraTreesClassifier)
    assert (model.n_estimators, model.max_depth, model.random_state) == (4, 3, 11)


def test_a_random_state_the_factory_set_is_kept(factories: str) -> None:
    config = parse_config(_custom(f"{factories}:anything", params={"max_depth": 2}))
    assert final_estimator(config.candidates[0], 11, "classification").random_state == 7


@pytest.mark.parametrize(
    ("factory", "params", "gate", "message"),
    [
        ("no_such_module_here:make", {}, {}, "cannot import module 'no_such_module_here'"),
        ("{m}:missing", {}, {}, "has no 'missing'"),
        ("{m}:VALUE", {}, {}, "'VALUE' is a int, not a function"),
        ("{m}:raises", {}, {}, "raised RuntimeError: the license server is down"),
        ("{m}:not_an_estimator", {}, {}, "returned a dict, not a scikit-learn estimator"),
        ("{m}:fitted", {}, {}, "returned a fitted ExtraTreesClassifier"),
        ("{m}:regressor", {}, {}, "a regressor, but this run is classification and needs a classifier"),
        ("{m}:extra_trees", {}, {"min_metrics": {"r2": 0.1}}, "a classifier, but this run is regression"),
        ("{m}:extra_trees", {"n_trees": 3}, {}, "params.n_trees: not a parameter of factory"),
    ],
)
def test_a_bad_factory_fails_at_the_start_naming_it(
    factories: str, factory: str, params: dict[str, object], gate: dict[str, object], message: str
) -> None:
    path = factory.format(m=factories)
    config = parse_config({**_custom(path, params=params), "gate": gate})
    with pytest.raises(FactoryError) as error:
        check_model_factories(config)
    assert message in str(error.value)
    assert f"'{path}'" in str(error.value)
    if "n_trees" in message:
        assert "its parameters: n_estimators, max_depth" in str(error.value)


def test_a_factory_error_of_a_candidate_names_the_candidate(factories: str) -> None:
    config = parse_config(
        {"model": {"candidates": [{"kind": "random_forest"}, {"kind": "custom", "factory": f"{factories}:raises"}]}}
    )
    with pytest.raises(FactoryError, match=r"model\.candidates\[1\]\.factory"):
        check_model_factories(config)


def test_quantize_true_on_a_model_without_a_quantized_form_is_a_config_error(factories: str) -> None:
    neighbours = f"{factories}:neighbours"
    with pytest.raises(ConfigError, match=r"quantize.enabled: true, but model \(custom\) has no quantized form"):
        check_model_factories(parse_config({**_custom(neighbours), "quantize": {"enabled": True}}))
    check_model_factories(parse_config(_custom(neighbours)))  # auto (the default): kept as a skops file
    check_model_factories(parse_config({**_custom(neighbours), "quantize": {"enabled": False}}))
    check_model_factories(parse_config({"model": {"kind": "random_forest"}, "quantize": {"enabled": True}}))


def test_editing_the_factory_module_changes_its_cache_digest(factories: str, tmp_path: Path) -> None:
    [candidate] = parse_config(_custom(f"{factories}:extra_trees")).candidates
    before = factory_source_digest(candidate)
    (tmp_path / f"{factories}.py").write_text(textwrap.dedent(FACTORIES) + "\nOTHER = 4\n")
    assert before is not None and factory_source_digest(candidate) not in (None, before)
    assert factory_source_digest(parse_config({"model": {"kind": "mlp_classifier"}}).candidates[0]) is None


def test_custom_estimator_returns_a_clone_not_the_factorys_object(factories: str) -> None:
    config = parse_config(_custom(f"{factories}:extra_trees"))
    first = custom_estimator(config.candidates[0], 1, "classification")  # type: ignore[arg-type]
    second = custom_estimator(config.candidates[0], 1, "classification")  # type: ignore[arg-type]
    assert first is not second


# ---- which models quantize ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "family"),
    [
        ({"kind": "logistic_regression"}, "affine"),
        ({"kind": "mlp_classifier"}, "affine"),
        ({"kind": "hist_gradient_boosting"}, "trees"),
        ({"kind": "random_forest"}, "trees"),
        ({"kind": "extra_trees"}, "trees"),
    ],
)
def test_quantized_family_of_each_kind(model: dict[str, object], family: str) -> None:
    estimator = build_estimator(parse_config({"model": model}).candidates[0], seed=0)
    assert quantized_family(estimator)[0] == family
    assert quantizable(estimator)[0] is True


def test_other_final_steps_and_factory_pipelines_are_not_quantizable() -> None:
    ok, why = quantizable(Pipeline([("model", KNeighborsClassifier())]))
    assert not ok and "KNeighborsClassifier is neither a linear model, an MLP nor a tree ensemble" in why
    nested = Pipeline([("model", Pipeline([("knn", KNeighborsClassifier())]))])
    assert quantizable(nested) == (
        False,
        "its factory returns a pipeline (KNeighborsClassifier); only a bare estimator gets a quantized form",
    )


# ---- candidates of several families ---------------------------------------------------------------------------
def test_candidates_of_several_families_are_compared_in_one_table(factories: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 5))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int)
    config = parse_config(
        {
            "model": {
                "candidates": [
                    {"kind": "logistic_regression"},
                    {"kind": "random_forest", "n_estimators": 20},
                    {"kind": "hist_gradient_boosting", "max_iter": 20},
                    {"kind": "custom", "factory": f"{factories}:extra_trees"},
                ]
            }
        }
    )
    specs = config.candidates
    results = [score_candidate(X, y, "classification", spec, config.model, seed=0) for spec in specs]
    rows = candidate_rows(specs, list(results), ["Completed"] * 4, [""] * 4, 1, cross_validated=False)
    assert [row["kind"] for row in rows] == ["logistic_regression", "random_forest", "hist_gradient_boosting", "custom"]
    assert all(0.0 <= row["validation accuracy"] <= 1.0 for row in rows)
    assert "n_estimators=20" in rows[1]["settings"] and "problem=classification" in rows[1]["settings"]
    assert f"factory={factories}:extra_trees" in rows[3]["settings"] and "params={}" in rows[3]["settings"]
    # trees fit the curved boundary the linear model cannot
    assert rows[1]["validation accuracy"] > rows[0]["validation accuracy"]


def test_a_fitted_forest_is_reproducible_from_its_seed() -> None:
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(120, 4)), rng.integers(0, 2, 120)
    [spec] = parse_config({"model": {"kind": "random_forest", "n_estimators": 5}}).candidates
    assert fit_model(X, y, spec, seed=3).model_bytes == fit_model(X, y, spec, seed=3).model_bytes


def test_seeding_reaches_nested_random_states_and_keeps_set_ones() -> None:
    from sklearn.ensemble import BaggingClassifier
    from sklearn.tree import DecisionTreeClassifier

    from mlops_pipeline.estimators import seed_estimator

    bagging = BaggingClassifier(estimator=DecisionTreeClassifier())
    pipeline = Pipeline([("model", bagging)])
    seed_estimator(pipeline, 9)
    assert (bagging.random_state, bagging.estimator.random_state) == (9, 9)
    fixed = DecisionTreeClassifier(random_state=1)
    assert seed_estimator(fixed, 9).random_state == 1


def test_a_continuous_target_says_how_a_tree_kind_becomes_a_regressor(tmp_path: Path) -> None:
    from mlops_pipeline.config import DataConfig
    from mlops_pipeline.data import load_dataset
    from mlops_pipeline.dataset_checks import check_dataset

    rng = np.random.default_rng(0)
    path = tmp_path / "prices.csv"
    rows = ["a,b,price", *(f"{a},{b},{2.5 * a + b}" for a, b in rng.normal(size=(300, 2)))]
    path.write_text("\n".join(rows) + "\n")
    config = DataConfig(source=str(path), target="price")
    findings = check_dataset(load_dataset(config), config, "classification")
    [finding] = [f for f in findings if f.rule == "continuous target"]
    assert "random_forest, extra_trees and custom regressors (--set 'gate.min_metrics={r2: 0.5}')" in finding.detail
    # and that setting does make the run a regression, with the forest a regressor
    regression = parse_config({"model": {"kind": "random_forest"}, "gate": {"min_metrics": {"r2": 0.5}}})
    assert regression.problem == "regression"
    assert isinstance(build_estimator(regression.candidates[0], 0)[-1], RandomForestRegressor)
