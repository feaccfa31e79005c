"""Reading data to score against a stored contract (mlops_pipeline.data: read_for_inference, iter_inference_chunks,
the block reader); the contract model and its checks are tested in test_contract.py."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from test_data import CORPUS, FlakyServer

from mlops_pipeline.config import DataConfig
from mlops_pipeline.contract import DataContract, learn_contract
from mlops_pipeline.data import DataLoadError, iter_inference_chunks, load_dataset, read_for_inference
from mlops_pipeline.data._blocks import _line_blocks
from mlops_pipeline.findings import DataValidationError
from mlops_pipeline.validate import prepare


@pytest.fixture(scope="module")
def good_frame() -> pl.DataFrame:
    return pl.read_csv(CORPUS / "good.csv")


@pytest.fixture(scope="module")
def contract() -> DataContract:
    # missing cells refused (data.missing: error), as every contract was before the model could fill them
    config = DataConfig(source=str(CORPUS / "good.csv"), target="label", missing="error")
    return prepare(load_dataset(config), config, "classification").contract


def write_csv(path: Path, frame: pl.DataFrame) -> str:
    frame.write_csv(path)
    return str(path)


def in_training_range(frame: pl.DataFrame, contract: DataContract) -> pl.DataFrame:
    """Clip the features into the contract's ranges so only the deliberate problems show."""
    return frame.with_columns([pl.col(f.name).clip(f.min, f.max) for f in contract.features])


def test_features_only_file_in_another_order_comes_back_in_contract_order(tmp_path, good_frame, contract):
    frame = in_training_range(good_frame, contract)
    uri = write_csv(tmp_path / "score.csv", frame.select("c", "a", "b"))
    X, y, findings = read_for_inference(uri, contract)
    np.testing.assert_array_equal(X, frame.select("a", "b", "c").to_numpy())
    assert y is None
    assert {f.rule for f in findings} == {"column order"}
    assert all(f.severity == "warning" for f in findings)


def test_labelled_file_returns_y_and_extra_columns_are_a_warning(tmp_path, good_frame, contract):
    frame = in_training_range(good_frame, contract).with_columns(pl.lit("x").alias("note"))
    X, y, findings = read_for_inference(write_csv(tmp_path / "s.csv", frame), contract)
    assert y.tolist() == good_frame["label"].to_list()
    assert X.shape == (40, 3)
    assert [(f.rule, f.columns) for f in findings] == [("unexpected columns", ["note"])]


def test_missing_column_fails_before_reading_rows(tmp_path, good_frame, contract):
    uri = write_csv(tmp_path / "s.csv", good_frame.drop("b"))
    with pytest.raises(DataValidationError, match=r"missing columns \[column b\]") as caught:
        read_for_inference(uri, contract)
    assert uri in str(caught.value)


def test_new_class_labels_are_reported_with_lines(tmp_path, good_frame, contract):
    frame = in_training_range(good_frame, contract).with_columns(
        pl.when(pl.int_range(pl.len()).is_in([4, 9])).then(7).otherwise(pl.col("label")).alias("label")
    )
    with pytest.raises(DataValidationError) as caught:
        read_for_inference(write_csv(tmp_path / "s.csv", frame), contract)
    (finding,) = caught.value.findings
    assert finding.rule == "new class labels" and finding.count == 2
    assert "labels [7] not among the training classes [0, 1]" in finding.detail
    assert "line 6, line 11" in finding.detail


def test_out_of_range_values_are_warnings_within_tolerance_and_errors_beyond(tmp_path, good_frame, contract):
    spec = contract.features[2]  # c
    span = spec.max - spec.min
    frame = in_training_range(good_frame, contract).with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(spec.max + 0.05 * span)
        .when(pl.int_range(pl.len()) == 1)
        .then(spec.min - 0.5 * span)
        .otherwise(pl.col("c"))
        .alias("c")
    )
    uri = write_csv(tmp_path / "s.csv", frame)
    with pytest.raises(DataValidationError) as caught:
        read_for_inference(uri, contract)
    by_rule = {f.rule: f for f in caught.value.findings}
    assert by_rule["out of range"].severity == "error" and "line 3" in by_rule["out of range"].detail
    assert by_rule["mildly out of range"].severity == "warning" and "line 2" in by_rule["mildly out of range"].detail
    assert "out of range" in str(caught.value) and "mildly" not in str(caught.value)  # the message lists errors

    X, _, findings = read_for_inference(uri, contract, strict=False)
    assert X[1, 2] == pytest.approx(spec.min - 0.5 * span)
    assert {f.rule for f in findings} == {"out of range", "mildly out of range"}


def test_missing_values_are_errors_unless_the_contract_imputes(tmp_path, good_frame, contract):
    frame = in_training_range(good_frame, contract).with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("a")).alias("a")
    )
    uri = write_csv(tmp_path / "s.csv", frame)
    with pytest.raises(DataValidationError, match=r"missing or infinite values \[column a\].*line 5"):
        read_for_inference(uri, contract)

    imputing = DataContract.from_dict(
        {**contract.to_dict(), "impute_strategy": "mean", "impute_values": [0.25, 0.5, 0.75]}
    )
    X, _, findings = read_for_inference(uri, imputing)
    assert X[3, 0] == 0.25
    assert [(f.severity, f.rule) for f in findings] == [("warning", "missing values imputed")]


def test_non_numeric_cells_are_errors_naming_line_and_value(tmp_path, good_frame, contract):
    text = in_training_range(good_frame, contract).write_csv().splitlines()
    cells = text[7].split(",")
    cells[1] = "twelve"
    text[7] = ",".join(cells)
    path = tmp_path / "s.csv"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataValidationError, match=r"non-numeric values \[column b\].*line 8: 'twelve'"):
        read_for_inference(str(path), contract)


def test_chunks_cover_the_file_in_order_and_name_lines_across_chunks(tmp_path, good_frame, contract):
    frame = in_training_range(good_frame, contract)
    uri = write_csv(tmp_path / "s.csv", frame)
    chunks = list(iter_inference_chunks(uri, contract, chunk_rows=7))
    assert [c.row_offset for c in chunks] == [0, 7, 14, 21, 28, 35]
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), read_for_inference(uri, contract).X)
    assert np.concatenate([c.y for c in chunks]).tolist() == frame["label"].to_list()

    broken = frame.with_columns(pl.when(pl.int_range(pl.len()) == 30).then(None).otherwise(pl.col("b")).alias("b"))
    uri = write_csv(tmp_path / "broken.csv", broken)
    seen = []
    with pytest.raises(DataValidationError, match=r"line 32"):
        for chunk in iter_inference_chunks(uri, contract, chunk_rows=7):
            seen.append(chunk.row_offset)
    assert seen == [0, 7, 14, 21]  # the chunks before the bad row were handed out


def test_parquet_and_npz_inputs(tmp_path, good_frame, contract):
    frame = in_training_range(good_frame, contract)
    parquet = tmp_path / "s.parquet"
    frame.select("b", "c", "a").write_parquet(parquet)
    expected = frame.select("a", "b", "c").to_numpy()
    X, y, _ = read_for_inference(str(parquet), contract)
    np.testing.assert_array_equal(X, expected)
    assert [c.X.shape[0] for c in iter_inference_chunks(str(parquet), contract, chunk_rows=16)] == [16, 16, 8]

    npz = tmp_path / "s.npz"
    np.savez(npz, X=expected[:, [2, 0, 1]], feature_names=np.array(["c", "a", "b"]))
    X, y, _ = read_for_inference(str(npz), contract)
    np.testing.assert_array_equal(X, expected)
    assert y is None


def test_inference_from_a_url(good_frame, contract):
    body = in_training_range(good_frame, contract).drop("label").write_csv().encode()
    with FlakyServer(body) as server:
        X, y, findings = read_for_inference(server.url("score.csv"), contract)
    assert X.shape == (40, 3) and y is None and findings == []


def test_unreadable_inputs_fail_as_load_errors(tmp_path, contract):
    with pytest.raises(DataLoadError, match="not a readable Parquet file"):
        read_for_inference(str(CORPUS / "truncated.parquet"), contract)
    with pytest.raises(DataLoadError, match="file not found"):
        read_for_inference(str(tmp_path / "none.csv"), contract)


def test_a_built_in_set_is_checked_against_the_contract_like_a_file(contract):
    # this contract's features are a, b, c: iris's columns are missing, named before any row is scored
    with pytest.raises(DataValidationError, match=r"missing columns \[columns a, b, c\]: iris"):
        read_for_inference("iris", contract)
    from sklearn.datasets import load_iris

    iris = load_iris()
    names = [str(n) for n in iris.feature_names]
    iris_contract = learn_contract(iris.data, iris.target, names, problem="classification", target="target")
    chunks = list(iter_inference_chunks("iris", iris_contract, chunk_rows=100))
    assert [c.row_offset for c in chunks] == [0, 100]
    assert np.array_equal(np.concatenate([c.X for c in chunks]), iris.data)
    assert np.array_equal(np.concatenate([c.y for c in chunks]), iris.target)


def test_regression_contract_rejects_a_text_target(tmp_path):
    X = np.array([[1.0], [2.0], [3.0]])
    contract = learn_contract(X, np.array([1.5, 2.5, 3.5]), ["x"], problem="regression", target="price")
    path = tmp_path / "s.csv"
    path.write_text("x,price\n1,cheap\n2,dear\n")
    with pytest.raises(DataValidationError, match="non-numeric target"):
        read_for_inference(str(path), contract)


def test_trailing_blank_lines_of_a_file_to_score_are_ignored(tmp_path, good_frame, contract):
    path = tmp_path / "s.csv"
    path.write_text(in_training_range(good_frame, contract).drop("label").write_csv() + "\n\n")
    X, _, findings = read_for_inference(str(path), contract)
    assert X.shape == (40, 3) and findings == []


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("whole numbers", lambda text: text),
        ("decimals", lambda text: text.replace(",1,", ",1.25,")),
        ("missing markers", lambda text: text.replace(",1,", ",NA,", 3)),
        ("padded cells", lambda text: text.replace(",1,", ", 1 ,")),
        ("quoted cells", lambda text: text.replace(",1,", ',"1",')),
        ("CRLF lines", lambda text: text.replace("\n", "\r\n")),
        ("no final newline", lambda text: text.rstrip("\n")),
        ("a blank line inside", lambda text: text.replace("\n", "\n\n", 9).replace("\n\n", "\n", 8)),
    ],
)
@pytest.mark.parametrize("chunk_rows", [1, 7, 1000])
def test_chunks_of_any_size_read_the_same_as_one_pass(tmp_path, good_frame, contract, name, edit, chunk_rows):
    """The CSV is cut into blocks of lines and each parsed on its own: numbers first, text when that fails,
    polars' streaming scan when the file has quotes; every path gives the rows and findings of one pass."""
    frame = in_training_range(good_frame, contract).with_columns(pl.col("a").round(0))
    path = tmp_path / "s.csv"
    path.write_bytes(edit(frame.write_csv()).encode())
    contract = DataContract.from_dict({**contract.to_dict(), "impute_strategy": "median", "impute_values": [0, 0, 0]})
    whole = read_for_inference(str(path), contract)
    chunks = list(iter_inference_chunks(str(path), contract, chunk_rows=chunk_rows))
    assert sum(c.X.shape[0] for c in chunks) == whole.X.shape[0] >= 40
    np.testing.assert_array_equal(np.concatenate([c.X for c in chunks]), whole.X)
    np.testing.assert_array_equal(np.concatenate([c.y for c in chunks]), whole.y)
    assert [c.row_offset for c in chunks] == list(range(0, whole.X.shape[0], chunk_rows))[: len(chunks)]
    assert sorted(str(f) for c in chunks for f in c.findings if f.rule != "missing values imputed") == sorted(
        str(f) for f in whole.findings if f.rule != "missing values imputed"
    )


def test_non_numeric_cells_in_a_later_chunk_name_their_lines(tmp_path, good_frame, contract):
    text = in_training_range(good_frame, contract).write_csv().splitlines()
    for line in (3, 30):  # file lines 4 and 31: chunks 1 and 5 of 7 rows
        cells = text[line].split(",")
        cells[1] = "n/a?"
        text[line] = ",".join(cells)
    path = tmp_path / "s.csv"
    path.write_text("\n".join(text) + "\n")
    chunks = iter_inference_chunks(str(path), contract, chunk_rows=7, strict=False)
    errors = [str(f) for c in chunks for f in c.findings if f.severity == "error"]
    assert len(errors) == 2 and "line 4: 'n/a?'" in errors[0] and "line 31: 'n/a?'" in errors[1]


@pytest.mark.parametrize("label", ["dog", "7"])
def test_a_text_target_beside_cells_with_missing_markers(tmp_path, label):
    """The target column stays text while the features are parsed as numbers (first the markers' pass)."""
    contract = DataContract.from_dict(
        {
            "features": [
                {"name": n, "dtype": "float64", "integer": False, "min": 0, "max": 9, "mean": 1, "std": 1, "missing": 0}
                for n in ("a", "b")
            ],
            "problem": "classification",
            "target": "y",
            "target_kind": "string" if label == "dog" else "integer",
            "classes": [label],
            "impute_strategy": "median",
            "impute_values": [0.0, 0.0],
            "schema_version": 1,
        }
    )
    path = tmp_path / "s.csv"
    path.write_text(f"y,b,a\n{label},1.5,NA\n{label},2,3\n")
    for chunk_rows in (2, None):
        read = (
            read_for_inference(str(path), contract)
            if chunk_rows is None
            else next(iter_inference_chunks(str(path), contract, chunk_rows=2))
        )
        np.testing.assert_array_equal(read.X, [[0.0, 1.5], [3.0, 2.0]])
        assert [str(v) for v in read.y] == [label, label]


@pytest.mark.parametrize("lines", [1, 2, 7, 1023, 1024, 1500, 5000, 20000])
@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"no newline",
        b"a\n",
        b"\n" * 3000 + b"tail",
        b"".join(b"%d,%d\n" % (i, i * 7) for i in range(12_000)),
        b"".join(b"x" * (i % 97) + b"\n" for i in range(30_000)) + b"unterminated",
    ],
    ids=["empty", "one line", "one newline", "blank lines", "short lines", "ragged lines"],
)
def test_line_blocks_cut_after_every_nth_newline(text: bytes, lines: int) -> None:
    # every cut-finding path (from the end, from the start, all positions) against splitting the text by lines
    whole = text.splitlines(keepends=True)
    expected = [b"".join(whole[i : i + lines]) for i in range(0, len(whole), lines)]
    assert list(_line_blocks(io.BytesIO(text), lines)) == expected
