"""detect_columns: each column's kind and why, the user's data.columns, and each bad input named by its column."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mlops_pipeline.features._detect import MAX_CATEGORY_VALUES, detect_columns


def detect(columns, settings=None):
    frame = pl.DataFrame(columns, schema_overrides={k: pl.String for k, v in columns.items() if v[0] is None})
    return detect_columns(frame, settings or {}, origin="t.csv", csv_lines=True)


def by_name(specs):
    return {spec.name: spec for spec in specs}


N = 40
RNG = np.random.default_rng(0)
TABLE = {
    "amount": [f"{v:.3f}" for v in RNG.normal(size=N)],
    "count": list(range(N)),
    "flag01": [i % 2 for i in range(N)],
    "colour": [["red", "blue", "green"][i % 3] for i in range(N)],
    "member": [["yes", "No", "YES", None][i % 4] for i in range(N)],
    "iso": [f"2021-03-{i % 28 + 1:02d}" for i in range(N)],
    "stamp": [f"2021-03-01T{i % 24:02d}:15:00" for i in range(N)],
    "dots": [f"{i % 28 + 1:02d}.{i % 12 + 1:02d}.2020" for i in range(N)],
    "slashes": [f"2020/{i % 12 + 1:02d}/{i % 28 + 1:02d}" for i in range(N)],
    "us": [f"{i % 12 + 1}/{i % 28 + 1}/2020" for i in range(N)],
    "name": [f"customer {i}" for i in range(N)],
    "blank": [None] * N,
}


def test_each_kind_is_detected_with_its_reason():
    specs, dropped, findings = detect(TABLE)
    kinds = {name: (spec.kind, spec.reason, spec.date_format) for name, spec in by_name(specs).items()}
    assert kinds == {
        "amount": ("numeric", "numbers", None),
        "count": ("numeric", "numbers", None),
        "flag01": ("numeric", "numbers", None),  # 0/1 stays numeric
        "colour": ("categorical", "text, 3 distinct values", None),
        "member": ("boolean", "text, true/false values (No, YES, yes)", None),
        "iso": ("datetime", "dates, ISO 8601", None),
        "stamp": ("datetime", "date-times, ISO 8601", None),
        "dots": ("datetime", "dates, %d.%m.%Y", "%d.%m.%Y"),
        "slashes": ("datetime", "dates, %Y/%m/%d", "%Y/%m/%d"),
        # a day above 12 in some rows: only month first reads every value
        "us": ("datetime", "dates, %m/%d/%Y", "%m/%d/%Y"),
        "blank": ("numeric", "no values", None),
    }
    assert by_name(specs)["stamp"].has_time and not by_name(specs)["iso"].has_time
    assert [(d.name, d.reason) for d in dropped] == [("name", "identifier or free text: 40 distinct values in 40 rows")]
    [left_out] = findings
    assert (left_out.severity, left_out.rule, left_out.columns) == ("warning", "column left out", ["name"])
    assert "data.columns.name: categorical" in left_out.detail


def test_categories_are_most_frequent_first_ties_by_value():
    specs, _, _ = detect({"c": ["b", "a", "c", "a", "b", "a", "d", "d"]})
    assert specs[0].categories == ("a", "b", "d", "c")


def test_ambiguous_day_and_month_follow_the_stated_rule():
    specs, _, _ = detect({"us": ["01/02/2020", "03/04/2020"], "eu": ["01-02-2020", "03-04-2020"]})
    assert by_name(specs)["us"].date_format == "%m/%d/%Y" and "read month first" in by_name(specs)["us"].reason
    assert by_name(specs)["eu"].date_format == "%d-%m-%Y" and "read day first" in by_name(specs)["eu"].reason


def test_native_types_keep_their_kind():
    frame = pl.DataFrame(
        {
            "b": [True, False],
            "d": pl.Series(["2020-01-01", "2020-01-02"]).str.to_date(),
            "t": pl.Series(["2020-01-01 10:00", "2020-01-02 00:00"]).str.to_datetime(),
            "n": [1.5, 2.0],
        }
    )
    specs, dropped, findings = detect_columns(frame, {}, origin="t.parquet", csv_lines=False)
    assert [(s.kind, s.has_time) for s in specs] == [
        ("boolean", False),
        ("datetime", False),
        ("datetime", True),
        ("numeric", False),
    ]
    assert dropped == [] and findings == []


def test_the_users_settings_type_drop_or_leave_out_columns():
    settings = {"count": "categorical", "colour": "drop", "name": "identifier", "dots": "datetime"}
    specs, dropped, findings = detect(TABLE, settings)
    count = by_name(specs)["count"]
    assert count.kind == "categorical" and count.reason == "categorical (data.columns), 40 distinct values"
    assert set(count.categories) == {str(i) for i in range(N)}
    assert by_name(specs)["dots"].date_format == "%d.%m.%Y"
    assert {(d.name, d.reason) for d in dropped} == {
        ("colour", "data.columns: drop"),
        ("name", "data.columns: identifier"),
    }
    assert findings == []  # nothing the user chose is a warning


def test_an_unknown_column_in_the_settings_is_an_error_naming_it():
    _, _, findings = detect(TABLE, {"colur": "categorical"})
    [error] = findings[:1]
    assert (error.severity, error.rule, error.columns) == ("error", "unknown column in data.columns", ["colur"])
    assert "'colur'" in error.detail and "'colour'" in error.detail


def test_a_column_mixing_numbers_and_text_is_an_error_naming_the_text_rows():
    values = [str(i) for i in range(10)]
    values[3], values[7] = "abc", "n.a."
    specs, _, findings = detect({"x": values})
    [error] = findings
    assert (error.severity, error.rule, error.columns, error.count) == ("error", "non-numeric values", ["x"], 2)
    assert "line 5: 'abc', line 9: 'n.a.'" in error.detail and "8 of 10 values are numbers" in error.detail
    assert specs[0].kind == "numeric"


def test_mostly_text_with_a_few_numbers_is_a_category():
    specs, _, findings = detect({"size": ["S", "M", "L", "S", "M", "10", "S"]})
    assert specs[0].kind == "categorical" and "10" in specs[0].categories
    assert [f.rule for f in findings] == ["categories seen once"]


def test_a_user_typed_column_reports_cells_that_do_not_fit():
    _, _, findings = detect({"d": ["2020-01-01", "soon", None]}, {"d": "datetime"})
    [error] = findings
    assert (error.rule, error.columns) == ("unparseable dates", ["d"]) and "line 3: 'soon'" in error.detail


def test_a_date_column_with_unparseable_cells_is_an_error_naming_them():
    values = [f"2021-01-{i + 1:02d}" for i in range(25)] + ["31.02.2021", "2021-02-30", None]
    specs, dropped, findings = detect({"d": values})
    assert [(s.kind, s.date_format) for s in specs] == [("datetime", None)] and dropped == []
    [error] = findings
    assert (error.severity, error.rule, error.columns, error.count) == ("error", "unparseable dates", ["d"], 2)
    assert "line 27: '31.02.2021', line 28: '2021-02-30'" in error.detail


def test_ten_thousand_distinct_text_values_are_an_identifier_with_a_warning():
    values = [f"id-{i}" for i in range(10_000)]
    _, dropped, findings = detect({"ref": values, "x": list(range(10_000))})
    assert [d.name for d in dropped] == ["ref"]
    assert [(f.severity, f.rule, f.columns) for f in findings] == [("warning", "column left out", ["ref"])]
    assert "10000 distinct values" in findings[0].detail


def test_more_distinct_values_than_the_cap_is_an_identifier_even_when_repeated():
    values = [f"v{i % (MAX_CATEGORY_VALUES + 1)}" for i in range(4 * (MAX_CATEGORY_VALUES + 1))]
    _, dropped, _ = detect({"v": values})
    assert [d.name for d in dropped] == ["v"]


def test_a_category_seen_once_is_a_warning_naming_it():
    _, _, findings = detect({"c": ["a"] * 10 + ["b"] * 10 + ["rare"]})
    [warning] = findings
    assert (warning.severity, warning.rule, warning.columns, warning.count) == (
        "warning",
        "categories seen once",
        ["c"],
        1,
    )
    assert "'rare'" in warning.detail


@pytest.mark.parametrize("settings", [{}, {"a": "drop"}])
def test_a_table_of_only_identifiers_is_an_error(settings):
    columns = {"name": [f"n{i}" for i in range(30)], "a": [f"e{i}@x" for i in range(30)]}
    specs, dropped, findings = detect(columns, settings)
    assert specs == [] and {d.name for d in dropped} == {"name", "a"}
    error = findings[-1]
    assert (error.severity, error.rule) == ("error", "no feature columns left")
    assert set(error.columns) == {"name", "a"}
