"""Reading data, for training and for inference alike: one module per concern, every public name here.

A source is a built-in scikit-learn set, a local path, or a URL (http(s) with httpx, every other scheme through
fsspec); tables (CSV/TSV, Parquet) are parsed with polars, `.npz` files hold arrays `X`, `y`. Loading only fails
on what makes a file unreadable (missing, HTTP 4xx, empty, truncated, ragged rows, wrong delimiter); cells that are
not numbers are findings, so validation (training) or the contract checks (inference) list every problem at once.

    _sources.py    where a source is (built-in name, path, URL), its format from the suffix, a local copy + sha256
    _builtin.py    the data sets that ship with scikit-learn (digits, iris, diabetes, ...)
    _formats.py    parsing whole files: the CSV header and delimiter check, CSV, Parquet, .npz, column names
    _columns.py    a frame's columns to the float64 feature matrix (numbers; or typed by features.detect_columns and
                   encoded by features.encode_frame) and the target's values
    _dataset.py    `Dataset`, what the training load returns, and the fingerprint of arrays
    _load.py       the training load: `load_dataset(DataConfig)`
    _errors.py     load errors, which ones are worth a retry, the retry backoff and its time bound
    _blocks.py     the block reader of batch inference: a CSV cut into blocks of whole lines, each parsed alone
    _inference.py  reading for inference: chunks in the contract's column order, each checked against the contract
    _rows.py       the online service's JSON rows (lists in contract order or objects by name) to the feature matrix
                   (numbers only: rows_to_matrix; text, booleans and dates too: encode_rows)

The contract itself (what the model was trained on) and its checks live in `mlops_pipeline.contract`.
"""

from mlops_pipeline.data._builtin import BUILTIN_DATASETS, load_builtin
from mlops_pipeline.data._columns import NULL_MARKERS, ParsedColumns, frame_to_columns
from mlops_pipeline.data._dataset import Dataset, fingerprint_arrays
from mlops_pipeline.data._errors import (
    RETRY_JITTER_FACTOR,
    DataLoadError,
    TransientLoadError,
    http_status_is_transient,
    is_transient,
    load_time_bound,
    retry_delays,
)
from mlops_pipeline.data._formats import (
    drop_trailing_blank_rows,
    file_columns,
    read_csv_columns,
    read_csv_header,
    read_npz_arrays,
    read_parquet_columns,
)
from mlops_pipeline.data._inference import (
    DEFAULT_CHUNK_ROWS,
    InferenceBatch,
    InferenceChunk,
    iter_inference_chunks,
    read_for_inference,
)
from mlops_pipeline.data._load import load_dataset, read_file
from mlops_pipeline.data._rows import RowsError, encode_rows, json_type, rows_to_matrix
from mlops_pipeline.data._sources import (
    FileFormat,
    LocalCopy,
    SourceSpec,
    download_fsspec,
    download_http,
    file_digest,
    local_copy,
    resolve_source,
)

__all__ = [
    "BUILTIN_DATASETS",
    "DEFAULT_CHUNK_ROWS",
    "NULL_MARKERS",
    "RETRY_JITTER_FACTOR",
    "DataLoadError",
    "Dataset",
    "FileFormat",
    "InferenceBatch",
    "InferenceChunk",
    "LocalCopy",
    "ParsedColumns",
    "RowsError",
    "SourceSpec",
    "TransientLoadError",
    "download_fsspec",
    "download_http",
    "drop_trailing_blank_rows",
    "encode_rows",
    "file_columns",
    "file_digest",
    "fingerprint_arrays",
    "frame_to_columns",
    "http_status_is_transient",
    "is_transient",
    "iter_inference_chunks",
    "json_type",
    "load_builtin",
    "load_dataset",
    "load_time_bound",
    "local_copy",
    "read_csv_columns",
    "read_csv_header",
    "read_file",
    "read_for_inference",
    "read_npz_arrays",
    "read_parquet_columns",
    "resolve_source",
    "retry_delays",
    "rows_to_matrix",
]
