"""encode_frame: every column kind from polars, pandas and JSON-like columns to the encoded matrix, and its findings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from mlops_pipeline.features import UNKNOWN_CODE, ColumnSpec, encode_frame

NAN = math.nan
SPECS = [
    ColumnSpec("size", "numeric"),
    ColumnSpec("member", "boolean"),
    ColumnSpec("colour", "categorical", categories=("red", "blue", "3")),
    ColumnSpec("seen", "datetime", has_time=True),
    ColumnSpec("born", "datetime", date_format="%d.%m.%Y"),
]
COLUMNS = {
    "size": ["1", " 2.5", "NA", ""],
    "member": ["yes", "No", None, "TRUE"],
    "colour": [" red", "blue", "?", "3"],
    "seen": ["1970-01-02", "1970-01-01T12:00:00", "1970-01-01T06:00:00Z", "1969-12-31 18:00"],
    "born": ["02.01.1970", "", "31.12.1969", "01.01.1970"],
}
EXPECTED = np.array(
    [
        [1.0, 1.0, 0.0, 1.0, 1.0],
        [2.5, 0.0, 1.0, 0.5, NAN],
        [NAN, NAN, NAN, 0.25, -1.0],
        [NAN, 1.0, 2.0, -0.25, 0.0],
    ]
)


def as_pandas(columns):
    return pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in columns.items()})


@pytest.mark.parametrize("make", [pl.DataFrame, as_pandas, dict], ids=["polars", "pandas", "mapping"])
def test_every_kind_encodes_to_the_shared_matrix_from_polars_pandas_and_columns(make):
    X, findings = encode_frame(make(COLUMNS), SPECS, origin="t.csv")
    assert findings == []
    assert X.dtype == np.float64 and X.flags.f_contiguous and X.shape == (4, 5)
    np.testing.assert_array_equal(X, EXPECTED)


def test_columns_are_picked_by_name_whatever_the_order_and_extra_columns_are_ignored():
    frame = pl.DataFrame({"extra": [1, 2, 3, 4], **dict(reversed(COLUMNS.items()))})
    X, findings = encode_frame(frame, SPECS, origin="t.csv")
    assert findings == []
    np.testing.assert_array_equal(X, EXPECTED)


def test_native_types_encode_like_their_text():
    frame = pl.DataFrame(
        {
            "size": [1, 2, None],
            "member": [True, False, None],
            "colour": [3, None, 4],
            "seen": pl.Series(["1970-01-02T06:00:00", None, "1970-01-01T00:00:00"]).str.to_datetime(),
        }
    )
    specs = [*SPECS[:2], ColumnSpec("colour", "categorical", categories=("3", "4")), SPECS[3]]
    X, findings = encode_frame(frame, specs, origin="p")
    assert findings == []
    np.testing.assert_array_equal(X, [[1.0, 1.0, 0.0, 1.25], [2.0, 0.0, NAN, NAN], [NAN, NAN, 1.0, 0.0]])


def test_a_category_reads_the_same_as_an_integer_a_whole_float_or_text():
    specs = [ColumnSpec("n", "categorical", categories=("3", "7"))]
    with_missing = pd.DataFrame({"n": [3.0, np.nan, 7.0]})  # pandas turns an integer column with a gap into floats
    X1, _ = encode_frame(with_missing, specs, origin="a")
    X2, _ = encode_frame(pl.DataFrame({"n": [3, None, 7]}), specs, origin="b")
    X3, _ = encode_frame({"n": ["3", None, 7]}, specs, origin="c")
    for X in (X1, X2, X3):
        np.testing.assert_array_equal(X[:, 0], [0.0, NAN, 1.0])


def test_pandas_dates_with_a_time_zone_are_days_since_the_epoch_in_utc():
    stamps = pd.to_datetime(["1970-01-02 01:00"]).tz_localize("Europe/Paris")
    X, findings = encode_frame(pd.DataFrame({"seen": stamps}), [SPECS[3]], origin="p")
    assert findings == [] and X[0, 0] == 1.0


def test_unseen_categories_become_the_unknown_code_with_one_warning_naming_column_values_and_count():
    frame = pl.DataFrame({"colour": ["red", "green", "green", None, "violet", "blue"]})
    X, findings = encode_frame(frame, [SPECS[2]], origin="new.csv", csv_lines=True)
    np.testing.assert_array_equal(X[:, 0], [0.0, UNKNOWN_CODE, UNKNOWN_CODE, NAN, UNKNOWN_CODE, 1.0])
    [finding] = findings
    assert (finding.severity, finding.rule, finding.columns, finding.count) == (
        "warning",
        "unseen categories",
        ["colour"],
        3,
    )
    assert "'green' (2 rows), 'violet' (1 row)" in finding.detail and "line 3" in finding.detail


def test_unseen_categories_are_an_error_under_the_strict_setting():
    _, findings = encode_frame({"colour": ["red", "mauve"]}, [SPECS[2]], origin="rows", unknown="error")
    [finding] = findings
    assert finding.severity == "error" and finding.columns == ["colour"] and "'mauve'" in finding.detail
    assert "row 2" in finding.detail


@pytest.mark.parametrize(
    ("spec", "cells", "rule", "where"),
    [
        (SPECS[0], ["1", "2", "twelve", "4"], "non-numeric values", "line 4: 'twelve'"),
        (SPECS[1], ["yes", "maybe", "no", "no"], "non-boolean values", "line 3: 'maybe'"),
        (SPECS[3], ["2020-01-01", "2020-02-30", "soon", None], "unparseable dates", "line 3: '2020-02-30'"),
        (SPECS[4], ["01.01.2020", "2020-01-01", "", "05.05.2020"], "unparseable dates", "line 3: '2020-01-01'"),
    ],
)
def test_cells_that_do_not_fit_their_kind_are_an_error_naming_column_rows_and_values(spec, cells, rule, where):
    X, findings = encode_frame(pl.DataFrame({spec.name: cells}), [spec], origin="t.csv", csv_lines=True)
    [finding] = findings
    assert (finding.severity, finding.rule, finding.columns) == ("error", rule, [spec.name])
    assert where in finding.detail and finding.detail.startswith("t.csv: ")
    assert np.isnan(X[1:3, 0]).any()


def test_row_offset_counts_rows_of_earlier_chunks():
    _, findings = encode_frame({"size": [1, "x"]}, [SPECS[0]], origin="big.csv", row_offset=1000, csv_lines=True)
    assert "line 1003: 'x'" in findings[0].detail


def test_a_column_the_table_lacks_is_an_error_naming_it():
    X, findings = encode_frame(pl.DataFrame({"size": [1.0]}), SPECS[:2], origin="t.csv")
    assert [(f.rule, f.columns) for f in findings] == [("missing columns", ["member"])]
    assert np.isnan(X[0, 1])


def test_many_distinct_text_values_take_the_expression_path_with_the_same_codes():
    rng = np.random.default_rng(0)
    values = np.array([f"v{i}" for i in range(30_000)])
    cells = values[rng.integers(0, values.size, 50_000)]
    spec = ColumnSpec("id", "categorical", categories=tuple(values[:100]))
    X, findings = encode_frame(pl.DataFrame({"id": cells}), [spec], origin="t")
    expected = np.array([int(c[1:]) if int(c[1:]) < 100 else UNKNOWN_CODE for c in cells], dtype=np.float64)
    np.testing.assert_array_equal(X[:, 0], expected)
    assert findings[0].count == int((expected == UNKNOWN_CODE).sum())
