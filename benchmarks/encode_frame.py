"""Benchmark: typing and encoding a mixed table vs polars only reading it (not a test: it prints figures).

    python benchmarks/encode_frame.py [--rows 1000000]

Writes a CSV of `--rows` rows x (40 numeric, 8 text category, 1 ISO date) columns (seeded), then times, in this
process, best of three:

  read     polars.read_csv of the file (dtypes inferred: the yardstick)
  detect   features.detect_columns on the frame read (each column's kind, categories, date format)
  encode   features.encode_frame of the frame with those specs (the encoded float64 matrix)

and prints each with its ratio to the read. The file is written to a temporary folder and deleted afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from mlops_pipeline.features import encode_frame
from mlops_pipeline.features._detect import detect_columns


def make_table(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {f"x{j}": rng.normal(size=rows).round(4) for j in range(40)}
    for j in range(8):
        values = np.array([f"cat{j}_{k}" for k in range(5 + 5 * j)])
        columns[f"c{j}"] = values[rng.integers(0, values.size, rows)]
    days = rng.integers(0, 3650, rows).astype("timedelta64[D]") + np.datetime64("2015-01-01")
    columns["day"] = days.astype(str)
    return pl.DataFrame(columns)


def best_of(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mixed.csv"
        make_table(args.rows).write_csv(path)
        print(
            f"{args.rows:,} rows x 49 columns (40 numeric, 8 text categories, 1 date), {path.stat().st_size >> 20} MiB"
        )
        read = best_of(3, lambda: pl.read_csv(path))
        frame = pl.read_csv(path)
        specs, _, _ = detect_columns(frame, {}, origin="mixed.csv", csv_lines=True)
        detect = best_of(3, lambda: detect_columns(frame, {}, origin="mixed.csv", csv_lines=True))
        encode = best_of(3, lambda: encode_frame(frame, specs, origin="mixed.csv"))
        kinds = {kind: sum(s.kind == kind for s in specs) for kind in ("numeric", "categorical", "datetime")}
        print(f"detected: {kinds}")
        print(f"{'step':<40}{'seconds':>10}{'x read':>10}")
        for name, seconds in (
            ("polars.read_csv", read),
            ("detect_columns", detect),
            ("encode_frame", encode),
            ("  of which the 8 categories + the date", None),
        ):
            if seconds is None:
                part = [s for s in specs if s.kind != "numeric"]
                seconds = best_of(3, lambda part=part: encode_frame(frame, part, origin="mixed.csv"))
            print(f"{name:<40}{seconds:>10.3f}{seconds / read:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
