"""Benchmark: batch scoring of a mixed table vs polars only reading it (not a test: it prints figures).

    python benchmarks/mixed_table.py [--rows 1000000] [--big-rows 4000000] [--quick] [--kind logistic_regression]

Issue 20's yardstick: a table of 40 numeric columns (2% missing cells), 8 text category columns (5 to 60 values,
1% missing) and 1 ISO date column, written as CSV. A model is trained by the real pipeline on a 50,000-row file of
the same table (`python flows/pipeline.py --data ... --set model.kind=...`, into a temporary store; not timed),
then whole processes are timed, each in its own child so its peak RSS is its own (`batch_infer.measure_child`):

  read     `polars.read_csv(path)`: polars materialising the whole file (text columns as strings)
  library  the batch steps in-process without Prefect (load_scoring_model, iter_inference_chunks, score_to_file,
           the drift report): chunked read, encoding of text and dates, contract checks, int8 scoring, drift,
           CSV written

and prints library / read (target: at most 2.5x), where the library's time goes (reading + encoding + checks,
the int8 model on the encoded rows, drift, writing), the int8 model alone on the encoded matrix in rows/s, and the
peak RSS at `--big-rows` over `--rows` (memory flat in the file's size: ~1.0). `--quick`: 200,000 / 800,000 rows.
Everything is written to a temporary folder and deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from batch_infer import ROOT, Run, measure_child

MODEL = "mixed-bench"
N_NUMERIC, N_TEXT = 40, 8

LIBRARY_SCRIPT = """
import json, sys, time
started = time.perf_counter()
from mlops_pipeline.batch import load_scoring_model, score_to_file
from mlops_pipeline.data import iter_inference_chunks
from mlops_pipeline.drift import DriftAccumulator
from pathlib import Path
root, data, out, chunk_rows, model = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
imported = time.perf_counter()
scoring = load_scoring_model(root, model)
accumulator = DriftAccumulator(scoring.drift_reference)
chunks = iter_inference_chunks(data, scoring.contract, chunk_rows=chunk_rows, out_of_range="warning")
report = score_to_file(scoring.model, chunks, Path(out), accumulator)
drift = accumulator.report()
done = time.perf_counter()
print(json.dumps({"import": imported - started, "work": done - imported, "rows": report.rows}))
"""

PROFILE_SCRIPT = """
import json, sys, time
import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits
from mlops_pipeline.batch import load_scoring_model, _output_columns
from mlops_pipeline.data import iter_inference_chunks
from mlops_pipeline.drift import DriftAccumulator
root, data, out, chunk_rows, model_name = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
scoring = load_scoring_model(root, model_name)
model = scoring.model
accumulator = DriftAccumulator(scoring.drift_reference)
parts = dict.fromkeys(["read+encode+checks", "int8 predict+proba", "drift", "write"], 0.0)
encoded = []
clock = time.perf_counter()
with threadpool_limits(1, user_api="blas"), open(out, "wb") as handle:
    for index, chunk in enumerate(iter_inference_chunks(data, scoring.contract, chunk_rows=chunk_rows,
                                                        out_of_range="warning")):
        now = time.perf_counter(); parts["read+encode+checks"] += now - clock; clock = now
        predictions, probabilities = model.predict_with_proba(chunk.X)
        columns = _output_columns(model, chunk, predictions, probabilities)
        now = time.perf_counter(); parts["int8 predict+proba"] += now - clock; clock = now
        accumulator.add(chunk.X)
        now = time.perf_counter(); parts["drift"] += now - clock; clock = now
        pl.DataFrame(columns).write_csv(handle, include_header=index == 0)
        now = time.perf_counter(); parts["write"] += now - clock; clock = now
        if index == 0:
            encoded.append(chunk.X)
accumulator.report()
parts["drift"] += time.perf_counter() - clock
X = encoded[0]
with threadpool_limits(1, user_api="blas"):
    model.predict_with_proba(X)
    timings = []
    for _ in range(3):
        started = time.perf_counter(); model.predict_with_proba(X); timings.append(time.perf_counter() - started)
parts["model alone rows/s"] = X.shape[0] / min(timings)
parts["model family"] = "features" if getattr(model, "features_", None) is not None else "plain"
print(json.dumps(parts))
"""


def write_table(path: Path, rows: int, seed: int = 0, with_target: bool = True) -> None:
    """`rows` rows of the mixed table, written in blocks with polars (the target depends on every column kind)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    sizes = [5, 8, 12, 20, 30, 40, 50, 60]
    weights = rng.normal(size=N_NUMERIC) / np.sqrt(N_NUMERIC)
    effects = [rng.normal(size=n) for n in sizes]
    day0 = np.datetime64("2020-01-01")
    with path.open("wb") as handle:
        for start in range(0, rows, 250_000):
            n = min(250_000, rows - start)
            numbers = rng.normal(size=(n, N_NUMERIC))
            codes = [rng.integers(0, size, n) for size in sizes]
            days = rng.integers(0, 1500, n)
            signal = numbers @ weights + sum(e[c] for e, c in zip(effects, codes, strict=True)) * 0.5
            signal += np.sin(days / 200.0)
            frame: dict[str, object] = {}
            for j in range(N_NUMERIC):
                column = numbers[:, j].round(4)
                column[rng.random(n) < 0.02] = np.nan
                frame[f"x{j}"] = column
            for k, c in enumerate(codes):
                labels = np.asarray([f"cat{k}-v{v}" for v in range(sizes[k])], dtype=object)[c]
                labels[rng.random(n) < 0.01] = None
                frame[f"c{k}"] = labels.tolist()
            frame["day"] = (day0 + days).astype(str).tolist()
            if with_target:
                frame["label"] = (signal + rng.normal(0, 0.5, n) > 0).astype(np.int64)
            pl.DataFrame(frame).with_columns(pl.col(f"x{j}").fill_nan(None) for j in range(N_NUMERIC)).write_csv(
                handle, include_header=start == 0
            )


def train(root: Path, work: Path, kind: str, env: dict[str, str]) -> None:
    data = work / "train.csv"
    write_table(data, 50_000, seed=1)
    argv = [
        sys.executable, "flows/pipeline.py", "--data", str(data), "--target", "label",
        "--set", f"registry.root={root}", "--set", f"registry.model_name={MODEL}", "--set", f"model.kind={kind}",
        "--set", "gate.min_metrics.accuracy=0.5", "--set", "gate.min_metrics.macro_f1=0.5",
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"training failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    print(next((line for line in done.stdout.splitlines() if line.startswith("int8")), "").strip())


def measure_size(args: argparse.Namespace, root: Path, work: Path, rows: int, env: dict[str, str]) -> dict[str, Run]:
    data, out = work / f"mixed-{rows}.csv", str(work / "predictions.csv")
    started = time.perf_counter()
    write_table(data, rows, with_target=False)
    size = data.stat().st_size / 2**20
    print(f"\n{rows:,} rows x ({N_NUMERIC} numeric, {N_TEXT} text, 1 date) CSV, {size:.0f} MiB, written in "
          f"{time.perf_counter() - started:.1f}s")  # fmt: skip
    chunk = str(args.chunk_rows)
    runs: dict[str, Run] = {}
    read = f"import polars; frame = polars.read_csv({str(data)!r}); assert frame.height == {rows}"
    runs["read"] = min((measure_child([sys.executable, "-c", read], env) for _ in range(args.repeat)),
                       key=lambda run: run.wall)  # fmt: skip
    library = [sys.executable, "-c", LIBRARY_SCRIPT, str(root), str(data), out, chunk, MODEL]
    runs["library"] = min((measure_child(library, env) for _ in range(args.repeat)), key=lambda run: run.wall)
    base = runs["read"]
    print(f"{'command':<44} {'wall s':>7} {'rows/s':>10} {'CPU s':>7} {'peak RSS MiB':>13} {'wall/read':>9}")
    labels = {"read": "polars.read_csv (read only)", "library": "batch steps in-process, no Prefect"}
    for key, run in runs.items():
        print(f"{labels[key]:<44} {run.wall:>7.2f} {rows / run.wall:>10,.0f} {run.cpu:>7.2f} {run.rss:>13.0f} "
              f"{run.wall / base.wall:>8.2f}x")  # fmt: skip
    inner = json.loads(runs["library"].output.strip().splitlines()[-1])
    print(f"  library: imports {inner['import']:.2f}s, the batch itself {inner['work']:.2f}s "
          f"({inner['work'] / base.wall:.2f}x the read; target <= 2.5x)")  # fmt: skip
    if rows == args.rows:
        profile = subprocess.run(
            [sys.executable, "-c", PROFILE_SCRIPT, str(root), str(data), out, chunk, MODEL],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        parts = json.loads(profile.stdout.strip().splitlines()[-1])
        rate, family = parts.pop("model alone rows/s"), parts.pop("model family")
        total = sum(parts.values())
        print("  where the in-process batch time goes (one thread, stages in turn): "
              + ", ".join(f"{k} {v:.2f}s ({v / total:.0%})" for k, v in parts.items()))  # fmt: skip
        print(f"  the int8 model alone ({family}) on a {args.chunk_rows:,}-row encoded chunk: {rate:,.0f} rows/s")
    data.unlink()
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=4_000_000, help="the size for memory flatness (0: skip)")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per command (the fastest is shown)")
    parser.add_argument("--kind", default="logistic_regression", help="model.kind to train (an affine kind)")
    parser.add_argument("--quick", action="store_true", help="200,000 / 800,000 rows, one run each")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.big_rows, args.repeat = 200_000, 800_000, 1
    with tempfile.TemporaryDirectory(prefix="mixed-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PREFECT_HOME": str(work / "prefect-home"), "PREFECT_LOGGING_LEVEL": "WARNING"}
        root = work / "models"
        started = time.perf_counter()
        train(root, work, args.kind, env)
        print(f"trained {args.kind} on 50,000 rows in {time.perf_counter() - started:.1f}s (not part of any figure)")
        small = measure_size(args, root, work, args.rows, env)
        if args.big_rows:
            big = measure_size(args, root, work, args.big_rows, env)
            print(f"\npeak RSS at {args.big_rows:,} rows over {args.rows:,} rows (flat: ~1.0)")
            for key in ("read", "library"):
                print(f"  {key:<8} {big[key].rss:.0f} / {small[key].rss:.0f} MiB = {big[key].rss / small[key].rss:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
