"""Golden sets in the gate (gate.golden_sets): loading, bounds, the champion rule, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

from mlops_pipeline.config import ConfigError, GoldenSetConfig, parse_config
from mlops_pipeline.gate import Champion, GateReport
from mlops_pipeline.golden import (
    GoldenSet,
    GoldenSetError,
    golden_checks,
    golden_set_path,
    load_golden_set,
    load_golden_sets,
    with_golden_checks,
)

DIGIT_FEATURES = list(load_digits().feature_names)


class ConstantModel:
    def __init__(self, label: int):
        self.label = label

    def predict(self, X):
        return np.full(np.asarray(X).shape[0], self.label)


class FirstFeatureModel:
    def predict(self, X):
        return (np.asarray(X)[:, 0] > 0).astype(int)


def _golden(**settings) -> GoldenSet:
    X = np.array([[1.0], [2.0], [-1.0], [-2.0], [3.0]])
    y = np.array([1, 1, 0, 0, 0])  # FirstFeatureModel: 4 of 5 right
    return GoldenSet("hand", X, y, GoldenSetConfig(name="hand", source="x.csv", **settings))


def test_the_drawn_digit_set_ships_with_the_package_and_loads_in_feature_order() -> None:
    assert Path(golden_set_path("drawn_digits")).is_file()
    golden = load_golden_set(GoldenSetConfig(name="drawn", source="drawn_digits"), DIGIT_FEATURES, "k")
    assert golden.X.shape == (320, 64) and sorted(np.unique(golden.y).tolist()) == list(range(10))
    assert np.bincount(golden.y).tolist() == [32] * 10
    assert golden.X.min() >= 0 and golden.X.max() <= 16


def test_bounds_and_the_champion_rule_are_checks_with_value_and_bound() -> None:
    golden = _golden(min_metrics={"accuracy": 0.9}, champion_tolerance=0.05)
    better = Champion("v3", ConstantModel(0))  # 3 of 5
    checks = {c.name: c for c in golden_checks(FirstFeatureModel(), golden, better, "accuracy", "classification")}
    assert set(checks) == {"hand: accuracy >= min", "hand: accuracy vs champion v3"}
    assert checks["hand: accuracy >= min"].measured == pytest.approx(0.8) and not checks["hand: accuracy >= min"].passed
    assert checks["hand: accuracy vs champion v3"].bound == pytest.approx(0.55)
    assert checks["hand: accuracy vs champion v3"].passed
    worse = golden_checks(ConstantModel(0), golden, Champion("v3", FirstFeatureModel()), "accuracy", "classification")
    (rule,) = [c for c in worse if "champion" in c.name]
    assert not rule.passed and rule.measured == pytest.approx(0.6) and "accuracy=0.8000, tolerance 0.05" in rule.detail


def test_the_champion_rule_can_be_switched_off_and_a_broken_champion_fails_it() -> None:
    off = golden_checks(FirstFeatureModel(), _golden(no_worse_than_champion=False), Champion("v1", ConstantModel(0)),
                        "accuracy", "classification")  # fmt: skip
    assert off == []
    broken = golden_checks(FirstFeatureModel(), _golden(), Champion("v1", error="hash mismatch"), "accuracy",
                           "classification")  # fmt: skip
    assert len(broken) == 1 and not broken[0].passed and "hash mismatch" in broken[0].detail


def test_failed_golden_checks_fail_the_report_next_to_the_others() -> None:
    report = GateReport({"accuracy": 1.0}, None, None, [])
    added = with_golden_checks(
        report, ConstantModel(0), [_golden(min_metrics={"accuracy": 0.9})], None, "accuracy", "classification"
    )
    assert [c.name for c in added.failed] == ["hand: accuracy >= min"] and not added.passed


def test_config_errors_name_the_key_and_missing_files_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key .gate.golden_sets\[0\].min_accuracy"):
        parse_config({"gate": {"golden_sets": [{"name": "a", "source": "drawn_digits", "min_accuracy": 0.9}]}})
    missing = str(tmp_path / "nowhere.csv")
    with pytest.raises(GoldenSetError, match=r"gate.golden_sets\[0\].source: no such file .*nowhere.csv"):
        load_golden_sets([GoldenSetConfig(name="a", source=missing)], DIGIT_FEATURES)
    other = tmp_path / "other.csv"
    other.write_text("a,b,target\n1,2,0\n3,4,1\n")
    with pytest.raises(GoldenSetError, match=r"gate.golden_sets\[0\].source .*other.csv.*no column"):
        load_golden_sets([GoldenSetConfig(name="a", source=str(other))], DIGIT_FEATURES)


def test_the_digits_configs_name_the_drawn_set() -> None:
    from mlops_pipeline.config import load_config

    for name in ("digits.yaml", "digits-mlp.yaml", "digits-candidates.yaml"):
        config = load_config(Path(__file__).parents[2] / "config" / name)
        sources = [g.source for g in config.gate.golden_sets]
        assert sources == ["drawn_digits"] and config.gate.golden_sets[0].no_worse_than_champion, name
