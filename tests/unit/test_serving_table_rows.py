"""The service's reading of JSON rows of a mixed table, and the /predict schema it documents, without a server."""

from __future__ import annotations

import json

import numpy as np
import pytest
from mlops_pipeline.serving.inputs import ContractLimits, RequestError, check_request
from mlops_pipeline.serving.schema import request_schema

from mlops_pipeline.contract import learn_contract
from mlops_pipeline.features import UNKNOWN_CODE, ColumnSpec, DroppedColumn

COLUMNS = [
    ColumnSpec("colour", "categorical", "text", categories=("red", "green", "blue")),
    ColumnSpec("size", "numeric", "numbers"),
    ColumnSpec("when", "datetime", "ISO dates"),
    ColumnSpec("day", "datetime", "dates", date_format="%d.%m.%Y"),
    ColumnSpec("sale", "boolean", "true/false"),
]
NAMES = [c.name for c in COLUMNS]
DAY_2024 = 19723.0  # 2024-01-01


@pytest.fixture(scope="module")
def contract():
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [
            rng.integers(0, 3, 200),
            rng.uniform(1.0, 5.0, 200),
            DAY_2024 + rng.integers(0, 100, 200),
            DAY_2024 + rng.integers(0, 100, 200),
            rng.integers(0, 2, 200),
        ]
    ).astype(np.float64)
    y = rng.choice(["cat", "dog"], 200)
    dropped = [DroppedColumn("Name", "identifier or free text: 200 distinct values in 200 rows")]
    return learn_contract(
        X, y, NAMES, problem="classification", target="pet", columns=COLUMNS, dropped=dropped, missing="model"
    )


def _check(contract, rows, **options):
    body = json.dumps({"instances": rows}).encode()
    return check_request(body, contract, ContractLimits.of(contract, COLUMNS), 100, columns=COLUMNS, **options)


ROW = {"colour": "green", "size": 3.5, "when": "2024-03-01", "day": "02.01.2024", "sale": True}


def test_a_row_by_name_with_text_and_dates_is_encoded(contract) -> None:
    checked = _check(contract, [ROW, {**ROW, "colour": "red", "when": "2024-01-05", "sale": False}])
    expected = [[1.0, 3.5, DAY_2024 + 60, DAY_2024 + 1, 1.0], [0.0, 3.5, DAY_2024 + 4, DAY_2024 + 1, 0.0]]
    np.testing.assert_array_equal(checked.X, np.array(expected))
    assert checked.warnings == []


def test_null_cells_go_to_the_model_with_a_warning_when_it_handles_them(contract) -> None:
    checked = _check(contract, [ROW, {**ROW, "colour": None, "when": None, "size": None}])
    assert np.isnan(checked.X[1, :3]).all() and np.isfinite(checked.X[0]).all()
    assert any("colour" in w for w in checked.warnings) and any("when" in w for w in checked.warnings)


def test_rows_in_contract_order_are_read_like_rows_by_name(contract) -> None:
    by_name = _check(contract, [ROW]).X
    in_order = _check(contract, [[ROW[name] for name in NAMES]]).X
    np.testing.assert_array_equal(by_name, in_order)


def test_an_unseen_category_is_a_warning_naming_column_and_value(contract) -> None:
    checked = _check(contract, [ROW, {**ROW, "colour": "purple"}])
    assert checked.X[1, 0] == UNKNOWN_CODE
    assert any("colour" in w and "purple" in w for w in checked.warnings)


def test_an_unseen_category_is_refused_under_the_strict_setting(contract) -> None:
    with pytest.raises(RequestError) as refused:
        _check(contract, [ROW, {**ROW, "colour": "purple"}], unknown="error")
    assert refused.value.status == 422
    assert "colour" in refused.value.message and "purple" in refused.value.message


def test_the_target_and_left_out_columns_are_ignored_with_a_warning(contract) -> None:
    """A row copied from the training file (with its name column and target) is answered."""
    checked = _check(contract, [{**ROW, "Name": "rex", "pet": "dog"}, ROW])
    np.testing.assert_array_equal(checked.X[0], checked.X[1])
    assert any("not used by the model" in w and "Name" in w and "pet" in w for w in checked.warnings)


def test_a_key_the_contract_does_not_know_is_refused_naming_it(contract) -> None:
    with pytest.raises(RequestError) as refused:
        _check(contract, [{**ROW, "colour ": "red"}])
    assert refused.value.status == 422 and "unknown column(s) 'colour '" in refused.value.message


@pytest.mark.parametrize(
    ("row", "status", "words"),
    [
        ({k: v for k, v in ROW.items() if k != "size"}, 422, "missing column(s) 'size'"),
        ({**ROW, "size": "big"}, 422, "big"),
        ({**ROW, "when": "not a date"}, 422, "not a date"),
        ({**ROW, "day": "2024-13-45"}, 422, "2024-13-45"),
        ({**ROW, "colour": ["red"]}, 422, "instances[0]['colour']: a JSON array"),
        ("red", 400, "instances[0]: a JSON string"),
    ],
)
def test_a_bad_row_is_refused_naming_its_column_and_value(contract, row, status: int, words: str) -> None:
    with pytest.raises(RequestError) as refused:
        _check(contract, [row])
    assert refused.value.status == status
    assert words in refused.value.message


def test_numbers_far_outside_the_training_range_are_refused_but_dates_are_not(contract) -> None:
    later = _check(contract, [{**ROW, "when": "2031-05-01"}])  # dates move on: drift measures that, not the request
    assert later.X[0, 2] > DAY_2024 + 2000
    with pytest.raises(RequestError, match="size"):
        _check(contract, [{**ROW, "size": 500.0}])


def test_the_schema_gives_each_columns_type_categories_and_date_format(contract) -> None:
    schema = request_schema(contract, COLUMNS, max_rows=100)
    row = schema["properties"]["instances"]["items"]["anyOf"][0]
    assert row["required"] == NAMES
    columns = row["properties"]
    assert columns["colour"]["enum"] == ["red", "green", "blue", None]
    assert "categorical" in columns["colour"]["description"]
    assert columns["size"]["type"] == ["number", "null"] and "training range [" in columns["size"]["description"]
    assert columns["when"]["format"] == "date" and "ISO 8601" in columns["when"]["description"]
    assert "'%d.%m.%Y'" in columns["day"]["description"]
    assert columns["sale"]["type"] == ["boolean", "null"]
    example = schema["example"]["instances"][0]
    assert example["colour"] == "red" and example["day"].count(".") == 2 and example["when"].startswith("2024-")
    # the schema's own example is a request the service reads
    _check(contract, schema["example"]["instances"])


def test_the_strict_setting_is_documented_in_the_schema(contract) -> None:
    schema = request_schema(contract, COLUMNS, max_rows=100, unknown="error")
    colour = schema["properties"]["instances"]["items"]["anyOf"][0]["properties"]["colour"]
    assert "refused" in colour["description"]
