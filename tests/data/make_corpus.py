"""Writes the bad-input corpus next to this file (the files are committed; rerun after changing a case).

Every file is a small two-class table with features a, b, c and target `label`, broken in exactly one way:

    python tests/data/make_corpus.py
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROWS = 40


def good_frame() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    label = np.arange(ROWS) % 2
    return pl.DataFrame(
        {
            "a": np.round(rng.normal(size=ROWS) + label * 2, 3),
            "b": np.round(rng.normal(size=ROWS) - label, 3),
            "c": np.round(rng.uniform(0, 10, size=ROWS), 3),
            "label": label,
        }
    )


def csv_text(frame: pl.DataFrame) -> str:
    return frame.write_csv()


def replace_cell(text: str, line: int, column: int, value: str) -> str:
    """Line numbers as an editor shows them (1 = header)."""
    lines = text.splitlines()
    cells = lines[line - 1].split(",")
    cells[column] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def main() -> None:
    good = csv_text(good_frame())
    header = good.splitlines()[0] + "\n"
    cases = {
        "empty.csv": "",
        "header_only.csv": header,
        "text_in_numeric.csv": replace_cell(replace_cell(good, 5, 1, "abc"), 9, 1, "n/a?"),
        "nan.csv": replace_cell(replace_cell(good, 4, 0, "NaN"), 7, 2, ""),
        "inf.csv": replace_cell(good, 6, 2, "inf"),
        "missing_target.csv": csv_text(good_frame().drop("label")),
        "single_class.csv": csv_text(good_frame().with_columns(pl.lit(1).alias("label"))),
        "wrong_delimiter.csv": good.replace(",", ";"),
        "duplicated_header.csv": good.replace("a,b,c,label", "a,b,a,label", 1),
        "huge_value.csv": replace_cell(good, 3, 0, "1e300"),
    }
    for name, text in cases.items():
        (HERE / name).write_text(text)
    buffer = io.BytesIO()
    good_frame().write_parquet(buffer)
    data = buffer.getvalue()
    (HERE / "truncated.parquet").write_bytes(data[: len(data) // 2])
    (HERE / "good.parquet").write_bytes(data)
    (HERE / "good.csv").write_text(good)


if __name__ == "__main__":
    main()
