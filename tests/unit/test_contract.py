"""The stored data contract and its checks (mlops_pipeline.contract); reading data to score against it is tested in
test_data_inference.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_data import CORPUS

from mlops_pipeline.config import DataConfig
from mlops_pipeline.contract import DataContract, check_chunk, check_columns, check_ranges, learn_contract
from mlops_pipeline.data import load_dataset
from mlops_pipeline.findings import Finding
from mlops_pipeline.validate import prepare


@pytest.fixture(scope="module")
def contract() -> DataContract:
    # missing cells refused (data.missing: error), as every contract was before the model could fill them
    config = DataConfig(source=str(CORPUS / "good.csv"), target="label", missing="error")
    return prepare(load_dataset(config), config, "classification").contract


def test_contract_records_names_order_stats_and_classes_and_round_trips_through_json(contract):
    assert contract.feature_names == ["a", "b", "c"]
    assert contract.target == "label" and contract.target_kind == "integer" and contract.classes == [0, 1]
    assert contract.problem == "classification"
    for spec in contract.features:
        assert spec.dtype == "float64" and spec.min <= spec.mean <= spec.max and spec.std > 0
    restored = DataContract.from_json(contract.to_json_bytes())
    assert restored == contract
    assert json.loads(contract.to_json_bytes())["schema_version"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "a data contract is a JSON object"),
        ('{"schema_version": 99}', "schema_version 99"),
        ('{"schema_version": 1}', "not a valid data contract"),
    ],
)
def test_broken_contract_files_fail_clearly(text, message):
    with pytest.raises(ValueError, match=message):
        DataContract.from_json(text, origin="v3/contract.json")


def test_learn_contract_for_string_labels_and_regression():
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    labels = learn_contract(X, np.array(["b", "a", "b"]), ["p", "q"], problem="classification", target="kind")
    assert labels.classes == ["a", "b"] and labels.target_kind == "string"
    values = learn_contract(X, np.array([0.5, 1.5, 2.5]), ["p", "q"], problem="regression", target="price")
    assert values.classes is None and values.target_kind == "float"
    assert values.features[1].integer and (values.features[1].min, values.features[1].max) == (2.0, 6.0)


def test_check_columns(contract):
    findings = check_columns(["c", "a", "b", "note"], contract, "x.csv")
    assert {(f.severity, f.rule) for f in findings} == {("warning", "unexpected columns"), ("warning", "column order")}
    findings = check_columns(["a", "a", "label"], contract, "x.csv")
    assert {(f.severity, f.rule, tuple(f.columns)) for f in findings} == {
        ("error", "duplicated column names", ("a",)),
        ("error", "missing columns", ("b", "c")),
    }
    assert "the model needs 3 feature columns; 3 columns found" in findings[1].detail


def test_check_ranges_on_a_constant_training_feature():
    contract = learn_contract(
        np.array([[5.0], [5.0]]), np.array([0, 1]), ["k"], problem="classification", target="y", range_tolerance=0.1
    )
    findings = check_ranges(np.array([[5.0], [5.2], [9.0]]), contract, "x.csv")
    assert {(f.rule, f.count) for f in findings} == {("mildly out of range", 1), ("out of range", 1)}


def test_a_declared_domain_replaces_the_training_range_and_old_contracts_have_none():
    # a pixel the training split never inked beyond 9 may be 15 in a drawing: in the domain [0, 16], no finding
    contract = learn_contract(
        np.array([[0.0], [9.0]]), np.array([0, 1]), ["pixel"], problem="classification", target="y",
        feature_domain=(0.0, 16.0),
    )  # fmt: skip
    assert contract.features[0].domain == [0.0, 16.0] and (contract.features[0].min, contract.features[0].max) == (0, 9)
    assert check_ranges(np.array([[15.0], [16.0], [0.0]]), contract, "page") == []
    (beyond,) = check_ranges(np.array([[40.0]]), contract, "page")
    assert beyond.rule == "out of range" and "domain [0, 16]" in beyond.detail
    raw = contract.to_dict()
    del raw["features"][0]["domain"]  # a contract.json written before domains existed
    assert DataContract.from_dict(raw).features[0].domain is None


def test_digits_contracts_carry_the_pixel_domain_and_tabular_ones_do_not():
    digits = prepare(load_dataset(DataConfig(source="digits")), DataConfig(source="digits"), "classification")
    assert {tuple(f.domain) for f in digits.contract.features} == {(0.0, 16.0)}
    iris = prepare(load_dataset(DataConfig(source="iris")), DataConfig(source="iris"), "classification")
    assert {f.domain for f in iris.contract.features} == {None}


def test_check_chunk_reports_unlabelled_rows_then_the_readers_findings_then_its_own(contract):
    means = [spec.mean for spec in contract.features]  # within the training ranges
    X = np.array([means, [*means[:2], np.nan]])
    y = np.array([contract.classes[0], contract.classes[-1]])
    read_problem = Finding("error", "non-numeric values", ["b"], 1, "s.csv: e.g. line 9: 'x'")
    findings = check_chunk(
        X,
        y,
        contract,
        "s.csv",
        row_offset=7,
        csv_lines=True,
        load_findings=[read_problem],
        non_numeric=(),
        unlabelled_rows=np.array([0]),
    )
    assert [f.rule for f in findings] == ["missing target values", "non-numeric values", "missing or infinite values"]
    assert findings[0].severity == "warning" and "line 9" in findings[0].detail  # row 0 of a chunk from row 7
    assert findings[1] is read_problem
    assert findings[2].columns == ["c"] and "line 10" in findings[2].detail
    skipped = check_chunk(
        X, None, contract, "s.csv", row_offset=0, csv_lines=False, load_findings=[], non_numeric=["c"]
    )
    assert skipped == []  # the reader already reported column c, and a chunk without labels has no label checks
