"""Training-time data contract: one error path per rule, all violations together, imputation, the split."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_pipeline.config import DataConfig
from mlops_pipeline.data import Dataset, load_builtin
from mlops_pipeline.dataset_checks import check_dataset
from mlops_pipeline.findings import DataValidationError, Finding
from mlops_pipeline.validate import impute_values, prepare, quality_rows, split_fingerprint


def make_dataset(X, y, names=None, *, columns=None, findings=None, non_numeric=(), target="label", problem=None):
    X = np.asarray(X, dtype=np.float64)
    names = names or [f"f{i}" for i in range(X.shape[1])]
    return Dataset(
        X=X,
        y=None if y is None else np.asarray(y),
        feature_names=names,
        target_name=target,
        source="t.csv",
        fingerprint="f" * 64,
        problem=problem,
        info={"columns": columns or [*names, target]},
        findings=list(findings or []),
        non_numeric_columns=tuple(non_numeric),
        csv_lines=True,
    )


def healthy(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = np.column_stack([rng.normal(size=n) + y, rng.normal(size=n), rng.uniform(0, 5, size=n)])
    return X, y


def rules(findings: list[Finding], severity: str | None = None) -> set[str]:
    return {f.rule for f in findings if severity is None or f.severity == severity}


def test_healthy_data_has_no_errors():
    X, y = healthy()
    assert rules(check_dataset(make_dataset(X, y), DataConfig(), "classification"), "error") == set()


def _with(X, row, col, value):
    X = X.copy()
    X[row, col] = value
    return X


X0, Y0 = healthy()


@pytest.mark.parametrize(
    ("dataset", "config", "problem", "rule", "columns", "detail"),
    [
        (
            make_dataset(_with(X0, 3, 1, np.nan), Y0),
            DataConfig(missing="error"),
            "classification",
            "missing values (NaN or empty)",
            ["f1"],
            "line 5",
        ),
        (
            make_dataset(_with(X0, 2, 0, np.inf), Y0),
            DataConfig(),
            "classification",
            "infinite values",
            ["f0"],
            "line 4: inf",
        ),
        (
            make_dataset(_with(X0, 0, 2, 1e300), Y0),
            DataConfig(),
            "classification",
            "values too large",
            ["f2"],
            "line 2: 1e+300",
        ),
        (
            make_dataset(_with(X0, 0, 2, 5e6), Y0),
            DataConfig(max_abs_value=1e6),
            "classification",
            "values too large",
            ["f2"],
            "data.max_abs_value=1e+06",
        ),
        (
            make_dataset(np.column_stack([X0, np.full(40, np.nan)]), Y0),
            DataConfig(),
            "classification",
            "empty columns",
            ["f3"],
            "no values at all",
        ),
        (
            make_dataset(np.ones((40, 3)), Y0),
            DataConfig(),
            "classification",
            "constant data set",
            ["f0", "f1", "f2"],
            "single value",
        ),
        (
            make_dataset(X0, None),
            DataConfig(),
            "classification",
            "missing target column",
            ["label"],
            "no column 'label' among 4 columns",
        ),
        (
            make_dataset(X0, np.ones(40, dtype=int)),
            DataConfig(),
            "classification",
            "single class",
            ["label"],
            "only class [1]",
        ),
        (
            make_dataset(X0, np.r_[np.zeros(39, dtype=int), 1]),
            DataConfig(),
            "classification",
            "fewer than 2 rows per class",
            ["label"],
            "1: 1",
        ),
        (
            make_dataset(X0, np.r_[np.zeros(35, dtype=int), np.ones(5, dtype=int)]),
            DataConfig(min_rows_per_class=6),
            "classification",
            "fewer than 6 rows per class",
            ["label"],
            "1: 5",
        ),
        (
            make_dataset(X0[:2], Y0[:2]),
            DataConfig(),
            "regression",
            "too few rows for the split",
            [],
            "2 rows cannot be split",
        ),
        (
            make_dataset(X0[:6], [0, 1, 2, 0, 1, 2]),
            DataConfig(test_size=0.2),
            "classification",
            "too few rows for the split",
            [],
            "leaves 2 test rows for 3 classes",
        ),
        (
            make_dataset(np.empty((0, 3)), np.empty(0)),
            DataConfig(),
            "classification",
            "no data rows",
            [],
            "header but no data rows",
        ),
        (
            make_dataset(np.empty((5, 0)), np.arange(5)),
            DataConfig(),
            "classification",
            "no feature columns",
            [],
            "no feature columns",
        ),
        (
            make_dataset(X0, Y0, ["a", "b", "a"], columns=["a", "b", "a", "label"]),
            DataConfig(),
            "classification",
            "duplicated column names",
            ["a"],
            "'a' at columns [1, 3]",
        ),
        (
            make_dataset(X0, np.array(["x", "y"] * 20)),
            DataConfig(),
            "regression",
            "non-numeric target",
            ["label"],
            "numeric target",
        ),
        (
            make_dataset(np.random.default_rng(1).normal(size=(400, 2)), np.random.default_rng(2).normal(size=400)),
            DataConfig(),
            "classification",
            "continuous target",
            ["label"],
            "use a regression model",
        ),
        (
            make_dataset(X0, Y0, problem="regression"),
            DataConfig(),
            "classification",
            "model does not fit the data",
            ["label"],
            "is a regression data set",
        ),
    ],
)
def test_each_rule_reports_the_file_column_and_rows(dataset, config, problem, rule, columns, detail):
    findings = check_dataset(dataset, config, problem)
    matching = [f for f in findings if f.rule == rule]
    assert matching, [str(f) for f in findings]
    (finding,) = matching
    assert finding.severity == "error"
    assert finding.columns == columns
    assert detail in finding.detail
    with pytest.raises(DataValidationError) as caught:
        prepare(dataset, config, problem)
    assert "t.csv" in str(caught.value) and rule in str(caught.value)


def test_all_violations_are_reported_together_with_load_findings():
    X = _with(_with(_with(X0, 1, 0, np.nan), 2, 1, np.inf), 3, 2, 1e20)
    non_numeric = Finding("error", "non-numeric values", ["f2"], 1, "t.csv: e.g. line 9: 'abc'")
    dataset = make_dataset(X, np.ones(40, dtype=int), findings=[non_numeric], non_numeric=["f2"])
    with pytest.raises(DataValidationError) as caught:
        prepare(dataset, DataConfig(missing="error"), "classification")
    message = str(caught.value)
    assert message.startswith("t.csv: 4 data contract violation(s)")
    for rule in ("non-numeric values", "missing values", "infinite values", "single class"):
        assert rule in message
    # f2's bad cell is a non-numeric one, reported once as such (not again as a huge or missing value)
    assert "values too large" not in message
    assert {f.rule for f in caught.value.findings} >= {"non-numeric values", "single class"}


def test_warnings_do_not_stop_training():
    X = np.column_stack([X0, np.full(40, 7.0), X0[:, 0]])
    findings = check_dataset(make_dataset(X, Y0), DataConfig(), "classification")
    assert rules(findings, "error") == set()
    assert rules(findings, "warning") == {"constant columns", "duplicate columns"}
    duplicate = next(f for f in findings if f.rule == "duplicate columns")
    assert "f0 = f4" in duplicate.detail
    prepared = prepare(make_dataset(X, Y0), DataConfig(), "classification")
    assert "constant columns" in rules(prepared.findings)


def test_imputation_turns_missing_values_into_warnings_and_fills_from_the_training_split_only():
    X = _with(_with(X0, 1, 0, np.nan), 2, 1, -np.inf)
    config = DataConfig(impute="median", test_size=0.25)
    findings = check_dataset(make_dataset(X, Y0), config, "classification")
    assert rules(findings, "error") == set()
    assert rules(findings, "warning") >= {"missing values (NaN or empty)", "infinite values"}
    prepared = prepare(make_dataset(X, Y0), config, "classification")
    assert np.isfinite(prepared.X_train).all() and np.isfinite(prepared.X_test).all()
    contract = prepared.contract
    assert contract.impute_strategy == "median"
    # fill values are the medians of the training split, not of all rows
    train_rows = [i for i in range(40) if any(np.array_equal(X0[i, 2:], r[2:]) for r in prepared.X_train)]
    expected = np.nanmedian(np.where(np.isfinite(X[train_rows]), X[train_rows], np.nan), axis=0)
    np.testing.assert_allclose(contract.impute_values, expected)


def test_empty_column_is_an_error_even_with_imputation():
    X = np.column_stack([X0, np.full(40, np.nan)])
    findings = check_dataset(make_dataset(X, Y0), DataConfig(impute="mean"), "classification")
    assert "empty columns" in rules(findings, "error")


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("mean", [3.0, 10.0]), ("median", [2.0, 10.0]), ("most_frequent", [1.0, 10.0])],
)
def test_impute_values(strategy, expected):
    X = np.array([[1.0, 10.0], [2.0, np.nan], [6.0, np.inf], [np.nan, 10.0]])
    np.testing.assert_allclose(impute_values(X, strategy), expected)


def test_prepare_splits_stratified_and_learns_the_contract_from_the_training_split():
    dataset = load_builtin("iris")
    prepared = prepare(dataset, DataConfig(test_size=0.2, seed=0), "classification")
    assert prepared.X_train.shape == (120, 4) and prepared.X_test.shape == (30, 4)
    assert np.bincount(prepared.y_test).tolist() == [10, 10, 10]
    contract = prepared.contract
    assert contract.feature_names == dataset.feature_names
    assert contract.classes == [0, 1, 2]
    assert contract.n_rows == 120
    spec = contract.features[0]
    assert spec.min == prepared.X_train[:, 0].min() and spec.max == prepared.X_train[:, 0].max()
    assert spec.mean == pytest.approx(prepared.X_train[:, 0].mean())
    assert prepared.data_sha256 == dataset.fingerprint


def test_split_fingerprint_changes_with_target_features_split_and_imputation():
    base = split_fingerprint("abc", DataConfig(), "label", ["a", "b"])
    assert base == split_fingerprint("abc", DataConfig(), "label", ["a", "b"])
    others = {
        split_fingerprint("abd", DataConfig(), "label", ["a", "b"]),
        split_fingerprint("abc", DataConfig(), "b", ["a", "label"]),
        split_fingerprint("abc", DataConfig(seed=1), "label", ["a", "b"]),
        split_fingerprint("abc", DataConfig(test_size=0.3), "label", ["a", "b"]),
        split_fingerprint("abc", DataConfig(impute="mean"), "label", ["a", "b"]),
    }
    assert base not in others and len(others) == 5


def test_quality_rows_list_errors_first_or_say_all_passed():
    warning = Finding("warning", "constant columns", ["a"], 1, "x")
    error = Finding("error", "single class", ["y"], 1, "z")
    assert [r["severity"] for r in quality_rows([warning, error])] == ["error", "warning"]
    X, y = healthy()
    (row,) = quality_rows([], make_dataset(X, y))
    assert row["rule"] == "all rules passed" and row["detail"] == "40 rows x 3 features"


def test_held_out_values_outside_the_training_range_are_summed_up_in_one_warning():
    from mlops_pipeline.contract import learn_contract
    from mlops_pipeline.validate import _test_split_range_findings

    contract = learn_contract(
        np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1]), ["p", "q"], problem="classification", target="y"
    )
    (finding,) = _test_split_range_findings(np.array([[2.0, 0.5], [-5.0, 1.05], [0.5, 0.5]]), contract, "t.csv")
    assert (finding.severity, finding.rule) == ("warning", "test split outside training range")
    assert finding.columns == ["p", "q"] and finding.count == 3
    assert "p: 2, q: 1" in finding.detail
    assert _test_split_range_findings(np.array([[0.5, 0.5]]), contract, "t.csv") == []
