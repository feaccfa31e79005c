"""Mixed tables end to end on the data side: the training load, validation (rows without a target, missing cells,
vocabularies from the training split), the contract round trip, inference reading and JSON rows."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from mlops_pipeline.config import DataConfig, GateConfig
from mlops_pipeline.contract import DataContract
from mlops_pipeline.data import RowsError, encode_rows, iter_inference_chunks, load_dataset, read_for_inference
from mlops_pipeline.features import UNKNOWN_CODE
from mlops_pipeline.findings import DataValidationError
from mlops_pipeline.gate import noise_check
from mlops_pipeline.validate import prepare, quality_rows

N = 120


def mixed_frame(n=N, seed=0):
    """Numbers, text categories, booleans, dates in two formats, missing cells, an identifier and a text label."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "blue", "green"], n)
    size = rng.normal(10, 2, n).round(2).astype(str).astype(object)
    size[[4, 9]] = ["NA", ""]
    joined = [f"{d % 28 + 1:02d}.{d % 12 + 1:02d}.2020" for d in range(n)]
    seen = [f"2021-05-{d % 28 + 1:02d}T{d % 24:02d}:30:00" for d in range(n)]
    label = np.where((colour == "red") ^ (rng.random(n) < 0.1), "buys", "browses").astype(object)
    return pl.DataFrame(
        {
            "customer": [f"Customer {i}" for i in range(n)],
            "colour": colour,
            "size": size,
            "member": rng.choice(["yes", "no"], n),
            "joined": joined,
            "seen": seen,
            "label": label,
        }
    )


def write_csv(tmp_path, frame, name="t.csv"):
    path = tmp_path / name
    frame.write_csv(path)
    return str(path)


@pytest.fixture
def table(tmp_path):
    return write_csv(tmp_path, mixed_frame())


def test_a_mixed_csv_loads_into_the_encoded_matrix_with_its_columns_typed(table):
    dataset = load_dataset(DataConfig(source=table, target="label"))
    assert [(c.name, c.kind) for c in dataset.columns] == [
        ("colour", "categorical"),
        ("size", "numeric"),
        ("member", "boolean"),
        ("joined", "datetime"),
        ("seen", "datetime"),
    ]
    assert dataset.feature_names == ["colour", "size", "member", "joined", "seen"]
    assert [d.name for d in dataset.dropped] == ["customer"]
    assert dataset.X.dtype == np.float64 and dataset.X.shape == (N, 5)
    assert np.isnan(dataset.X[[4, 9], 1]).all()
    assert dataset.X[0, 3] == 18262.0  # 01.01.2020
    assert [(f.severity, f.rule, f.columns) for f in dataset.findings] == [("warning", "column left out", ["customer"])]


def test_missing_cells_are_warnings_with_counts_by_default_and_errors_under_data_missing_error(table):
    data = prepare(load_dataset(DataConfig(source=table, target="label")), DataConfig(), "classification")
    [missing] = [f for f in data.findings if f.rule == "missing values (NaN or empty)"]
    assert (missing.severity, missing.columns, missing.count) == ("warning", ["size"], 2)
    assert "line 6, line 11" in missing.detail
    assert data.contract.missing == "model"
    strict = DataConfig(source=table, target="label", missing="error")
    with pytest.raises(DataValidationError, match=r"missing values \(NaN or empty\) \[column size\]"):
        prepare(load_dataset(strict), strict, "classification")


def test_data_impute_still_fills_numbers_and_categories_get_their_most_frequent_value(tmp_path):
    frame = mixed_frame().with_columns(pl.when(pl.int_range(N) == 3).then(None).otherwise("colour").alias("colour"))
    config = DataConfig(source=write_csv(tmp_path, frame), target="label", impute="mean")
    data = prepare(load_dataset(config), config, "classification")
    assert np.isfinite(data.X_train).all() and np.isfinite(data.X_test).all()
    assert data.contract.impute_values[0] == 0.0  # code 0: the training split's most frequent colour


def test_rows_without_a_target_are_left_out_counted_and_bounded(tmp_path):
    frame = mixed_frame().with_columns(pl.when(pl.int_range(N) < 6).then(None).otherwise("label").alias("label"))
    config = DataConfig(source=write_csv(tmp_path, frame), target="label")
    dataset = load_dataset(config)
    data = prepare(dataset, config, "classification")
    assert data.X_train.shape[0] + data.X_test.shape[0] == N - 6
    [dropped] = [f for f in data.findings if f.rule == "missing target values"]
    assert dropped.severity == "warning" and dropped.count == 6 and "line 2" in dropped.detail
    with pytest.raises(DataValidationError, match=r"too many rows without a target \[column label\].*6 of 120"):
        prepare(dataset, config.model_copy(update={"max_missing_target_share": 0.01}), "classification")


def test_a_target_with_one_class_after_dropping_missing_rows_is_an_error(tmp_path):
    label = ["yes" if i % 10 else None for i in range(N)]
    frame = mixed_frame().with_columns(pl.Series("label", label))
    config = DataConfig(source=write_csv(tmp_path, frame), target="label")
    with pytest.raises(DataValidationError, match=r"single class \[column label\]"):
        prepare(load_dataset(config), config, "classification")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"colur": "categorical"}, r"unknown column in data.columns \[column colur\]"),
        ({"label": "categorical"}, r"target in data.columns \[column label\]"),
        ({"customer": "drop", "colour": "drop", "size": "drop", "member": "drop", "joined": "drop", "seen": "drop"},
         r"no feature columns left"),
    ],
)  # fmt: skip
def test_bad_column_settings_are_errors_naming_the_column(table, settings, message):
    config = DataConfig(source=table, target="label", columns=settings)
    with pytest.raises(DataValidationError, match=message):
        prepare(load_dataset(config), config, "classification")


def test_column_settings_on_a_built_in_array_are_an_error_naming_them():
    config = DataConfig(source="iris", columns={"petal length (cm)": "categorical"})
    with pytest.raises(DataValidationError, match=r"data.columns on an array source \[column petal length \(cm\)\]"):
        prepare(load_dataset(config), config, "classification")


def test_the_users_settings_type_columns_of_an_all_numeric_file(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("code,x,y\n" + "".join(f"{i % 3},{i * 0.5},{i % 2}\n" for i in range(30)))
    config = DataConfig(source=str(path), target="y", columns={"code": "categorical"})
    dataset = load_dataset(config)
    assert [(c.name, c.kind, c.categories) for c in dataset.columns][0] == ("code", "categorical", ("0", "1", "2"))
    plain = load_dataset(DataConfig(source=str(path), target="y"))
    assert {c.kind for c in plain.columns} == {"numeric"} and plain.dropped == []
    assert quality_rows([], plain)[0]["rule"] == "all rules passed" and len(quality_rows([], plain)) == 1


def test_categories_are_learned_from_the_training_split_only(tmp_path):
    from sklearn.model_selection import train_test_split

    frame = mixed_frame()
    # the rows prepare holds out: the same split of row indices, stratified on the label
    train_rows, test_rows = train_test_split(
        np.arange(N), test_size=0.25, random_state=42, stratify=frame["label"].to_numpy()
    )
    only_test, only_train = int(test_rows[0]), int(train_rows[0])
    colour = (
        pl.when(pl.int_range(N) == only_test)
        .then(pl.lit("violet"))
        .when(pl.int_range(N) == only_train)
        .then(pl.lit("teal"))
        .otherwise("colour")
    )
    config = DataConfig(
        source=write_csv(tmp_path, frame.with_columns(colour.alias("colour"))), target="label", test_size=0.25
    )
    dataset = load_dataset(config)
    assert {"violet", "teal"} <= set(dataset.columns[0].categories)  # the whole file's values
    data = prepare(dataset, config, "classification")
    categories = data.columns[0].categories
    assert "teal" in categories and "violet" not in categories
    assert (data.X_test[:, 0] == UNKNOWN_CODE).sum() == 1
    counts = np.bincount(data.X_train[:, 0].astype(int))
    assert list(counts) == sorted(counts, reverse=True) and categories[-1] == "teal"  # most frequent first
    assert data.contract.features[0].categories == list(categories)


def test_the_contract_round_trips_kinds_categories_formats_and_dropped_columns(table):
    config = DataConfig(source=table, target="label")
    contract = prepare(load_dataset(config), config, "classification").contract
    restored = DataContract.from_json(contract.to_json_bytes())
    assert restored == contract
    assert [c.kind for c in restored.columns()] == ["categorical", "numeric", "boolean", "datetime", "datetime"]
    assert restored.columns()[3].date_format == "%d.%m.%Y" and restored.columns()[4].has_time
    assert [d.name for d in restored.dropped] == ["customer"] and restored.missing == "model"


def test_a_contract_written_before_column_kinds_reads_as_numeric_refusing_missing_cells(table):
    config = DataConfig(source=table, target="label")
    raw = json.loads(prepare(load_dataset(config), config, "classification").contract.to_json_bytes())
    for feature in raw["features"]:
        for key in ("kind", "reason", "categories", "date_format", "has_time"):
            del feature[key]
    del raw["dropped"], raw["missing"]
    old = DataContract.from_dict(raw)
    assert {c.kind for c in old.columns()} == {"numeric"} and old.missing == "error" and old.dropped == []


@pytest.fixture
def trained(table):
    config = DataConfig(source=table, target="label")
    return prepare(load_dataset(config), config, "classification").contract


def test_inference_reads_columns_in_any_order_ignores_extras_and_encodes_like_training(tmp_path, table, trained):
    frame = mixed_frame().drop("label")
    shuffled = frame.select(["seen", "size", "customer", "joined", "member", "colour"]).with_columns(note=pl.lit("x"))
    batch = read_for_inference(write_csv(tmp_path, shuffled, "new.csv"), trained)
    training = load_dataset(DataConfig(source=table, target="label"))
    expected = training.X.copy()
    categories = training.columns[0].categories
    lookup = {categories.index(c): trained.features[0].categories.index(c) for c in trained.features[0].categories}
    expected[:, 0] = [lookup[int(v)] for v in expected[:, 0]]
    np.testing.assert_array_equal(batch.X, expected)
    rules = [(f.rule, f.columns) for f in batch.findings]
    assert ("unexpected columns", ["note"]) in rules  # the training's left-out 'customer' is not listed
    assert ("missing values", ["size"]) in rules and batch.y is None
    parquet = tmp_path / "new.parquet"
    shuffled.write_parquet(parquet)
    np.testing.assert_array_equal(read_for_inference(str(parquet), trained).X, batch.X)
    chunks = list(iter_inference_chunks(str(tmp_path / "new.csv"), trained, chunk_rows=7))
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), batch.X)


def test_unseen_categories_warn_by_default_and_are_refused_under_the_strict_setting(tmp_path, trained):
    frame = (
        mixed_frame()
        .drop("label")
        .with_columns(pl.when(pl.int_range(N) == 2).then(pl.lit("mauve")).otherwise("colour").alias("colour"))
    )
    path = write_csv(tmp_path, frame, "new.csv")
    batch = read_for_inference(path, trained)
    [unseen] = [f for f in batch.findings if f.rule == "unseen categories"]
    assert unseen.severity == "warning" and unseen.columns == ["colour"] and "'mauve' (1 row)" in unseen.detail
    assert batch.X[2, 0] == UNKNOWN_CODE
    with pytest.raises(DataValidationError, match=r"unseen categories \[column colour\].*'mauve'.*line 4"):
        read_for_inference(path, trained, unknown_categories="error")


def test_a_header_changed_since_training_is_an_error_naming_the_columns(tmp_path, trained):
    renamed = mixed_frame().drop("label").rename({"colour": "color"})
    with pytest.raises(DataValidationError, match=r"missing columns \[column colour\].*not trained on: 'color'"):
        read_for_inference(write_csv(tmp_path, renamed, "new.csv"), trained)


def test_bad_cells_at_inference_are_errors_naming_column_and_line(tmp_path, trained):
    frame = mixed_frame().drop("label")
    frame = frame.with_columns(
        pl.when(pl.int_range(N) == 5).then(pl.lit("31.31.2020")).otherwise("joined").alias("joined")
    )
    with pytest.raises(DataValidationError, match=r"unparseable dates \[column joined\].*line 7: '31.31.2020'"):
        read_for_inference(write_csv(tmp_path, frame, "new.csv"), trained)


def test_json_rows_by_name_with_strings_encode_like_the_file(trained):
    row = {"colour": "red", "size": 10.5, "member": "yes", "joined": "02.01.1970", "seen": "1970-01-01T12:00:00"}
    X, findings = encode_rows([row, {**row, "colour": "teal", "size": None}], trained.columns())
    assert X[0].tolist() == [trained.features[0].categories.index("red"), 10.5, 1.0, 1.0, 0.5]
    assert X[1, 0] == UNKNOWN_CODE and np.isnan(X[1, 1])
    assert [(f.rule, f.columns) for f in findings] == [("unseen categories", ["colour"])]
    with pytest.raises(RowsError, match=r"unseen categories \[column colour\].*'teal'") as refused:
        encode_rows([{**row, "colour": "teal"}], trained.columns(), unknown="error")
    assert refused.value.errors[0]["columns"] == ["colour"]
    with pytest.raises(RowsError, match=r"non-numeric values \[column size\].*row 1: 'big'"):
        encode_rows([row, {**row, "size": "big"}], trained.columns())


def test_the_quality_table_lists_each_columns_type_why_and_missing_cells(table):
    dataset = load_dataset(DataConfig(source=table, target="label"))
    rows = {(r["rule"], r["columns"]): r for r in quality_rows(dataset.findings, dataset)}
    assert rows["column type", "colour"]["detail"] == "categorical: text, 3 distinct values"
    assert (
        rows["column type", "size"]["detail"] == "numeric: numbers; 2 missing"
        and rows["column type", "size"]["count"] == 2
    )
    assert rows["column type", "joined"]["detail"] == "datetime: dates, %d.%m.%Y"
    assert rows["column left out", "customer"]["detail"].startswith("identifier or free text: 120 distinct values")


class CodeEquality:
    """Predicts 1 when the first column is exactly code 1: any noise on it changes every prediction."""

    def predict(self, X):
        return (X[:, 0] == 1.0).astype(int)


def test_the_gate_adds_noise_to_numbers_and_dates_only():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.integers(0, 3, 200).astype(float), rng.normal(size=200)])
    y = CodeEquality().predict(X)
    config = GateConfig()
    with_kinds = noise_check(CodeEquality(), X, X, y, config, "classification", 0, ["categorical", "numeric"])
    without = noise_check(CodeEquality(), X, X, y, config, "classification", 0)
    assert with_kinds.passed and with_kinds.measured == 1.0
    assert not without.passed
