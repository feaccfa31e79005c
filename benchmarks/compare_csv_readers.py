"""Compare CSV readers on a large numeric CSV: wall time and peak memory to get a float64 feature matrix.

Each reader runs in its own child process so its peak RSS is its own. Run:

    python benchmarks/compare_csv_readers.py [--rows 1000000] [--cols 64] [--readers pandas-c,pyarrow,...]

The CSV is written to a temporary folder and deleted afterwards. A reader whose library is missing prints
"failed". `pipeline` is the project's own loader (mlops_pipeline.data.load_dataset), including the sha256 of the file.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

READERS = ("pandas-c", "pandas-pyarrow", "pyarrow", "pyarrow-stream", "polars", "numpy-loadtxt", "pipeline")


def write_csv(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """Random floats (6 significant digits) plus an integer `target` column, written with pyarrow in blocks."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(cols)] + ["target"]
    with pacsv.CSVWriter(path, pa.schema([(n, pa.float64()) for n in names[:-1]] + [("target", pa.int64())])) as out:
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            block = np.round(rng.normal(size=(n, cols)), 5)
            arrays = [pa.array(block[:, j]) for j in range(cols)] + [pa.array(rng.integers(0, 10, n))]
            out.write_table(pa.Table.from_arrays(arrays, names=names))


def read_matrix(reader: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Features as one float64 matrix and the target, the way the loader needs them."""
    if reader == "pandas-c":
        import pandas as pd

        frame = pd.read_csv(path, engine="c")
        return frame.drop(columns="target").to_numpy(np.float64), frame["target"].to_numpy()
    if reader == "pandas-pyarrow":
        import pandas as pd

        frame = pd.read_csv(path, engine="pyarrow")
        return frame.drop(columns="target").to_numpy(np.float64), frame["target"].to_numpy()
    if reader == "pyarrow":
        import pyarrow.csv as pacsv

        table = pacsv.read_csv(path)
        y = table.column("target").to_numpy()
        table = table.drop_columns(["target"])
        X = np.empty((table.num_rows, table.num_columns), dtype=np.float64, order="F")
        for j in range(table.num_columns):
            X[:, j] = table.column(j).to_numpy()
            # drop each Arrow column once copied would need a rebuilt table; the table is freed as a whole below
        del table
        return X, y
    if reader == "pyarrow-stream":
        import pyarrow.csv as pacsv

        parts, targets = [], []
        with pacsv.open_csv(path) as stream:
            for batch in stream:
                t = batch.column(batch.schema.get_field_index("target")).to_numpy()
                cols = [
                    batch.column(i).to_numpy() for i in range(batch.num_columns) if batch.schema.names[i] != "target"
                ]
                parts.append(np.column_stack(cols).astype(np.float64, copy=False))
                targets.append(t)
        X = np.concatenate(parts)
        del parts
        return X, np.concatenate(targets)
    if reader == "polars":
        import polars as pl

        frame = pl.read_csv(path)
        y = frame["target"].to_numpy()
        return frame.drop("target").to_numpy(order="fortran").astype(np.float64, copy=False), y
    if reader == "pipeline":  # what the `load` task runs: polars with float64 columns, sha256 of the bytes, checks
        from mlops_pipeline.config import DataConfig
        from mlops_pipeline.data import load_dataset

        dataset = load_dataset(DataConfig(source=str(path), target="target"))
        return dataset.X, dataset.y
    if reader == "numpy-loadtxt":
        data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
        return np.ascontiguousarray(data[:, :-1]), data[:, -1]
    raise ValueError(reader)


def child(reader: str, path: Path) -> None:
    # Import the library before taking the baseline, so the figure is the reading itself.
    module = {
        "pandas-c": "pandas",
        "pandas-pyarrow": "pandas",
        "pyarrow": "pyarrow.csv",
        "pyarrow-stream": "pyarrow.csv",
        "polars": "polars",
        "numpy-loadtxt": "numpy",
        "pipeline": "mlops_pipeline.data",
    }[reader]
    __import__(module)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    X, y = read_matrix(reader, path)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "reader": reader,
                "seconds": seconds,
                "peak_bytes": peak,
                "baseline_bytes": baseline,
                "x_bytes": X.nbytes,
                "shape": list(X.shape),
                "checksum": float(X[:, 0].sum()),
            }
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.csv"
        started = time.perf_counter()
        write_csv(path, args.rows, args.cols)
        print(
            f"wrote {args.rows:,} x {args.cols} CSV ({path.stat().st_size / 2**20:,.0f} MiB) "
            f"in {time.perf_counter() - started:.1f}s; float64 matrix = {args.rows * args.cols * 8 / 2**20:,.0f} MiB"
        )
        print(f"{'reader':16} {'seconds':>8} {'peak MiB':>9} {'above baseline MiB':>19} {'x matrix':>9}")
        for reader in args.readers.split(","):
            done = subprocess.run(
                [sys.executable, __file__, "--child", reader, str(path)], capture_output=True, text=True
            )
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{reader:16} failed: {last}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            above = r["peak_bytes"] - r["baseline_bytes"]
            print(
                f"{reader:16} {r['seconds']:8.2f} {r['peak_bytes'] / 2**20:9,.0f} {above / 2**20:19,.0f} "
                f"{above / r['x_bytes']:8.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
