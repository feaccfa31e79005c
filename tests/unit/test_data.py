"""Loaders: built-in sets, CSV/TSV/Parquet/.npz files, URLs (a real local HTTP server), fingerprints, retry rules."""

from __future__ import annotations

import hashlib
import urllib.error
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import CORPUS, FlakyServer

from mlops_pipeline.config import DataConfig
from mlops_pipeline.data import (
    BUILTIN_DATASETS,
    DataLoadError,
    TransientLoadError,
    download_http,
    http_status_is_transient,
    is_transient,
    load_builtin,
    load_dataset,
    resolve_source,
    retry_delays,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---- built-ins ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "rows", "features", "problem"),
    [
        ("digits", 1797, 64, "classification"),
        ("iris", 150, 4, "classification"),
        ("wine", 178, 13, "classification"),
        ("breast_cancer", 569, 30, "classification"),
        ("diabetes", 442, 10, "regression"),
    ],
)
def test_builtin_sets_load_with_their_task_and_a_fingerprint_of_their_arrays(name, rows, features, problem):
    dataset = load_builtin(name)
    assert dataset.X.shape == (rows, features)
    assert dataset.X.dtype == np.float64
    assert dataset.y.shape == (rows,)
    assert dataset.problem == problem
    assert len(dataset.feature_names) == features
    assert dataset.fingerprint == load_builtin(name).fingerprint
    assert len(dataset.fingerprint) == 64


def test_builtin_fingerprints_differ_between_sets():
    assert len({load_builtin(name).fingerprint for name in ("digits", "iris", "wine")}) == 3


def test_california_housing_offline_fails_at_once_saying_how_to_provide_the_file(monkeypatch):
    import sklearn.datasets

    calls = []

    def offline(**kwargs):
        calls.append(kwargs)
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(sklearn.datasets, "fetch_california_housing", offline)
    with pytest.raises(DataLoadError) as caught:
        load_dataset(DataConfig(source="california_housing"))
    message = str(caught.value)
    assert "could not be downloaded" in message
    assert "--data california.csv --target MedHouseVal" in message
    assert calls == [{"n_retries": 0}]  # scikit-learn's own retries are switched off: it fails at once
    assert not is_transient(caught.value)


def test_unknown_source_name_lists_the_built_ins():
    with pytest.raises(DataLoadError, match=r"no such file, and not a built-in data set \(known: breast_cancer"):
        load_dataset(DataConfig(source="mnist"))
    assert set(BUILTIN_DATASETS) >= {"digits", "diabetes", "iris", "wine", "breast_cancer", "california_housing"}


# ---- resolving a source -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "fmt", "kind", "location", "file_format", "delimiter"),
    [
        ("digits", "auto", "builtin", "digits", None, ","),
        ("data/train.csv", "auto", "local", "data/train.csv", "csv", ","),
        ("data/train.tsv", "auto", "local", "data/train.tsv", "csv", "\t"),
        ("/abs/x.parquet", "auto", "local", "/abs/x.parquet", "parquet", ","),
        ("file:///abs/my%20data.pq", "auto", "local", "/abs/my data.pq", "parquet", ","),
        ("https://example.org/d.npz?raw=1", "auto", "http", "https://example.org/d.npz?raw=1", "npz", ","),
        ("s3://bucket/key/train.csv", "auto", "fsspec", "s3://bucket/key/train.csv", "csv", ","),
        ("http://host/export", "parquet", "http", "http://host/export", "parquet", ","),
    ],
)
def test_resolve_source(source, fmt, kind, location, file_format, delimiter):
    spec = resolve_source(source, fmt)
    assert (spec.kind, spec.location, spec.format, spec.delimiter) == (kind, location, file_format, delimiter)


def test_unknown_suffix_asks_for_data_format():
    with pytest.raises(DataLoadError, match=r"suffix '\.xlsx'.*set data.format"):
        resolve_source("sheet.xlsx")


# ---- CSV ----------------------------------------------------------------------------------------------------------
def test_csv_features_become_float64_and_target_keeps_its_labels(tmp_path):
    path = write(tmp_path / "t.csv", "x1,kind,x2\n1,cat,2.5\n3,dog,-4\n5,cat,6e2\n")
    dataset = load_dataset(DataConfig(source=str(path), target="kind"))
    assert dataset.feature_names == ["x1", "x2"]
    np.testing.assert_array_equal(dataset.X, [[1, 2.5], [3, -4], [5, 600]])
    assert dataset.X.dtype == np.float64
    assert dataset.y.tolist() == ["cat", "dog", "cat"]
    assert dataset.target_name == "kind"
    assert dataset.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()
    assert dataset.findings == []


def test_integer_targets_stay_integers_and_a_column_named_target_is_the_default(tmp_path):
    path = write(tmp_path / "t.csv", "a,target\n0.5,1\n1.5,0\n")
    dataset = load_dataset(DataConfig(source=str(path)))
    assert dataset.y.dtype == np.int64
    assert dataset.y.tolist() == [1, 0]


def test_tsv_uses_tabs_and_whitespace_and_missing_markers_are_understood(tmp_path):
    path = write(tmp_path / "t.tsv", "a\tb\ty\n 1 \tNA\t0\n2\t\t1\n3\tnan\t1\n")
    dataset = load_dataset(DataConfig(source=str(path), target="y"))
    assert dataset.X[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert np.isnan(dataset.X[:, 1]).all()
    assert dataset.findings == []


def test_every_non_numeric_cell_is_reported_with_its_file_line_and_value(tmp_path):
    rows = "".join(f"{i},{i * 2},{i % 2}\n" for i in range(300))
    path = write(tmp_path / "t.csv", "a,b,y\n" + rows + "7,oops,1\nx,9,0\n")
    dataset = load_dataset(DataConfig(source=str(path), target="y"))
    by_column = {f.columns[0]: f for f in dataset.findings}
    assert set(by_column) == {"a", "b"}
    assert by_column["b"].rule == "non-numeric values"
    assert "line 302: 'oops'" in by_column["b"].detail
    assert "line 303: 'x'" in by_column["a"].detail
    assert str(path) in by_column["a"].detail
    assert dataset.non_numeric_columns == ("a", "b")
    assert np.isnan(dataset.X[300, 1]) and dataset.X[299, 1] == 598.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"the file is empty \(0 bytes\)"),
        ("\n1,2\n", "the first line is blank"),
        ("a;b;y\n1;2;0\n", r"wrong delimiter\? .*contains ';'.*data.delimiter"),
        ("a\tb\ty\n1\t2\t0\n", r"wrong delimiter\? .*contains '\\\\t'"),
        ("a,b,y\n1,2,0\n1,2,0,5\n", "malformed CSV: line 3 has 4 fields, the header has 3"),
    ],
)
def test_unreadable_csv_fails_clearly_and_is_not_retried(tmp_path, text, message):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(DataLoadError, match=message) as caught:
        load_dataset(DataConfig(source=str(path), target="y"))
    assert str(path) in str(caught.value)
    assert not is_transient(caught.value)


def test_binary_file_named_csv_is_not_read_as_text(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes((CORPUS / "good.parquet").read_bytes())
    with pytest.raises(DataLoadError, match="not UTF-8 text"):
        load_dataset(DataConfig(source=str(path), target="label"))


def test_missing_file_and_folder_fail_clearly(tmp_path):
    with pytest.raises(DataLoadError, match="file not found"):
        load_dataset(DataConfig(source=str(tmp_path / "nope.csv")))
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    with pytest.raises(DataLoadError, match="is a folder"):
        load_dataset(DataConfig(source=str(folder)))


def test_header_only_gives_an_empty_dataset_for_validation_to_reject(tmp_path):
    dataset = load_dataset(DataConfig(source=str(write(tmp_path / "h.csv", "a,b,y\n")), target="y"))
    assert dataset.X.shape == (0, 2)


def test_missing_target_column_leaves_y_empty_and_keeps_every_column_as_a_feature(tmp_path):
    dataset = load_dataset(DataConfig(source=str(write(tmp_path / "t.csv", "a,b\n1,2\n")), target="label"))
    assert dataset.y is None
    assert dataset.feature_names == ["a", "b"]
    assert dataset.target_name == "label"


def test_edited_file_changes_the_fingerprint(tmp_path):
    path = write(tmp_path / "t.csv", "a,y\n1,0\n2,1\n")
    before = load_dataset(DataConfig(source=str(path))).fingerprint
    assert load_dataset(DataConfig(source=str(path))).fingerprint == before
    write(path, "a,y\n1,0\n3,1\n")
    assert load_dataset(DataConfig(source=str(path))).fingerprint != before


def test_file_url_reads_the_local_file(tmp_path):
    path = write(tmp_path / "t.csv", "a,y\n1,0\n2,1\n")
    dataset = load_dataset(DataConfig(source=path.as_uri()))
    assert dataset.X[:, 0].tolist() == [1.0, 2.0]


# ---- Parquet and .npz ---------------------------------------------------------------------------------------------
def test_parquet_numeric_text_and_label_columns(tmp_path):
    path = tmp_path / "t.parquet"
    pl.DataFrame({"i": [1, 2, 3], "f": [0.5, None, 2.0], "s": ["1", "x", "3"], "label": ["a", "b", "a"]}).write_parquet(
        path
    )
    dataset = load_dataset(DataConfig(source=str(path), target="label"))
    assert dataset.feature_names == ["i", "f", "s"]
    assert dataset.X[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert np.isnan(dataset.X[1, 1])
    assert dataset.y.tolist() == ["a", "b", "a"]
    (finding,) = dataset.findings
    assert finding.columns == ["s"] and "row 2: 'x'" in finding.detail
    assert dataset.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()


def test_truncated_parquet_fails_clearly():
    with pytest.raises(DataLoadError, match="not a readable Parquet file"):
        load_dataset(DataConfig(source=str(CORPUS / "truncated.parquet"), target="label"))


def test_npz_with_x_y_and_feature_names(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(6).reshape(3, 2), y=np.array([0, 1, 0]), feature_names=np.array(["p", "q"]))
    dataset = load_dataset(DataConfig(source=str(path)))
    assert dataset.feature_names == ["p", "q"]
    assert dataset.X.dtype == np.float64 and dataset.X.shape == (3, 2)
    assert dataset.y.tolist() == [0, 1, 0]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"y": np.zeros(3)}, "has no array 'X'"),
        ({"X": np.zeros(3), "y": np.zeros(3)}, "must be 2-D"),
        ({"X": np.zeros((3, 2)), "feature_names": np.array(["a"])}, "1 feature_names for 2 columns"),
    ],
)
def test_npz_errors(tmp_path, arrays, message):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataLoadError, match=message):
        load_dataset(DataConfig(source=str(path)))


# ---- URLs ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def good_csv_bytes() -> bytes:
    return (CORPUS / "good.csv").read_bytes()


def test_http_source_is_downloaded_and_fingerprinted(good_csv_bytes):
    with FlakyServer(good_csv_bytes) as server:
        dataset = load_dataset(DataConfig(source=server.url("good.csv"), target="label"))
    assert dataset.fingerprint == hashlib.sha256(good_csv_bytes).hexdigest()
    assert dataset.X.shape == (40, 3)
    assert server.requests == [200]


@pytest.mark.parametrize(
    ("status", "transient"),
    [(500, True), (502, True), (503, True), (429, True), (400, False), (403, False), (404, False), (410, False)],
)
def test_http_errors_are_transient_only_for_5xx_and_throttling(good_csv_bytes, tmp_path, status, transient):
    with FlakyServer(good_csv_bytes, failures=1, status=status) as server, pytest.raises(DataLoadError) as caught:
        download_http(server.url("good.csv"), tmp_path / "out", timeout=5)
    assert f"HTTP {status}" in str(caught.value)
    assert server.url("good.csv") in str(caught.value)
    assert is_transient(caught.value) is transient
    assert http_status_is_transient(status) is transient


def test_refused_connection_is_transient(tmp_path):
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientLoadError, match="connection failed"):
        download_http(f"http://127.0.0.1:{port}/x.csv", tmp_path / "out", timeout=2)


def test_fsspec_urls_are_copied_and_fingerprinted(good_csv_bytes):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/issue3-tests/good.csv", good_csv_bytes)
    try:
        dataset = load_dataset(DataConfig(source="memory://issue3-tests/good.csv", target="label"))
    finally:
        fs.rm("/issue3-tests", recursive=True)
    assert dataset.fingerprint == hashlib.sha256(good_csv_bytes).hexdigest()
    with pytest.raises(DataLoadError, match="file not found"):
        load_dataset(DataConfig(source="memory://issue3-tests/missing.csv"))


# ---- retry rules --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TransientLoadError("503"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (OSError("network is unreachable"), True),
        (DataLoadError("404"), False),
        (FileNotFoundError(), False),
        (PermissionError(), False),
        (ValueError("parse"), False),
        (KeyError("x"), False),
    ],
)
def test_is_transient(exc, expected):
    assert is_transient(exc) is expected


def test_retry_delays_double_and_are_capped():
    assert retry_delays(4, 1.0) == [1.0, 2.0, 4.0, 8.0]
    assert retry_delays(0, 1.0) == []
    assert retry_delays(8, 10.0)[-1] == 60.0


def test_config_rejects_bad_data_options():
    from mlops_pipeline.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"data.impute"):
        parse_config({"data": {"impute": "zero"}})
    with pytest.raises(ConfigError, match=r"data.delimiter"):
        parse_config({"data": {"delimiter": ";;"}})


def test_with_data_source_overrides_source_and_target():
    from mlops_pipeline.config import PipelineConfig, with_data_source

    config = with_data_source(PipelineConfig(), "x.csv", "label")
    assert (config.data.source, config.data.target) == ("x.csv", "label")
    assert with_data_source(config, None, None) is config


def test_download_streams_to_disk(tmp_path):
    body = bytes(range(256)) * 20_000  # 5 MB: several blocks
    with FlakyServer(body) as server:
        sha256, size = download_http(server.url("blob.csv"), tmp_path / "blob", timeout=5)
    assert (sha256, size) == (hashlib.sha256(body).hexdigest(), len(body))
    assert (tmp_path / "blob").read_bytes() == body


@pytest.mark.parametrize("spelled", ["\\t", "tab"])
def test_tab_delimiter_can_be_spelled_out(tmp_path, spelled):
    from mlops_pipeline.config import apply_overrides, parse_config

    config = parse_config(apply_overrides({}, [f"data.delimiter={spelled}"]))
    assert config.data.delimiter == "\t"
    path = write(tmp_path / "t.txt", "a\tlabel\n1\t0\n2\t1\n")
    dataset = load_dataset(config.data.model_copy(update={"source": str(path), "target": "label"}))
    assert dataset.X[:, 0].tolist() == [1.0, 2.0]


def test_blank_lines_at_the_end_are_not_rows_but_blank_lines_inside_are_reported(tmp_path):
    trailing = load_dataset(DataConfig(source=str(write(tmp_path / "t.csv", "a,y\n1,0\n2,1\n\n\n")), target="y"))
    assert trailing.X[:, 0].tolist() == [1.0, 2.0] and trailing.y.tolist() == [0, 1] and trailing.findings == []
    inside = load_dataset(DataConfig(source=str(write(tmp_path / "i.csv", "a,y\n1,0\n\n2,1\n")), target="y"))
    assert inside.n_rows == 3
    (finding,) = inside.findings
    assert finding.rule == "missing target values" and "line 3" in finding.detail


def test_crlf_line_ends_byte_order_mark_and_quoted_header(tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes(b'\xef\xbb\xbf"x,1",y\r\n1,0\r\n2,1\r\n')
    dataset = load_dataset(DataConfig(source=str(path), target="y"))
    assert dataset.feature_names == ["x,1"]
    assert dataset.X[:, 0].tolist() == [1.0, 2.0] and dataset.y.tolist() == [0, 1]
