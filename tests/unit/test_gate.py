"""The test-gate's checks, on tiny data and small stand-in models."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlops_pipeline.gate as gate
from mlops_pipeline.config import GateConfig
from mlops_pipeline.config.sections import BUILTIN_MIN_METRICS
from mlops_pipeline.train import serialize_estimator
from mlops_pipeline.validate import PreparedData


def _data(problem: str = "classification", n: int = 80, n_features: int = 4) -> PreparedData:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2 * n, n_features))
    y = (X[:, 0] > 0).astype(int) if problem == "classification" else X @ np.arange(1.0, n_features + 1)
    names = [f"x{i}" for i in range(n_features)]
    return PreparedData(X[:n], X[n:], y[:n], y[n:], names, "y", "test", problem, "fp")


class ThresholdModel:
    """Predicts 1 when the first feature is above a threshold: right on `_data`, deterministic, robust."""

    def __init__(self, threshold: float = 0.0):
        self.threshold = threshold

    def predict(self, X):
        return (np.asarray(X)[:, 0] > self.threshold).astype(int)


class FlipFlopModel:
    """Every call predicts the opposite of the one before: not deterministic."""

    def __init__(self):
        self.calls = 0

    def predict(self, X):
        self.calls += 1
        return np.full(np.asarray(X).shape[0], self.calls % 2)


class NoSingleRowModel(ThresholdModel):
    def predict(self, X):
        if np.asarray(X).shape[0] == 1:
            raise ValueError("needs at least 2 rows")
        return super().predict(X)


class JitteryModel:
    """A label that depends on the 6th decimal of the features: tiny noise changes about half the answers."""

    def predict(self, X):
        return (np.floor(np.asarray(X)[:, 0] * 1e6) % 2).astype(int)


def _passes(report: gate.GateReport) -> dict[str, bool]:
    return {c.name: c.passed for c in report.checks}


def test_good_model_without_champion_passes_every_check() -> None:
    data = _data()
    model = ThresholdModel()
    report = gate.run_gate(
        model,
        serialize_estimator(model),
        data,
        GateConfig(min_metrics=BUILTIN_MIN_METRICS, min_class_recall=0.9),
        "accuracy",
        champion=None,
        seed=0,
    )
    assert report.passed
    assert report.metrics["accuracy"] == 1.0
    assert set(_passes(report)) == {
        "accuracy >= min",
        "macro_f1 >= min",
        "accuracy beats baseline",
        "min class recall >= floor",
        "deterministic predictions",
        "batch of one row",
        "agreement under input noise",
    }


@pytest.mark.parametrize(
    ("metrics", "min_metrics", "max_metrics", "failed"),
    [
        ({"accuracy": 0.96, "macro_f1": 0.94}, {"accuracy": 0.95, "macro_f1": 0.95}, {}, ["macro_f1 >= min"]),
        ({"accuracy": 0.95, "macro_f1": 0.95}, {"accuracy": 0.95, "macro_f1": 0.95}, {}, []),  # bound inclusive
        ({"r2": 0.5, "rmse": 61.0}, {"r2": 0.4}, {"rmse": 60.0}, ["rmse <= max"]),
        ({"r2": 0.3, "rmse": 70.0}, {"r2": 0.4}, {"rmse": 60.0}, ["r2 >= min", "rmse <= max"]),
    ],
)
def test_absolute_checks(metrics, min_metrics, max_metrics, failed) -> None:
    checks = gate.absolute_checks(metrics, GateConfig(min_metrics=min_metrics, max_metrics=max_metrics))
    assert [c.name for c in checks if not c.passed] == failed


@pytest.mark.parametrize(
    ("candidate", "champion", "metric", "passed"),
    [
        (0.950, 0.954, "accuracy", True),  # worse, but within the tolerance of 0.005
        (0.948, 0.954, "accuracy", False),
        (0.990, 0.954, "accuracy", True),
        (60.0, 55.5, "rmse", True),  # lower is better: 60 <= 55.5 + 5
        (61.0, 55.5, "rmse", False),
    ],
)
def test_champion_check_tolerance(candidate, champion, metric, passed) -> None:
    tolerance = 0.005 if metric == "accuracy" else 5.0
    check = gate.champion_check({metric: candidate}, {metric: champion}, metric, tolerance, "v3")
    assert check.passed is passed
    assert check.name == f"{metric} vs champion v3"


def test_class_recall_floor_names_the_classes_below_it() -> None:
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 0, 1, 1, 0, 0, 2, 2])  # class 1 recall 0.5
    check = gate.class_recall_check(y_true, y_pred, floor=0.8)
    assert not check.passed
    assert check.measured == 0.5
    assert check.detail == "below the floor: class 1: 0.500"


def test_worse_than_champion_fails_and_lists_every_failed_check() -> None:
    data = _data()
    champion = gate.Champion("v1", ThresholdModel())
    weak = ThresholdModel(threshold=0.8)
    report = gate.run_gate(
        weak, serialize_estimator(weak), data, GateConfig(min_metrics=BUILTIN_MIN_METRICS), "accuracy", champion, seed=0
    )
    failed = [c.name for c in report.failed]
    assert failed == ["accuracy >= min", "macro_f1 >= min", "accuracy vs champion v1"]
    assert report.champion_metrics == {"accuracy": 1.0, "macro_f1": 1.0}
    message = str(gate.GateFailed(report))
    assert message.startswith(f"test-gate failed 3 of {len(report.checks)} check(s)")
    for check in report.failed:
        assert str(check) in message


def test_champion_with_another_feature_count_is_a_failed_check_not_a_crash() -> None:
    data = _data(n_features=4)
    other = _data(n_features=3)
    champion = gate.Champion("v2", LogisticRegression().fit(other.X_train, other.y_train))
    model = ThresholdModel()
    report = gate.run_gate(model, serialize_estimator(model), data, GateConfig(), "accuracy", champion, seed=0)
    check = next(c for c in report.checks if c.name == "champion v2 scores the held-out data")
    assert not check.passed
    assert "ValueError" in check.detail and "features" in check.detail
    assert report.champion_metrics is None
    assert [c.name for c in report.failed] == ["champion v2 scores the held-out data"]


def test_champion_that_could_not_be_loaded_is_a_failed_check() -> None:
    data = _data()
    champion = gate.Champion("v4", error="IntegrityError: sha256 mismatch")
    model = ThresholdModel()
    report = gate.run_gate(model, serialize_estimator(model), data, GateConfig(), "accuracy", champion, seed=0)
    assert [c.detail for c in report.failed] == ["cannot load the champion: IntegrityError: sha256 mismatch"]


@pytest.mark.parametrize(
    ("model", "failing"),
    [
        # a model that changes its mind between calls also disagrees with itself on one row and on noisy rows
        (FlipFlopModel(), ["deterministic predictions", "batch of one row", "agreement under input noise"]),
        (NoSingleRowModel(), ["batch of one row"]),
        (JitteryModel(), ["agreement under input noise"]),
    ],
)
def test_behavioural_checks_catch_misbehaving_models(model, failing) -> None:
    data = _data()
    checks = gate.behavioural_checks(model, serialize_estimator(model), data, GateConfig(), seed=0)
    assert [c.name for c in checks if not c.passed] == failing


def test_determinism_check_compares_with_the_stored_bytes() -> None:
    data = _data()
    stored = serialize_estimator(ThresholdModel(threshold=0.0))
    check = gate.determinism_check(ThresholdModel(threshold=0.5), stored, data.X_test)
    assert not check.passed
    assert 0.0 < check.measured < 1.0


def test_noise_agreement_bound_is_the_configured_rate() -> None:
    data = _data()
    model = JitteryModel()
    assert gate.noise_check(
        model, data.X_train, data.X_test, data.y_test, GateConfig(min_noise_agreement=0.3), "classification", seed=0
    ).passed
    check = gate.noise_check(
        model, data.X_train, data.X_test, data.y_test, GateConfig(min_noise_agreement=0.9), "classification", seed=0
    )
    assert not check.passed and check.bound == 0.9


def test_regression_noise_agreement_uses_a_tolerance_of_the_target_spread() -> None:
    data = _data("regression")

    class Linear:
        def predict(self, X):
            return np.asarray(X) @ np.arange(1.0, 5.0)

    config = GateConfig(min_metrics={"r2": 0.5}, noise_scale=0.01, noise_tolerance=0.05)
    check = gate.noise_check(Linear(), data.X_train, data.X_test, data.y_test, config, "regression", seed=0)
    assert check.passed and check.measured == 1.0
    strict = GateConfig(min_metrics={"r2": 0.5}, noise_scale=0.01, noise_tolerance=1e-6)
    assert not gate.noise_check(Linear(), data.X_train, data.X_test, data.y_test, strict, "regression", 0).passed


class ConstantModel:
    """Answers one label whatever the input: it learned nothing."""

    def __init__(self, label: int):
        self.label = label

    def predict(self, X):
        return np.full(np.asarray(X).shape[0], self.label)


def test_a_model_no_better_than_the_most_frequent_class_fails_the_baseline_check() -> None:
    data = _data()
    model = ThresholdModel()
    good = gate.run_gate(model, serialize_estimator(model), data, GateConfig(), "accuracy", champion=None, seed=0)
    assert _passes(good)["accuracy beats baseline"]
    majority = ConstantModel(int(np.bincount(data.y_train).argmax()))
    config = GateConfig(behavioural_checks=False)
    report = gate.run_gate(majority, serialize_estimator(majority), data, config, "accuracy", None, seed=0)
    [check] = report.checks
    assert check.name == "accuracy beats baseline" and not check.passed
    assert check.measured == check.bound and check.detail == "always predicting the most frequent class"
    assert "accuracy beats baseline" in str(gate.GateFailed(report))


def test_behavioural_checks_can_be_switched_off() -> None:
    data = _data()
    model = FlipFlopModel()
    config = GateConfig(min_metrics={}, behavioural_checks=False, beat_baseline=False)
    report = gate.run_gate(model, serialize_estimator(model), data, config, "accuracy", champion=None, seed=0)
    assert report.checks == []


def test_champion_recheck_scores_the_champion_named_at_promotion_time() -> None:
    data = _data()
    model = ThresholdModel(threshold=0.3)
    report = gate.run_gate(
        model, serialize_estimator(model), data, GateConfig(min_metrics={}), "accuracy", champion=None, seed=0
    )
    champions = {"v1": gate.Champion("v1", ThresholdModel(threshold=0.35)), "v2": gate.Champion("v2", ThresholdModel())}
    recheck = gate.champion_recheck(report, data, GateConfig(), "accuracy", champions.get)
    assert all(c.passed for c in recheck("v1"))
    failed = [c.name for c in recheck("v2") if not c.passed]
    assert failed == ["accuracy vs champion v2"]


def test_verdict_rows_show_every_check_with_value_bound_and_result() -> None:
    report = gate.GateReport(
        {"accuracy": 0.9},
        None,
        None,
        [
            gate.Check("accuracy >= min", 0.9, 0.95, ">=", False),
            gate.Check("batch of one row", 1.0, 1.0, ">=", True, "one row -> 1"),
        ],
    )
    assert gate.verdict_rows(report) == [
        {"check": "accuracy >= min", "measured": 0.9, "bound": ">= 0.95", "result": "FAIL", "detail": ""},
        {"check": "batch of one row", "measured": 1.0, "bound": ">= 1.0", "result": "pass", "detail": "one row -> 1"},
    ]


def test_the_noise_bound_defaults_lower_for_tree_ensembles_and_the_config_wins() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    trees = Pipeline([("model", HistGradientBoostingClassifier())])
    assert gate.noise_agreement_bound(trees, GateConfig()) == gate.TREE_NOISE_AGREEMENT == 0.85
    assert gate.noise_agreement_bound(RandomForestRegressor(), GateConfig()) == 0.85
    assert gate.noise_agreement_bound(LogisticRegression(), GateConfig()) == gate.DEFAULT_NOISE_AGREEMENT == 0.95
    assert gate.noise_agreement_bound(trees, GateConfig(min_noise_agreement=0.99)) == 0.99
