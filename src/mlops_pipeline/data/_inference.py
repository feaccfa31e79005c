"""Reading for inference: a features-only (or labelled) table in the contract's column order, chunk by chunk,
each chunk checked against the contract (`mlops_pipeline.contract`) with every finding.

Batch scoring reads through `iter_inference_chunks` (memory flat in the file's size); `read_for_inference` reads a
whole table. Built-in sets and `.npz` arrays are checked chunk by chunk like a table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from mlops_pipeline.contract import DataContract, check_chunk, check_columns
from mlops_pipeline.data._blocks import selected_frames, without_trailing_blank_rows
from mlops_pipeline.data._builtin import load_builtin
from mlops_pipeline.data._columns import CELL_RULES, ParsedColumns, frame_to_columns, target_values
from mlops_pipeline.data._formats import file_columns, read_npz_arrays
from mlops_pipeline.data._sources import local_copy, resolve_source
from mlops_pipeline.features._encode import UnknownPolicy, encode_frame
from mlops_pipeline.findings import Finding, raise_on_errors

DEFAULT_CHUNK_ROWS = 100_000


class InferenceBatch(NamedTuple):
    X: np.ndarray  # float64, columns in the contract's order
    y: np.ndarray | None  # labels/targets when the file has the target column
    findings: list[Finding]


class InferenceChunk(NamedTuple):
    row_offset: int  # rows of the file before this chunk
    X: np.ndarray
    y: np.ndarray | None
    findings: list[Finding]


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
        findings = (column_findings if start == 0 else []) + check_chunk(
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
    unknown_categories: UnknownPolicy = "warning",
) -> Iterator[InferenceChunk]:
    """Read a table for scoring in chunks of `chunk_rows` rows (None: one chunk), each checked against `contract`.

    Columns are found by name (any order; extra columns are listed once, in the first chunk's findings, and
    ignored). A contract with text, boolean or date features has each chunk encoded by its column specs
    (`features.encode_frame`): a category the model was not trained on is scored as unknown with a warning, or is
    an error under `unknown_categories="error"`; an all-numeric contract reads exactly as before.

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
        columns = file_columns(copy, spec, uri)
        column_findings = check_columns(columns, contract, uri)
        raise_on_errors(column_findings, uri)
        has_target = contract.target is not None and contract.target in columns
        specs = contract.columns()
        numeric = [s.name for s in specs if s.kind == "numeric"]  # parsed as numbers by the block reader
        wanted = numeric + [s.name for s in specs if s.kind != "numeric"]
        wanted += [contract.target] if has_target and contract.target is not None else []
        row_offset = 0
        target_index = len(contract.features) if has_target else None
        frames = selected_frames(copy, spec, columns, wanted, chunk_rows, uri, len(numeric))
        for frame, height in without_trailing_blank_rows(frames) if csv_lines else ((f, f.height) for f in frames):
            if len(numeric) == len(specs):
                parsed = frame_to_columns(frame, wanted, target_index, uri, csv_lines=csv_lines, row_offset=row_offset)
            else:
                parsed = _encoded_chunk(
                    frame, wanted, contract, uri, csv_lines=csv_lines, row_offset=row_offset, unknown=unknown_categories
                )
            findings = (column_findings if row_offset == 0 else []) + check_chunk(
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


def _encoded_chunk(
    frame: Any,
    wanted: list[str],
    contract: DataContract,
    origin: str,
    *,
    csv_lines: bool,
    row_offset: int,
    unknown: UnknownPolicy,
) -> ParsedColumns:
    """A chunk of a table with text, boolean or date features: its columns (`wanted` order) encoded by the
    contract's specs, the target's values and the rows without one."""
    frame = frame.rename(dict(zip(frame.columns, wanted, strict=True)))
    y = missing_target_rows = None
    if contract.target is not None and contract.target in frame.columns:
        y, missing_target_rows = target_values(frame.drop_in_place(contract.target))
    X, findings = encode_frame(
        frame, contract.columns(), origin=origin, row_offset=row_offset, csv_lines=csv_lines, unknown=unknown
    )
    bad = {c for f in findings if f.severity == "error" and f.rule in CELL_RULES for c in f.columns}
    names = contract.feature_names
    return ParsedColumns(X, y, names, findings, tuple(n for n in names if n in bad), missing_target_rows)


def read_for_inference(
    uri: str,
    contract: DataContract,
    *,
    delimiter: str = ",",
    fmt: str = "auto",
    timeout: float = 30.0,
    strict: bool = True,
    unknown_categories: UnknownPolicy = "warning",
) -> InferenceBatch:
    """Read a whole features-only (or labelled) table for scoring: (X in contract order, y or None, findings).

    With `strict` (the default) any error raises DataValidationError listing every violation; for files too big
    for memory use `iter_inference_chunks`.
    """
    chunks = list(
        iter_inference_chunks(
            uri,
            contract,
            chunk_rows=None,
            delimiter=delimiter,
            fmt=fmt,
            timeout=timeout,
            strict=strict,
            unknown_categories=unknown_categories,
        )
    )
    if len(chunks) == 1:
        return InferenceBatch(chunks[0].X, chunks[0].y, chunks[0].findings)
    X = np.concatenate([c.X for c in chunks]) if chunks else np.empty((0, len(contract.features)))
    ys = [c.y for c in chunks]
    y = np.concatenate([v for v in ys if v is not None]) if ys and all(v is not None for v in ys) else None
    return InferenceBatch(X, y, [f for c in chunks for f in c.findings])
