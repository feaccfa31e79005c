"""Loading data: the `load` task and the plain loaders behind it.

A source is a built-in scikit-learn set, a local path, or a URL: http(s) is fetched with httpx (already installed
with Prefect; it tells a 503 from a 404), every other scheme through fsspec (file://, s3:// with s3fs, memory://,
...). Remote files are streamed to a temporary file while their sha256 is computed, then parsed like local ones.
Tables (CSV/TSV, Parquet) are parsed with polars: the fastest, leanest reader measured on a 1,000,000 x 64 CSV
(README.md, "Why polars reads the tables"; benchmarks/compare_csv_readers.py); `.npz` files hold arrays `X`, `y`.

Loading only fails on what makes the file unreadable (missing, HTTP 4xx, empty, truncated, ragged rows, wrong
delimiter). Cells that are not numbers are reported as findings so the `validate` task can list every problem of
the data at once.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

import numpy as np

from mlops_pipeline.config import DataConfig, ProblemKind
from mlops_pipeline.findings import Finding, example_rows
from mlops_pipeline.plain import sha256_stream

FileFormat = Literal["csv", "parquet", "npz"]

# Spelled-out "missing" markers are read as empty cells (NaN, "nan", "inf" are parsed as the floats they name).
NULL_MARKERS: tuple[str, ...] = ("NA", "N/A", "n/a", "NULL", "null", "None", "none", "?")
_SUFFIX_FORMATS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
}
_OTHER_DELIMITERS = (";", "\t", "|", ",")
_COPY_BLOCK = 1 << 20
_MAX_RETRY_DELAY_SECONDS = 60.0


class DataLoadError(RuntimeError):
    """The data source could not be read and retrying will not help; the message names the source."""


class TransientLoadError(DataLoadError):
    """Reading failed in a way that may pass (connection reset, timeout, HTTP 5xx): worth a retry."""


def is_transient(exc: BaseException) -> bool:
    """Whether a load failure is worth retrying: connection errors, timeouts and HTTP 5xx/408/429 are."""
    if isinstance(exc, TransientLoadError):
        return True
    if isinstance(exc, DataLoadError | FileNotFoundError | PermissionError | IsADirectoryError | ValueError):
        return False
    return isinstance(exc, ConnectionError | TimeoutError | OSError)


def http_status_is_transient(status: int) -> bool:
    """5xx, 408 Request Timeout, 425 Too Early and 429 Too Many Requests may pass; every other 4xx will not."""
    return status >= 500 or status in (408, 425, 429)


@dataclass(frozen=True)
class Dataset:
    """A feature matrix with its target, names and a fingerprint of exactly what was read.

    `y` is None when the target column is missing; `findings` are problems seen while reading (cells that are not
    numbers), which the validate task reports together with its own. Non-numeric cells are NaN in `X`.
    """

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    target_name: str | None
    source: str
    fingerprint: str
    problem: ProblemKind | None  # known for built-in sets; for files the model kind decides
    info: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    non_numeric_columns: tuple[str, ...] = ()
    csv_lines: bool = False  # row examples name file lines (CSV) rather than row numbers

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def fingerprint_arrays(*arrays: np.ndarray, names: list[str] | None = None) -> str:
    """sha256 over dtype, shape and bytes of each array (and the column names), so any edit changes it."""
    digest = hashlib.sha256()
    for array in arrays:
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.dtype.str}{contiguous.shape}".encode())
        digest.update(contiguous.tobytes())
    for name in names or []:
        digest.update(name.encode() + b"\0")
    return digest.hexdigest()


# ---- built-in data sets --------------------------------------------------------------------------------------
def _sklearn_loader(function_name: str, problem: ProblemKind) -> Callable[[], tuple[Any, ProblemKind]]:
    def load() -> tuple[Any, ProblemKind]:
        import sklearn.datasets

        return getattr(sklearn.datasets, function_name)(), problem

    return load


def _load_california_housing() -> tuple[Any, ProblemKind]:
    from sklearn.datasets import fetch_california_housing, get_data_home

    try:
        # n_retries=0: offline, scikit-learn's own retries only delay the same failure.
        return fetch_california_housing(n_retries=0), "regression"
    except OSError as exc:  # URLError, socket errors, an unwritable cache folder
        raise DataLoadError(
            f"data.source 'california_housing': not in scikit-learn's cache ({get_data_home()}) and it could not "
            f"be downloaded ({exc}). On an offline machine, provide the data as a file instead: on a machine with "
            'internet run `python -c "from sklearn.datasets import fetch_california_housing as f; '
            "f(as_frame=True).frame.to_csv('california.csv', index=False)\"`, copy california.csv here and run "
            "`python flows/pipeline.py --data california.csv --target MedHouseVal` (or copy scikit-learn's cache "
            f"folder to {get_data_home()})."
        ) from None


BUILTIN_DATASETS: dict[str, Callable[[], tuple[Any, ProblemKind]]] = {
    "digits": _sklearn_loader("load_digits", "classification"),
    "iris": _sklearn_loader("load_iris", "classification"),
    "wine": _sklearn_loader("load_wine", "classification"),
    "breast_cancer": _sklearn_loader("load_breast_cancer", "classification"),
    "diabetes": _sklearn_loader("load_diabetes", "regression"),
    "california_housing": _load_california_housing,
}


# Values every feature of a built-in set can take, whatever its training split covered: the contract checks served
# rows against these (a drawing may put ink in a corner no training digit touched).
FEATURE_DOMAINS: dict[str, tuple[float, float]] = {"digits": (0.0, 16.0)}  # counts of on pixels in 4x4 blocks


def load_builtin(name: str) -> Dataset:
    """Load one of the data sets that ship with scikit-learn (california_housing: from its download cache)."""
    try:
        loader = BUILTIN_DATASETS[name]
    except KeyError:
        raise DataLoadError(
            f"data.source '{name}': unknown built-in data set (known: {', '.join(sorted(BUILTIN_DATASETS))})"
        ) from None
    bunch, problem = loader()
    X = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target)
    feature_names = [str(n) for n in getattr(bunch, "feature_names", [f"x{i}" for i in range(X.shape[1])])]
    domain = FEATURE_DOMAINS.get(name)
    return Dataset(
        X=X,
        y=y,
        feature_names=feature_names,
        target_name="target",
        source=f"builtin:{name}",
        fingerprint=fingerprint_arrays(X, y, names=feature_names),
        problem=problem,
        info={} if domain is None else {"feature_domain": domain},
    )


# ---- where a source is and what format it has ------------------------------------------------------------------
@dataclass(frozen=True)
class SourceSpec:
    kind: Literal["builtin", "local", "http", "fsspec"]
    location: str  # built-in name, local path or URL
    format: FileFormat | None
    delimiter: str = ","


def _format_for(location: str, fmt: str, origin: str) -> FileFormat:
    if fmt != "auto":
        return fmt  # type: ignore[return-value]
    suffix = Path(urlparse(location).path if "://" in location else location).suffix.lower()
    try:
        return _SUFFIX_FORMATS[suffix]
    except KeyError:
        raise DataLoadError(
            f"{origin}: cannot tell the file format from the suffix '{suffix or '(none)'}' "
            f"(known: {', '.join(sorted(_SUFFIX_FORMATS))}); set data.format to csv, parquet or npz"
        ) from None


def resolve_source(source: str, fmt: str = "auto", delimiter: str = ",") -> SourceSpec:
    """Decide whether `source` is a built-in set, a local file or a URL, and which reader it needs."""
    if source in BUILTIN_DATASETS:
        return SourceSpec("builtin", source, None)
    scheme = urlparse(source).scheme.lower() if "://" in source else ""
    if scheme == "file":
        path = unquote(urlparse(source).path)
        kind: Literal["local", "http", "fsspec"] = "local"
        location = path
    elif scheme in ("http", "https"):
        kind, location = "http", source
    elif scheme:
        kind, location = "fsspec", source
    else:
        kind, location = "local", source
        if "/" not in source and "\\" not in source and "." not in source and not Path(source).exists():
            raise DataLoadError(
                f"data.source '{source}': no such file, and not a built-in data set "
                f"(known: {', '.join(sorted(BUILTIN_DATASETS))})"
            )
    file_format = _format_for(location, fmt, f"data.source '{source}'")
    if file_format == "csv" and fmt == "auto" and delimiter == "," and location.lower().endswith(".tsv"):
        delimiter = "\t"
    return SourceSpec(kind, location, file_format, delimiter)


# ---- getting the bytes -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocalCopy:
    path: Path
    sha256: str
    n_bytes: int


def _copy_hashing(read: Callable[[int], bytes], destination: Path) -> tuple[str, int]:
    """Copy a stream to `destination`, returning the sha256 and size of exactly the bytes copied."""
    with destination.open("wb") as out:

        def read_and_copy(size: int) -> bytes:
            block = read(size)
            out.write(block)
            return block

        return sha256_stream(read_and_copy, _COPY_BLOCK)


def file_digest(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and size in bytes of a local file."""
    with path.open("rb") as handle:
        return sha256_stream(handle.read, _COPY_BLOCK)


def download_http(url: str, destination: Path, timeout: float) -> tuple[str, int]:
    """Stream a URL to a file; return its sha256 and size. 5xx/timeouts/resets are transient, 4xx are not."""
    import httpx

    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            status = response.status_code
            if status >= 400:
                reason = f"HTTP {status} {response.reason_phrase}".strip()
                if http_status_is_transient(status):
                    raise TransientLoadError(f"{url}: {reason} (a server-side error; retrying may help)")
                raise DataLoadError(f"{url}: {reason}; not retried (the request itself is wrong: check the URL)")
            chunks = response.iter_bytes(_COPY_BLOCK)
            return _copy_hashing(lambda _size: next(chunks, b""), destination)
    except httpx.TimeoutException as exc:
        raise TransientLoadError(f"{url}: timed out after {timeout:g} s ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:  # connection refused/reset, incomplete body, DNS
        raise TransientLoadError(f"{url}: connection failed ({type(exc).__name__}: {exc})") from exc
    except httpx.InvalidURL as exc:
        raise DataLoadError(f"{url}: not a valid URL ({exc})") from None


def download_fsspec(url: str, destination: Path) -> tuple[str, int]:
    """Copy any fsspec URL (s3://, gs://, memory://, ...) to a file; return its sha256 and size."""
    import fsspec

    protocol = url.split("://", 1)[0]
    try:
        with fsspec.open(url, "rb") as source:
            return _copy_hashing(source.read, destination)
    except ImportError as exc:
        raise DataLoadError(f"{url}: reading '{protocol}://' URLs needs an extra package ({exc})") from None
    except FileNotFoundError:
        raise DataLoadError(f"{url}: file not found") from None
    except PermissionError as exc:
        raise DataLoadError(f"{url}: permission denied ({exc})") from None
    except ValueError as exc:  # unknown protocol, malformed URL
        raise DataLoadError(f"{url}: cannot be opened with fsspec ({exc})") from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise TransientLoadError(f"{url}: read failed ({type(exc).__name__}: {exc})") from exc


@contextmanager
def local_copy(spec: SourceSpec, timeout: float = 30.0, *, hash_local: bool = True) -> Iterator[LocalCopy]:
    """The source as a local file with its sha256: local files in place, URLs in a temporary folder."""
    if spec.kind == "local":
        path = Path(spec.location)
        if not path.exists():
            raise DataLoadError(f"{spec.location}: file not found (data.source / --data)")
        if path.is_dir():
            raise DataLoadError(f"{spec.location}: is a folder, expected a .csv, .tsv, .parquet or .npz file")
        sha256, n_bytes = file_digest(path) if hash_local else ("", path.stat().st_size)
        yield LocalCopy(path, sha256, n_bytes)
        return
    folder = Path(tempfile.mkdtemp(prefix="mlops-data-"))
    try:
        destination = folder / (Path(urlparse(spec.location).path).name or "download")
        if spec.kind == "http":
            sha256, n_bytes = download_http(spec.location, destination, timeout)
        else:
            sha256, n_bytes = download_fsspec(spec.location, destination)
        yield LocalCopy(destination, sha256, n_bytes)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---- parsing tables --------------------------------------------------------------------------------------------
@dataclass
class ParsedColumns:
    """Feature columns converted to float64 (non-numeric cells NaN), the target as strings/numbers, findings."""

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    findings: list[Finding]
    non_numeric_columns: tuple[str, ...]
    missing_target_rows: np.ndarray | None = None


def read_csv_header(path: Path, delimiter: str, origin: str) -> list[str]:
    """Column names from the first line; an empty file, a binary file or a wrong delimiter fail clearly."""
    if path.stat().st_size == 0:
        raise DataLoadError(f"{origin}: the file is empty (0 bytes); expected a header line and data rows")
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError:
        raise DataLoadError(f"{origin}: not UTF-8 text, so not a CSV file (is it Parquet? set data.format)") from None
    if not first.strip():
        raise DataLoadError(f"{origin}: the first line is blank; expected a header line with column names")
    names = [name.strip() for name in next(csv.reader([first], delimiter=delimiter))]
    if len(names) == 1:
        others = [d for d in _OTHER_DELIMITERS if d != delimiter and d in names[0]]
        if others:
            shown = "\\t" if others[0] == "\t" else others[0]
            raise DataLoadError(
                f"{origin}: wrong delimiter? the header has one column {names[0][:60]!r} when split on "
                f'{delimiter!r}, but contains {shown!r}; set data.delimiter (e.g. --set "data.delimiter={shown}")'
            )
    return names


def _find_ragged_line(path: Path, delimiter: str, n_fields: int) -> str:
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        for line_number, row in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
            if len(row) > n_fields:
                return f"line {line_number} has {len(row)} fields, the header has {n_fields}"
    return f"a row has more fields than the header's {n_fields}"


def _polars_error_summary(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _numeric_or_labels(values: Any) -> np.ndarray:
    """Target values: numbers when every value parses as one (integers stay integers), else string labels."""
    import polars as pl

    series = values if isinstance(values, pl.Series) else pl.Series(values)
    if series.dtype == pl.String:
        stripped = series.str.strip_chars()
        parsed = stripped.cast(pl.Float64, strict=False)
        if parsed.null_count() == stripped.null_count():
            series = parsed
        else:
            return np.asarray(stripped.to_numpy(), dtype=str)
    elif not (series.dtype.is_numeric() or series.dtype == pl.Boolean):
        return np.asarray(series.cast(pl.String).to_numpy(), dtype=str)
    array = series.cast(pl.Float64).to_numpy()
    finite = array[np.isfinite(array)]
    if finite.size == array.size and np.array_equal(finite, np.round(finite)) and np.abs(finite).max(initial=0) < 2**53:
        return array.astype(np.int64)
    return array


def _feature_series(series: Any) -> tuple[Any, Any]:
    """(float64 series, mask of cells that are not numbers or None); spelled-out missing markers become null."""
    import polars as pl

    if series.dtype == pl.Float64:
        return series, None
    if series.dtype.is_numeric() or series.dtype == pl.Boolean:
        return series.cast(pl.Float64), None
    text = series.cast(pl.String) if series.dtype != pl.String else series
    text = text.str.strip_chars()
    text = pl.select(pl.when(text.is_in(("", *NULL_MARKERS))).then(None).otherwise(text)).to_series()
    parsed = text.cast(pl.Float64, strict=False)
    return parsed, parsed.is_null() & text.is_not_null()


def frame_to_columns(
    frame: Any, names: list[str], target_index: int | None, origin: str, *, csv_lines: bool, row_offset: int = 0
) -> ParsedColumns:
    """Split a polars frame (columns in `names` order) into a column-major float64 matrix and the target.

    Columns are moved out of the frame one at a time, so the frame shrinks while the matrix fills: the peak is about
    one copy of the data, not two. The frame is empty afterwards.
    """
    import polars as pl

    height = frame.height
    frame_columns = list(frame.columns)
    feature_indices = [i for i in range(len(names)) if i != target_index]
    findings: list[Finding] = []
    non_numeric: list[str] = []
    y = None
    missing_target_rows = None
    if target_index is not None:
        target = frame.drop_in_place(frame_columns[target_index])
        if target.dtype == pl.String:
            target = pl.select(
                pl.when(target.str.strip_chars().is_in(("", *NULL_MARKERS))).then(None).otherwise(target)
            ).to_series()
        missing = target.is_null()
        if missing.any():
            missing_target_rows = np.flatnonzero(missing.to_numpy())
        y = _numeric_or_labels(target)
        del target
    X = np.empty((height, len(feature_indices)), dtype=np.float64, order="F")
    for position, index in enumerate(feature_indices):
        column = frame.drop_in_place(frame_columns[index])
        if (column.dtype.is_integer() or column.dtype == pl.Boolean) and not column.null_count():
            # numpy casts while filling X: the same float64 values as polars' cast, without its float64 copy
            X[:, position] = column.to_numpy()
            del column
            continue
        converted, bad = _feature_series(column)
        if bad is not None and bad.any():
            name = names[index]
            rows = np.flatnonzero(bad.to_numpy())
            values = column.gather(rows[:5]).cast(pl.String).to_list()
            non_numeric.append(name)
            findings.append(
                Finding(
                    "error",
                    "non-numeric values",
                    [name],
                    int(rows.size),
                    f"{origin}: every feature must be a number; e.g. "
                    f"{example_rows(rows, row_offset=row_offset, csv_lines=csv_lines, values=values)}",
                )
            )
        X[:, position] = converted.to_numpy()  # nulls become NaN
        del column, converted
    feature_names = [names[i] for i in feature_indices]
    return ParsedColumns(X, y, feature_names, findings, tuple(non_numeric), missing_target_rows)


def _csv_schema(n_columns: int, target_index: int | None, all_text: bool) -> dict[str, Any]:
    import polars as pl

    return {f"c{i}": pl.String if all_text or i == target_index else pl.Float64 for i in range(n_columns)}


def read_csv_columns(path: Path, delimiter: str, target: str | None, origin: str) -> tuple[list[str], ParsedColumns]:
    """Parse a CSV: features straight to float64 when every cell is a number; otherwise read as text once more
    so every non-numeric cell can be reported (file line and value), not just the first."""
    import polars as pl

    names = read_csv_header(path, delimiter, origin)
    target_index = names.index(target) if target in names else None

    def read(all_text: bool) -> Any:
        return pl.read_csv(
            path,
            has_header=False,
            skip_rows=1,
            separator=delimiter,
            schema=_csv_schema(len(names), target_index, all_text),
            null_values=list(NULL_MARKERS),
            raise_if_empty=False,
        )

    try:
        try:
            frame = read(all_text=False)
        except pl.exceptions.ComputeError as exc:
            if "could not parse" not in str(exc):
                raise
            frame = read(all_text=True)
    except pl.exceptions.ComputeError as exc:
        if "more fields" in str(exc):
            raise DataLoadError(f"{origin}: malformed CSV: {_find_ragged_line(path, delimiter, len(names))}") from None
        raise DataLoadError(f"{origin}: not a readable CSV file ({_polars_error_summary(exc)})") from None
    except pl.exceptions.PolarsError as exc:
        raise DataLoadError(f"{origin}: not a readable CSV file ({_polars_error_summary(exc)})") from None
    parsed = frame_to_columns(drop_trailing_blank_rows(frame), names, target_index, origin, csv_lines=True)
    return names, parsed


def drop_trailing_blank_rows(frame: Any) -> Any:
    """Blank lines at the end of a CSV (an editor's habit) are not rows; blank lines inside stay, so that line
    numbers in messages keep matching the file, and are reported as missing values."""
    import polars as pl

    if frame.height == 0 or frame.width == 0:
        return frame
    blank = frame.select(pl.all_horizontal(pl.all().is_null())).to_series()
    if not blank[-1]:
        return frame
    filled = np.flatnonzero(~blank.to_numpy())
    return frame.head(int(filled[-1]) + 1 if filled.size else 0)


def read_parquet_columns(path: Path, target: str | None, origin: str) -> tuple[list[str], ParsedColumns]:
    import polars as pl

    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataLoadError(
            f"{origin}: not a readable Parquet file (truncated or corrupt?): {_polars_error_summary(exc)}"
        ) from None
    names = list(frame.columns)
    target_index = names.index(target) if target in names else None
    return names, frame_to_columns(frame, names, target_index, origin, csv_lines=False)


def read_npz_arrays(path: Path, origin: str) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """X (2-D), y (optional) and feature names (optional array `feature_names`) from an .npz file."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            if "X" not in keys:
                raise DataLoadError(f"{origin}: .npz file has no array 'X' (arrays: {', '.join(sorted(keys))})")
            X = archive["X"]
            y = archive["y"] if "y" in keys else None
            names = [str(n) for n in archive["feature_names"]] if "feature_names" in keys else []
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise DataLoadError(f"{origin}: not a readable .npz file (truncated or corrupt?): {exc}") from None
    if X.ndim != 2:
        raise DataLoadError(f"{origin}: array 'X' must be 2-D (rows x features), got shape {X.shape}")
    if not names:
        names = [f"x{i}" for i in range(X.shape[1])]
    if len(names) != X.shape[1]:
        raise DataLoadError(f"{origin}: {len(names)} feature_names for {X.shape[1]} columns of 'X'")
    return X, y, names


def read_file(copy: LocalCopy, spec: SourceSpec, target: str | None, origin: str) -> Dataset:
    """Parse a local file into a Dataset; `target` None means the column named 'target' if there is one."""
    if spec.format == "npz":
        X, y, names = read_npz_arrays(copy.path, origin)
        findings: list[Finding] = []
        non_numeric: tuple[str, ...] = ()
        if not np.issubdtype(X.dtype, np.number) and X.dtype != np.bool_:
            findings.append(
                Finding(
                    "error",
                    "non-numeric values",
                    names,
                    int(X.size),
                    f"{origin}: array 'X' has dtype {X.dtype}; every feature must be a number",
                )
            )
            non_numeric = tuple(names)
            X = np.full(X.shape, np.nan)
        return Dataset(
            X=np.asarray(X, dtype=np.float64),
            y=None if y is None else _numeric_or_labels(y),
            feature_names=names,
            target_name=target or "y",
            source=origin,
            fingerprint=copy.sha256,
            problem=None,
            info={"format": "npz", "bytes": copy.n_bytes, "columns": names},
            findings=findings,
            non_numeric_columns=non_numeric,
        )
    wanted = target or "target"
    if spec.format == "csv":
        names, parsed = read_csv_columns(copy.path, spec.delimiter, wanted, origin)
    else:
        names, parsed = read_parquet_columns(copy.path, wanted, origin)
    findings = list(parsed.findings)
    if parsed.missing_target_rows is not None:
        rows = parsed.missing_target_rows
        findings.append(
            Finding(
                "error",
                "missing target values",
                [wanted],
                int(rows.size),
                f"{origin}: e.g. {example_rows(rows, csv_lines=spec.format == 'csv')}",
            )
        )
    return Dataset(
        X=parsed.X,
        y=parsed.y,
        feature_names=parsed.feature_names,
        target_name=wanted if wanted in names else (target or None),
        source=origin,
        fingerprint=copy.sha256,
        problem=None,
        info={"format": spec.format, "bytes": copy.n_bytes, "columns": names},
        findings=findings,
        non_numeric_columns=parsed.non_numeric_columns,
        csv_lines=spec.format == "csv",
    )


def load_dataset(config: DataConfig) -> Dataset:
    """Load the data set the config names: a built-in set, a local file or a URL."""
    spec = resolve_source(config.source, config.format, config.delimiter)
    if spec.kind == "builtin":
        return load_builtin(config.source)
    with local_copy(spec, config.timeout_seconds) as copy:
        return read_file(copy, spec, config.target, origin=config.source)


RETRY_JITTER_FACTOR = 0.5  # the load task's retry_jitter_factor: a delay may grow by up to half


def load_time_bound(config: DataConfig) -> float:
    """The longest a source that fails transiently forever (503, timeouts) can hold a run, in seconds: every
    attempt up to data.timeout_seconds plus every backoff delay at its largest jitter. Defaults: 5 x 30 s +
    (1 + 2 + 4 + 8) x 1.5 s = 172.5 s. (A read that trickles bytes is bounded per read, not in total.)"""
    delays = retry_delays(config.retries, config.retry_delay_seconds)
    return (config.retries + 1) * config.timeout_seconds + sum(delays) * (1 + RETRY_JITTER_FACTOR)


def retry_delays(retries: int, first_delay: float) -> list[float]:
    """Exponential backoff: first_delay, 2x, 4x, ... capped at a minute (Prefect adds the jitter)."""
    return [min(first_delay * 2**attempt, _MAX_RETRY_DELAY_SECONDS) for attempt in range(retries)]
