"""The data contract: what the training data looked like, saved with the model (`contract.json`) and enforced on
the data a model is later asked to score.

It records feature names and order, dtypes, min/max/mean/std per feature, the target and its class set, and the
imputation learned on the training split. `read_for_inference` / `iter_inference_chunks` read a features-only (or
labelled) table, check it against a contract and return the feature matrix in the contract's column order with every
finding: missing or unexpected columns, non-numeric cells, missing values, new class labels, values outside the
training range (within `range_tolerance` of the range: a warning; beyond it: an error).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from mlops_pipeline.config import ProblemKind
from mlops_pipeline.data import (
    NULL_MARKERS,
    DataLoadError,
    LocalCopy,
    SourceSpec,
    drop_trailing_blank_rows,
    frame_to_columns,
    load_builtin,
    local_copy,
    read_csv_header,
    read_npz_arrays,
    resolve_source,
)
from mlops_pipeline.findings import DataValidationError, Finding, example_rows, raise_on_errors
from mlops_pipeline.plain import python_value

CONTRACT_FILE = "contract.json"
CONTRACT_SCHEMA_VERSION = 1
DEFAULT_CHUNK_ROWS = 100_000
TargetKind = Literal["integer", "float", "string"]


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    dtype: str  # the dtype the model sees: always float64 after reading
    integer: bool  # every training value was a whole number
    min: float
    max: float
    mean: float
    std: float
    missing: int  # missing (NaN/inf) values in the training split before imputation
    # [low, high] every value of this feature can take, declared by the data set (digits' pixels: [0, 16]): when set,
    # inference checks values against it instead of the range the training split happened to cover
    domain: list[float] | None = None


@dataclass(frozen=True)
class DataContract:
    features: list[FeatureSpec]
    problem: ProblemKind
    target: str | None
    target_kind: TargetKind
    classes: list[Any] | None
    impute_strategy: str = "none"
    impute_values: list[float] | None = None
    range_tolerance: float = 0.1
    max_abs_value: float = 1e12
    source: str = ""
    fingerprint: str = ""
    n_rows: int = 0
    schema_version: int = CONTRACT_SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n").encode()

    @classmethod
    def from_dict(cls, raw: dict[str, Any], origin: str = "<contract>") -> DataContract:
        try:
            if raw.get("schema_version") != CONTRACT_SCHEMA_VERSION:
                raise ValueError(f"schema_version {raw.get('schema_version')!r}, expected {CONTRACT_SCHEMA_VERSION}")
            features = [FeatureSpec(**spec) for spec in raw["features"]]
            return cls(**{**raw, "features": features})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{origin}: not a valid data contract ({exc})") from None

    @classmethod
    def from_json(cls, data: bytes | str, origin: str = "<contract>") -> DataContract:
        try:
            raw = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{origin}: not valid JSON ({exc})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{origin}: a data contract is a JSON object")
        return cls.from_dict(raw, origin)

    @classmethod
    def load(cls, path: str | Path) -> DataContract:
        path = Path(path)
        return cls.from_json(path.read_bytes(), origin=str(path))


def target_kind_of(y: np.ndarray) -> TargetKind:
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        return "integer"
    if np.issubdtype(y.dtype, np.floating):
        return "float"
    return "string"


def learn_contract(
    X_train: np.ndarray,
    y: np.ndarray,
    feature_names: Sequence[str],
    *,
    problem: ProblemKind,
    target: str | None,
    impute_strategy: str = "none",
    impute_values: Sequence[float] | None = None,
    range_tolerance: float = 0.1,
    max_abs_value: float = 1e12,
    source: str = "",
    fingerprint: str = "",
    missing_counts: Sequence[int] | None = None,
    feature_domain: Sequence[float] | None = None,
) -> DataContract:
    """The contract of a training split (statistics ignore missing values; the class set comes from all of y).

    `feature_domain` ([low, high], declared by the data set) is recorded on every feature as its domain."""
    features = []
    for j, name in enumerate(feature_names):
        column = X_train[:, j]
        finite = column[np.isfinite(column)]
        if finite.size == 0:  # only possible with imputation of an all-missing column, which validation rejects
            finite = np.zeros(1)
        features.append(
            FeatureSpec(
                name=str(name),
                dtype="float64",
                integer=bool(np.array_equal(finite, np.round(finite))),
                min=float(finite.min()),
                max=float(finite.max()),
                mean=float(finite.mean()),
                std=float(finite.std()),
                missing=int(missing_counts[j]) if missing_counts is not None else int(column.size - finite.size),
                domain=None if feature_domain is None else [float(v) for v in feature_domain],
            )
        )
    classes = None
    if problem == "classification":
        classes = [python_value(c) for c in np.unique(y)]
    return DataContract(
        features=features,
        problem=problem,
        target=target,
        target_kind=target_kind_of(y),
        classes=classes,
        impute_strategy=impute_strategy,
        impute_values=[float(v) for v in impute_values] if impute_values is not None else None,
        range_tolerance=range_tolerance,
        max_abs_value=max_abs_value,
        source=source,
        fingerprint=fingerprint,
        n_rows=int(X_train.shape[0]),
    )


# ---- checks against a contract ---------------------------------------------------------------------------------
def check_columns(columns: Sequence[str], contract: DataContract, origin: str) -> list[Finding]:
    """Missing features (error), duplicated names (error), unexpected columns and a different order (warnings)."""
    findings: list[Finding] = []
    present = set(columns)
    duplicated = sorted({c for c in columns if list(columns).count(c) > 1})
    if duplicated:
        findings.append(
            Finding(
                "error",
                "duplicated column names",
                duplicated,
                len(duplicated),
                f"{origin}: a column name may appear once; header: {_preview(columns)}",
            )
        )
    missing = [name for name in contract.feature_names if name not in present]
    if missing:
        findings.append(
            Finding(
                "error",
                "missing columns",
                missing,
                len(missing),
                f"{origin}: the model needs {len(contract.features)} feature columns; "
                f"{len(columns)} columns found: {_preview(columns)}",
            )
        )
    known = {*contract.feature_names, contract.target}
    unexpected = [c for c in columns if c not in known]
    if unexpected:
        findings.append(
            Finding(
                "warning", "unexpected columns", unexpected, len(unexpected), f"{origin}: not in the contract; ignored"
            )
        )
    order = [c for c in columns if c in set(contract.feature_names)]
    if not missing and order != contract.feature_names:
        findings.append(
            Finding(
                "warning",
                "column order",
                [],
                len(order),
                f"{origin}: feature columns are in a different order than in training; reordered",
            )
        )
    return findings


def _preview(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _allowed_range(spec: FeatureSpec) -> tuple[float, float]:
    return (spec.domain[0], spec.domain[1]) if spec.domain else (spec.min, spec.max)


def check_ranges(
    X: np.ndarray,
    contract: DataContract,
    origin: str,
    *,
    row_offset: int = 0,
    csv_lines: bool = False,
    beyond_tolerance: Literal["error", "warning"] = "error",
) -> list[Finding]:
    """Values outside the training min/max (or the feature's declared domain, when it has one): within
    `range_tolerance` x range a warning, beyond it `beyond_tolerance`."""
    findings: list[Finding] = []
    mild: list[tuple[str, np.ndarray, np.ndarray]] = []
    severe: list[tuple[str, np.ndarray, np.ndarray]] = []
    # one pass over the chunk: only columns whose smallest or largest value (NaN ignored, as by the comparisons
    # below) leaves the training range are looked at value by value
    lows = np.fmin.reduce(X, axis=0) if X.shape[0] else np.full(X.shape[1], np.nan)
    highs = np.fmax.reduce(X, axis=0) if X.shape[0] else np.full(X.shape[1], np.nan)
    for j, spec in enumerate(contract.features):
        low, high = _allowed_range(spec)
        if not (lows[j] < low or highs[j] > high):
            continue
        column = X[:, j]
        span = high - low if high > low else max(abs(high), 1.0)  # a constant feature
        slack = contract.range_tolerance * span
        with np.errstate(invalid="ignore"):
            outside = (column < low) | (column > high)
            beyond = (column < low - slack) | (column > high + slack)
        if beyond.any():
            rows = np.flatnonzero(beyond)
            severe.append((spec.name, rows, column[rows[:5]]))
        only_mild = outside & ~beyond
        if only_mild.any():
            rows = np.flatnonzero(only_mild)
            mild.append((spec.name, rows, column[rows[:5]]))
    for severity, rule, hits in ((beyond_tolerance, "out of range", severe), ("warning", "mildly out of range", mild)):
        for name, rows, values in hits:
            spec = contract.features[contract.feature_names.index(name)]
            low, high = _allowed_range(spec)
            examples = example_rows(rows, row_offset=row_offset, csv_lines=csv_lines, values=[float(v) for v in values])
            findings.append(
                Finding(
                    severity,
                    rule,
                    [name],
                    int(rows.size),
                    f"{origin}: training range [{spec.min:g}, {spec.max:g}]"
                    f"{f', domain [{low:g}, {high:g}]' if spec.domain else ''}, tolerance "
                    f"{contract.range_tolerance:g} x range; e.g. {examples}",
                )
            )
    return findings


def apply_missing_policy(
    X: np.ndarray,
    contract: DataContract,
    origin: str,
    *,
    row_offset: int = 0,
    csv_lines: bool = False,
    skip: Sequence[str] = (),
) -> list[Finding]:
    """NaN/inf cells: filled in place with the training split's values when the contract imputes, else errors."""
    findings: list[Finding] = []
    imputing = contract.impute_strategy != "none" and contract.impute_values is not None
    fill = contract.impute_values or []
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(X.sum(axis=0))  # no NaN/inf in the column (an overflow only means a closer look)
    for j, name in enumerate(contract.feature_names):
        if name in skip or finite[j]:
            continue
        column = X[:, j]
        bad = ~np.isfinite(column)
        if not bad.any():
            continue
        rows = np.flatnonzero(bad)
        examples = example_rows(rows, row_offset=row_offset, csv_lines=csv_lines)
        if imputing:
            findings.append(
                Finding(
                    "warning",
                    "missing values imputed",
                    [name],
                    int(rows.size),
                    f"{origin}: filled with {contract.impute_strategy} {fill[j]:g} from training; e.g. {examples}",
                )
            )
            column[bad] = fill[j]
        else:
            findings.append(
                Finding(
                    "error",
                    "missing or infinite values",
                    [name],
                    int(rows.size),
                    f"{origin}: the model was trained without imputation; e.g. {examples}",
                )
            )
    return findings


def check_labels(
    y: np.ndarray,
    contract: DataContract,
    origin: str,
    *,
    row_offset: int = 0,
    csv_lines: bool = False,
    unlabelled_rows: np.ndarray | None = None,
) -> list[Finding]:
    """A labelled file: class labels never seen in training (classification) or a non-numeric target.

    `unlabelled_rows` (empty target cells) are skipped.
    """
    if unlabelled_rows is not None and unlabelled_rows.size:
        keep = np.ones(y.shape[0], dtype=bool)
        keep[unlabelled_rows] = False
        if target_kind_of(y) == "string":
            y = np.where(keep, y, str(contract.classes[0]) if contract.classes else "")
        elif contract.problem == "classification" and contract.classes:
            y = np.where(keep, y, contract.classes[0])
    target = [contract.target or "target"]
    if contract.problem == "regression":
        if target_kind_of(y) == "string":
            return [
                Finding(
                    "error",
                    "non-numeric target",
                    target,
                    int(y.size),
                    f"{origin}: a regression target must be numeric; e.g. {y[:3].tolist()}",
                )
            ]
        return []
    classes = np.asarray(contract.classes if contract.classes is not None else [])
    if contract.target_kind == "string" or target_kind_of(y) == "string":
        known, labels = classes.astype(str), y.astype(str)
    else:
        known, labels = classes.astype(np.float64), y.astype(np.float64)
    new = ~np.isin(labels, known)
    if not new.any():
        return []
    rows = np.flatnonzero(new)
    unseen = sorted({python_value(v) for v in y[new].tolist()}, key=str)
    return [
        Finding(
            "error",
            "new class labels",
            target,
            int(rows.size),
            f"{origin}: labels {unseen[:5]} not among the training classes {contract.classes}; e.g. "
            f"{example_rows(rows, row_offset=row_offset, csv_lines=csv_lines)}",
        )
    ]


# ---- reading for inference -------------------------------------------------------------------------------------
class InferenceBatch(NamedTuple):
    X: np.ndarray  # float64, columns in the contract's order
    y: np.ndarray | None  # labels/targets when the file has the target column
    findings: list[Finding]


class InferenceChunk(NamedTuple):
    row_offset: int  # rows of the file before this chunk
    X: np.ndarray
    y: np.ndarray | None
    findings: list[Finding]


def _selected_frames(
    copy: LocalCopy,
    spec: SourceSpec,
    columns: list[str],
    wanted: list[str],
    chunk_rows: int | None,
    origin: str,
    n_features: int,
) -> Iterator[Any]:
    """Polars frames holding only the `wanted` columns (features first, then the target), `chunk_rows` rows each
    (None: one frame).

    CSV files are cut into blocks of whole lines and each block parsed on its own (`_csv_block_frame`), so memory
    holds one block whatever the file's size (polars' scan maps the whole file, and peak RSS grew with it). From a
    block with a quote character (a quoted field may hold a newline, so lines are not rows), or one polars cannot
    parse on its own (a first line that is blank or short), the rest is read by polars' streaming scan all as text,
    as before, so such files give the same rows and errors.
    """
    import polars as pl

    indices = [columns.index(name) for name in wanted]
    try:
        if spec.format == "csv":
            rows_done = 0
            with copy.path.open("rb") as handle:
                handle.readline()  # the header, already read and checked
                for block in _line_blocks(handle, chunk_rows):
                    frame = None if b'"' in block else _csv_block_frame(block, len(columns), indices, n_features, spec)
                    if frame is None:
                        break
                    rows_done += frame.height
                    yield frame
                else:
                    return
            # the rest as before these blocks: one streaming scan of the file, all as text, from the same row
            schema = {f"c{i}": pl.String for i in range(len(columns))}
            lazy = (
                pl.scan_csv(
                    copy.path,
                    has_header=False,
                    skip_rows=1,
                    separator=spec.delimiter,
                    schema=schema,
                    raise_if_empty=False,
                )
                .select([f"c{i}" for i in indices])
                .slice(rows_done)
            )
        else:
            lazy = pl.scan_parquet(copy.path).select(wanted)
        if chunk_rows is None:
            yield lazy.collect()
        else:
            yield from lazy.collect_batches(chunk_size=chunk_rows)
    except pl.exceptions.PolarsError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "CSV" if spec.format == "csv" else "Parquet"
        raise DataLoadError(f"{origin}: not a readable {kind} file ({message})") from None


def _without_trailing_blank_rows(frames: Iterator[Any]) -> Iterator[tuple[Any, int]]:
    """(frame, its height as read) with the file's trailing blank lines dropped, wherever the chunks split them.

    Blank lines at a chunk's end may be inside the file (a later chunk has data), so each frame with data is held
    back until the next one with data arrives: only the file's last rows with data end the table.
    """
    held: Any = None
    blank_frames: list[Any] = []
    for frame in frames:
        if frame.height and drop_trailing_blank_rows(frame).height == 0:  # every row blank
            blank_frames.append(frame)
            continue
        if held is not None:
            yield held, held.height
        for blank in blank_frames:  # blank lines inside the file: rows of missing values
            yield blank, blank.height
        held, blank_frames = frame, []
    if held is not None:
        yield drop_trailing_blank_rows(held), held.height
    elif blank_frames:  # nothing but blank lines after the header: no rows
        yield drop_trailing_blank_rows(blank_frames[0]), blank_frames[0].height


def _line_blocks(handle: Any, lines: int | None) -> Iterator[bytes]:
    """The rest of a binary file in blocks of `lines` whole lines (the last block may hold fewer; None: one block)."""
    if lines is None:
        rest = handle.read()
        if rest:
            yield rest
        return
    pending = bytearray()
    read_size = 1 << 20
    while True:
        newlines = pending.count(b"\n")
        while newlines < lines:
            more = handle.read(read_size)
            if not more:
                break
            newlines += more.count(b"\n")
            pending += more
        if newlines < lines:  # the end of the file
            if pending:
                yield bytes(pending)
            return
        cut = _after_nth_newline(pending, lines, newlines)
        with memoryview(pending) as view:  # one copy of the block (a bytearray slice and bytes() were two)
            block = bytes(view[:cut])
        del pending[:cut]  # cheap: a bytearray drops its head by moving its start
        yield block
        read_size = max(cut - len(pending), 1 << 16)  # about one more block


def _after_nth_newline(buffer: bytearray, n: int, newlines: int) -> int:
    """The offset just after the `n`-th newline of `buffer`, which holds `newlines` >= n of them.

    The reads are sized to end near the cut, so few newlines follow it: searching back from the end touches a
    few bytes instead of making an array of every newline's position in the block.
    """
    after = newlines - n  # newlines past the cut
    if after < 1024:
        cut = len(buffer)
        for _ in range(after + 1):
            cut = buffer.rfind(b"\n", 0, cut)
        return cut + 1
    if n < 1024:
        cut = -1
        for _ in range(n):
            cut = buffer.find(b"\n", cut + 1)
        return cut + 1
    return int(np.flatnonzero(np.frombuffer(buffer, dtype=np.uint8) == 10)[n - 1]) + 1


def _csv_block_frame(block: bytes, n_columns: int, indices: list[int], n_features: int, spec: SourceSpec) -> Any:
    """One block of CSV lines as a frame of the `indices` columns; the target (and any other column) stays text.

    The first `n_features` are parsed as numbers when every cell is one: as the integers or floats polars infers
    (whole numbers parse fastest), else as float64 with the missing markers as nulls; failing both the block is
    read all as text, exactly as before, and `frame_to_columns` reports every cell that is not a number. None when
    polars cannot read the block on its own even as text.
    """
    import polars as pl

    delimiter = spec.delimiter

    selected = [f"c{i}" for i in indices]

    def read(schema: dict[str, Any], null_values: list[str] | None) -> Any:
        return pl.read_csv(
            block,
            has_header=False,
            separator=delimiter,
            schema=schema,
            null_values=null_values,
            raise_if_empty=False,
        ).select(selected)

    features = set(indices[:n_features])
    text = {f"c{i}": pl.String for i in range(n_columns) if i not in features}  # the target, unexpected columns
    numeric = {f"c{i}": pl.Float64 if i in features else pl.String for i in range(n_columns)}  # in file order
    try:  # whole numbers (most often) are parsed fastest as the integers polars infers; cast to float64 later
        frame = pl.read_csv(
            block,
            has_header=False,
            new_columns=[f"c{i}" for i in range(n_columns)],
            separator=delimiter,
            schema_overrides=text,
            raise_if_empty=False,
        )
        if frame.width == n_columns and all(frame[f"c{i}"].dtype in (pl.Int64, pl.Float64) for i in features):
            return frame.select(selected)
    except pl.exceptions.PolarsError:
        pass
    try:
        return read(numeric, list(NULL_MARKERS))
    except pl.exceptions.PolarsError:
        pass
    try:
        return read({f"c{i}": pl.String for i in range(n_columns)}, None)
    except pl.exceptions.PolarsError:
        return None


def _file_columns(copy: LocalCopy, spec: SourceSpec, origin: str) -> list[str]:
    if spec.format == "csv":
        return read_csv_header(copy.path, spec.delimiter, origin)
    import polars as pl

    try:
        return list(pl.read_parquet_schema(copy.path))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataLoadError(f"{origin}: not a readable Parquet file (truncated or corrupt?): {exc}") from None


def _check_chunk(
    X: np.ndarray,
    y: np.ndarray | None,
    contract: DataContract,
    origin: str,
    *,
    row_offset: int,
    csv_lines: bool,
    load_findings: list[Finding],
    non_numeric: Sequence[str],
    unlabelled_rows: np.ndarray | None = None,
    out_of_range: Literal["error", "warning"] = "error",
) -> list[Finding]:
    findings = list(load_findings)
    findings += apply_missing_policy(X, contract, origin, row_offset=row_offset, csv_lines=csv_lines, skip=non_numeric)
    findings += check_ranges(
        X, contract, origin, row_offset=row_offset, csv_lines=csv_lines, beyond_tolerance=out_of_range
    )
    if y is not None:
        findings += check_labels(
            y, contract, origin, row_offset=row_offset, csv_lines=csv_lines, unlabelled_rows=unlabelled_rows
        )
    return findings


def _array_chunks(
    X_all: np.ndarray,
    y_all: np.ndarray | None,
    columns: Sequence[str],
    contract: DataContract,
    origin: str,
    *,
    chunk_rows: int | None,
    strict: bool,
    out_of_range: Literal["error", "warning"],
) -> Iterator[InferenceChunk]:
    """In-memory arrays (an npz file, a built-in set) checked against the contract chunk by chunk, like a table."""
    column_findings = check_columns(columns, contract, origin)
    raise_on_errors(column_findings, origin)
    order = [list(columns).index(name) for name in contract.feature_names]
    step = chunk_rows or max(X_all.shape[0], 1)
    for start in range(0, max(X_all.shape[0], 1), step):
        X = np.asarray(X_all[start : start + step][:, order], dtype=np.float64)
        y = y_all[start : start + step] if y_all is not None else None
        findings = (column_findings if start == 0 else []) + _check_chunk(
            X,
            y,
            contract,
            origin,
            row_offset=start,
            csv_lines=False,
            load_findings=[],
            non_numeric=(),
            out_of_range=out_of_range,
        )
        if strict:
            raise_on_errors(findings, origin)
        yield InferenceChunk(start, X, y, findings)


def iter_inference_chunks(
    uri: str,
    contract: DataContract,
    *,
    chunk_rows: int | None = DEFAULT_CHUNK_ROWS,
    delimiter: str = ",",
    fmt: str = "auto",
    timeout: float = 30.0,
    strict: bool = True,
    out_of_range: Literal["error", "warning"] = "error",
) -> Iterator[InferenceChunk]:
    """Read a table for scoring in chunks of `chunk_rows` rows (None: one chunk), each checked against `contract`.

    The header is checked before any row is read (missing columns always raise DataValidationError). With `strict`,
    a chunk with an error raises DataValidationError naming the file lines/rows; warnings ride along in `findings`.
    `out_of_range="warning"` reports values beyond the training range (past the tolerance) without rejecting them,
    for callers that measure drift and would rather score and flag such rows than stop.
    Remote files are downloaded once (http(s) and fsspec URLs) and deleted when the iterator finishes.
    """
    spec = resolve_source(uri, fmt, delimiter)
    if spec.kind == "builtin":
        dataset = load_builtin(spec.location)
        yield from _array_chunks(
            dataset.X,
            dataset.y,
            dataset.feature_names,
            contract,
            uri,
            chunk_rows=chunk_rows,
            strict=strict,
            out_of_range=out_of_range,
        )
        return
    csv_lines = spec.format == "csv"
    with local_copy(spec, timeout, hash_local=False) as copy:
        if spec.format == "npz":
            X_all, y_all, columns = read_npz_arrays(copy.path, uri)
            yield from _array_chunks(
                X_all, y_all, columns, contract, uri, chunk_rows=chunk_rows, strict=strict, out_of_range=out_of_range
            )
            return
        columns = _file_columns(copy, spec, uri)
        column_findings = check_columns(columns, contract, uri)
        raise_on_errors(column_findings, uri)
        has_target = contract.target is not None and contract.target in columns
        wanted = contract.feature_names + ([contract.target] if has_target and contract.target is not None else [])
        row_offset = 0
        target_index = len(contract.features) if has_target else None
        frames = _selected_frames(copy, spec, columns, wanted, chunk_rows, uri, len(contract.features))
        for frame, height in _without_trailing_blank_rows(frames) if csv_lines else ((f, f.height) for f in frames):
            parsed = frame_to_columns(frame, wanted, target_index, uri, csv_lines=csv_lines, row_offset=row_offset)
            findings = list(column_findings) if row_offset == 0 else []
            if parsed.missing_target_rows is not None:
                rows = parsed.missing_target_rows
                findings.append(
                    Finding(
                        "warning",
                        "missing target values",
                        [contract.target or "target"],
                        int(rows.size),
                        f"{uri}: unlabelled rows; e.g. "
                        f"{example_rows(rows, row_offset=row_offset, csv_lines=csv_lines)}",
                    )
                )
            findings += _check_chunk(
                parsed.X,
                parsed.y,
                contract,
                uri,
                row_offset=row_offset,
                csv_lines=csv_lines,
                load_findings=parsed.findings,
                non_numeric=parsed.non_numeric_columns,
                unlabelled_rows=parsed.missing_target_rows,
                out_of_range=out_of_range,
            )
            if strict:
                raise_on_errors(findings, uri)
            yield InferenceChunk(row_offset, parsed.X, parsed.y, findings)
            row_offset += height


def read_for_inference(
    uri: str,
    contract: DataContract,
    *,
    delimiter: str = ",",
    fmt: str = "auto",
    timeout: float = 30.0,
    strict: bool = True,
) -> InferenceBatch:
    """Read a whole features-only (or labelled) table for scoring: (X in contract order, y or None, findings).

    With `strict` (the default) any error raises DataValidationError listing every violation; for files too big
    for memory use `iter_inference_chunks`.
    """
    chunks = list(
        iter_inference_chunks(
            uri, contract, chunk_rows=None, delimiter=delimiter, fmt=fmt, timeout=timeout, strict=strict
        )
    )
    if len(chunks) == 1:
        return InferenceBatch(chunks[0].X, chunks[0].y, chunks[0].findings)
    X = np.concatenate([c.X for c in chunks]) if chunks else np.empty((0, len(contract.features)))
    ys = [c.y for c in chunks]
    y = np.concatenate([v for v in ys if v is not None]) if ys and all(v is not None for v in ys) else None
    return InferenceBatch(X, y, [f for c in chunks for f in c.findings])


__all__ = [
    "CONTRACT_FILE",
    "DataContract",
    "DataValidationError",
    "FeatureSpec",
    "InferenceBatch",
    "InferenceChunk",
    "check_columns",
    "check_labels",
    "check_ranges",
    "iter_inference_chunks",
    "learn_contract",
    "read_for_inference",
]
