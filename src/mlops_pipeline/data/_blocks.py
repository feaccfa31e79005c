"""The block reader of batch inference: a table's wanted columns as polars frames of `chunk_rows` rows, so memory
holds about one chunk whatever the file's size.

A CSV is cut into blocks of whole lines (cuts found by searching back from the end of reads sized to end near the
cut) and each block is parsed on its own: features as the numbers polars infers first (whole numbers parse
fastest), then as float64 with the missing markers, then all as text. A block with a quote character or one polars
cannot parse alone hands the rest of the file to polars' streaming scan, all as text. Parquet is scanned in batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mlops_pipeline.data._columns import NULL_MARKERS
from mlops_pipeline.data._errors import DataLoadError
from mlops_pipeline.data._formats import drop_trailing_blank_rows
from mlops_pipeline.data._sources import LocalCopy, SourceSpec


def selected_frames(
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


def without_trailing_blank_rows(frames: Iterator[Any]) -> Iterator[tuple[Any, int]]:
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
    """The rest of a binary file in blocks of `lines` whole lines (the last block may hold fewer; None: one block).

    The reads are kept as they come (no growing buffer to copy into) and joined once per block: the first block is
    read in small pieces, each later one in one read sized to end just before its cut (from the previous block's
    bytes per line) and small top-up reads, so the cut is found near the end of the last piece."""
    if lines is None:
        rest = handle.read()
        if rest:
            yield rest
        return
    top_up = 1 << 18
    pieces: list[bytes] = []
    newlines = before_last = 0  # newlines in `pieces`; in the pieces before the last one
    read_size = top_up
    while True:
        while newlines < lines:
            more = handle.read(read_size)
            read_size = top_up
            if not more:
                break
            pieces.append(more)
            before_last = newlines
            newlines += more.count(b"\n")
        if newlines < lines:  # the end of the file
            if pieces:
                yield b"".join(pieces)
            return
        last = pieces[-1]
        cut = _after_nth_newline(last, lines - before_last, newlines - before_last)
        with memoryview(last) as view:
            block = b"".join([*pieces[:-1], view[:cut]])  # the one copy of the block
            rest = bytes(view[cut:])
        yield block
        pieces = [rest] if rest else []
        newlines, before_last = newlines - lines, 0
        # about 97% of the next block's bytes in one read, then top-ups
        read_size = max(int(len(block) * 0.97) - len(rest), top_up)


def _after_nth_newline(buffer: bytes | bytearray, n: int, newlines: int) -> int:
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
