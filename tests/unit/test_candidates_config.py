"""The model section of the config: the model zoo, the single-model form and the candidates form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from mlops_pipeline.config import (
    ConfigError,
    LinearSVMConfig,
    LinearSVRConfig,
    LogisticRegressionConfig,
    MLPClassifierConfig,
    MLPRegressorConfig,
    RidgeConfig,
    load_config,
    parse_config,
)


@pytest.mark.parametrize(
    ("path", "kind", "problem"),
    [
        ("config/digits.yaml", "logistic_regression", "classification"),
        ("config/diabetes.yaml", "linear_regression", "regression"),
        ("config/digits-candidates.yaml", "logistic_regression", "classification"),
        ("config/digits-mlp.yaml", "logistic_regression", "classification"),
    ],
)
def test_shipped_configs_load(path: str, kind: str, problem: str) -> None:
    config = load_config(REPO_ROOT / path)
    assert config.model.candidates[0].kind == kind
    assert config.problem == problem


def test_single_model_form_is_one_candidate_with_selection_keys_beside_it() -> None:
    config = parse_config(
        {"model": {"kind": "ridge", "alpha": 2.0, "validation_size": 0.3}, "gate": {"min_metrics": {"r2": 0.1}}}
    )
    assert config.model.candidates == [RidgeConfig(alpha=2.0)]
    assert config.model.validation_size == 0.3


def test_seed_config_json_keys_without_kind_mean_logistic_regression(tmp_path: Path) -> None:
    seed_file = tmp_path / "config.json"
    seed_file.write_text(json.dumps({"model": {"C": 0.5, "solver": "saga", "max_iter": 200}}))
    config = load_config(seed_file)
    assert config.model.candidates == [LogisticRegressionConfig(C=0.5, solver="saga", max_iter=200)]


def test_override_of_a_single_form_key_still_works(tmp_path: Path) -> None:
    config = load_config(REPO_ROOT / "config/digits.yaml", ["model.C=0.25"])
    assert config.model.candidates[0].C == 0.25


def test_candidates_form_mixes_kinds_of_one_task_and_defaults_the_kind() -> None:
    config = parse_config(
        {
            "model": {
                "candidates": [
                    {"C": 0.1},
                    {"kind": "linear_svm", "C": 0.5},
                    {"kind": "mlp_classifier", "hidden_layer_sizes": [32, 16]},
                ],
                "cv_folds": 3,
            }
        }
    )
    assert config.model.candidates == [
        LogisticRegressionConfig(C=0.1),
        LinearSVMConfig(C=0.5),
        MLPClassifierConfig(hidden_layer_sizes=[32, 16]),
    ]
    assert config.model.cv_folds == 3
    assert config.primary_metric == "accuracy"


@pytest.mark.parametrize(
    ("model", "gate", "expected"),
    [
        ({"kind": "linear_svr"}, {"min_metrics": {"r2": 0.3}}, LinearSVRConfig()),
        (
            {"kind": "mlp_regressor", "hidden_layer_sizes": [8]},
            {"min_metrics": {"r2": 0.3}},
            MLPRegressorConfig(hidden_layer_sizes=[8]),
        ),
    ],
)
def test_regressors_of_the_zoo(model: dict, gate: dict, expected: object) -> None:
    config = parse_config({"model": model, "gate": gate})
    assert config.model.candidates == [expected]
    assert config.problem == "regression"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"Cx": 1.0}, "unknown key 'model.Cx'; did you mean 'C'?"),
        ({"kind": "ridge", "alpha": -1}, "'model.alpha': Input should be greater than or equal to 0"),
        ({"kind": "linear_svm", "loss": "log"}, "'model.loss'"),
        ({"kind": "mlp_classifier", "hidden_layer_sizes": []}, "'model.hidden_layer_sizes'"),
        ({"kind": "mlp_classifier", "hidden_layer_sizes": [8, 0]}, "'model.hidden_layer_sizes[1]'"),
        ({"kind": "mlp_classifier", "hidden_layer_sizes": [8, 8, 8, 8, 8]}, "'model.hidden_layer_sizes'"),
        ({"kind": "nope"}, "Input tag 'nope'"),
        ({"validation_size": 1.0}, "'model.validation_size'"),
        ({"cv_folds": 1}, "'model.cv_folds'"),
        ({"candidates": []}, "'model.candidates'"),
        ({"candidates": [{"C": 1}], "C": 2}, "not both (found C beside candidates"),
        ({"candidates": [{"C": 1}, {"kind": "ridge"}]}, "all be classifiers or all regressors"),
        ({"candidates": [{"C": 1}, {"C": 1.0}]}, "candidates[1] repeats candidates[0]"),
        ({"candidates": [{"C": 1}, {"kind": "linear_svm", "Cc": 1}]}, "unknown key 'model.candidates[1].Cc'"),
    ],
)
def test_invalid_model_sections_name_the_key(model: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"model": model})
    assert message in str(error.value)


def test_gate_metrics_must_fit_the_candidates_task() -> None:
    with pytest.raises(ConfigError, match=r"gate.min_metrics.accuracy: the model \(ridge\) is a regression model"):
        parse_config({"model": {"kind": "ridge"}, "gate": {"min_metrics": {"accuracy": 0.9}}})


def test_class_recall_floor_is_for_classifiers_only() -> None:
    with pytest.raises(ConfigError, match="gate.min_class_recall: only for classification"):
        parse_config({"model": {"kind": "ridge"}, "gate": {"min_metrics": {"r2": 0.1}, "min_class_recall": 0.5}})


@pytest.mark.parametrize(
    ("gate", "key"),
    [
        ({"min_class_recall": 0.0}, "gate.min_class_recall"),
        ({"noise_scale": -0.1}, "gate.noise_scale"),
        ({"min_noise_agreement": 1.5}, "gate.min_noise_agreement"),
        ({"noise_tolerance": 0}, "gate.noise_tolerance"),
    ],
)
def test_invalid_gate_settings_name_the_key(gate: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config({"gate": gate})


def test_registry_lock_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"registry\.lock_timeout_seconds"):
        parse_config({"registry": {"lock_timeout_seconds": 0}})
