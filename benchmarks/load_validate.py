"""Load and validate a large CSV with the pipeline's own code; print time and peak memory.

    python benchmarks/load_validate.py [--rows 1000000] [--cols 64] [--impute none]

Writes a rows x cols CSV of random floats plus an integer `label` column (10 classes) to a temporary folder, then
in a fresh child process runs `mlops_pipeline.data.load_dataset` (read + sha256 + float64 matrix) and
`mlops_pipeline.validate.prepare` (every contract rule, the stratified split, the contract), the plain functions
behind the `load` and `validate` tasks. Peak memory is the child's peak resident set size above its size after
imports, compared with the size of the float64 feature matrix (target: under 3x).
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

MIB = 2**20


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def write_csv(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    import polars as pl

    rng = np.random.default_rng(seed)
    with path.open("wb") as out:
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            label = rng.integers(0, 10, n)
            block = np.round(rng.normal(size=(n, cols)) + label[:, None] * 0.1, 5)
            frame = pl.DataFrame({f"f{j}": block[:, j] for j in range(cols)}).with_columns(pl.Series("label", label))
            frame.write_csv(out, include_header=start == 0)


def measure(path: Path, impute: str) -> dict[str, float]:
    from mlops_pipeline.config import DataConfig
    from mlops_pipeline.data import load_dataset
    from mlops_pipeline.validate import prepare

    config = DataConfig(source=str(path), target="label", impute=impute)
    baseline = current_rss()
    started = time.perf_counter()
    dataset = load_dataset(config)
    load_seconds = time.perf_counter() - started
    load_peak = peak_rss()
    started = time.perf_counter()
    prepared = prepare(dataset, config, "classification")
    validate_seconds = time.perf_counter() - started
    return {
        "rows": dataset.n_rows,
        "cols": dataset.X.shape[1],
        "x_bytes": dataset.X.nbytes,
        "load_seconds": load_seconds,
        "validate_seconds": validate_seconds,
        "baseline_bytes": baseline,
        "load_peak_bytes": load_peak,
        "peak_bytes": peak_rss(),
        "findings": len(prepared.findings),
        "errors": sum(f.severity == "error" for f in prepared.findings),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Time and peak memory of load + validate on a large CSV.")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--impute", default="none", choices=["none", "mean", "median", "most_frequent"])
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.impute)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-load-validate-") as folder:
        path = Path(folder) / "large.csv"
        started = time.perf_counter()
        write_csv(path, args.rows, args.cols)
        print(
            f"wrote {args.rows:,} x {args.cols} + label CSV, {path.stat().st_size / MIB:,.0f} MiB, "
            f"in {time.perf_counter() - started:.1f} s"
        )
        done = subprocess.run(
            [sys.executable, __file__, "--measure", str(path), "--impute", args.impute], capture_output=True, text=True
        )
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    r = json.loads(done.stdout.strip().splitlines()[-1])
    x = r["x_bytes"]
    above = r["peak_bytes"] - r["baseline_bytes"]
    print(f"float64 feature matrix   {x / MIB:8,.0f} MiB ({r['rows']:,} x {r['cols']})")
    load_above = r["load_peak_bytes"] - r["baseline_bytes"]
    print(
        f"load                     {r['load_seconds']:8.2f} s   peak {load_above / MIB:7,.0f} MiB above baseline "
        f"= {load_above / x:.2f}x the matrix"
    )
    print(f"validate (+ split)       {r['validate_seconds']:8.2f} s")
    print(
        f"load + validate          {r['load_seconds'] + r['validate_seconds']:8.2f} s   peak {above / MIB:7,.0f} MiB "
        f"above baseline = {above / x:.2f}x the matrix (target < 3x); process peak {r['peak_bytes'] / MIB:,.0f} MiB"
    )
    print(f"findings                 {r['findings']} ({r['errors']} errors)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
