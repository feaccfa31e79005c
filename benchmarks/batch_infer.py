"""Benchmark: batch inference of a large digits-like CSV vs polars only reading it (not a test: it prints figures).

    python benchmarks/batch_infer.py [--rows 1000000] [--big-rows 4000000] [--quick] [--models-root DIR]

Trains a digits champion into a temporary model store (`python flows/pipeline.py --set registry.root=...`, or
reuses `--models-root`), writes a CSV of `--rows` x 64 digits-like features (rows of scikit-learn's digits drawn
at random, integers 0..16: values the champion's contract accepts; no target column), then times whole processes,
each in its own child so its peak RSS (os.wait4's ru_maxrss) is its own:

  read     `python -c "import polars; polars.read_csv(path)"`: the yardstick, polars materialising the whole file
           (dtypes inferred: 64 int64 columns)
  library  the batch steps in-process without Prefect (load_scoring_model, iter_inference_chunks, score_to_file,
           the drift report): read, contract checks, int8 scoring, drift, CSV written; it also prints where its
           time goes (reading+checks, int8 predict/predict_proba, drift, writing)
  flow     `python flows/batch_infer.py --data path --out out.csv` (ephemeral Prefect server; PREFECT_HOME migrated
           by a first run beforehand), same output format
  flow-0   the same command on a 10-row file: Prefect's start-up and per-run cost, nearly no data

then prints the ratios: library / read and flow / read wall time (the overhead %), flow minus flow-0 (the data
part of the flow), and the peak RSS at `--big-rows` over `--rows` (memory flat in the file's size: ~1.0).
`--quick` is 200,000 / 800,000 rows and skips the flow at the big size (for benchmarks/run_all.py).

Before / after in one run: `--baseline DIR` names a checkout of the code to compare with (e.g. `git worktree add DIR
main`, or `git archive main | tar -x -C DIR`) and `--baseline-python` a Python that has it installed (default
DIR/.venv/bin/python). That code trains its own champion, and its batch steps are timed next to this code's on the
same files, alternately, `--repeat` times each (the fastest is shown), with its where-the-time-goes line.
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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "digits-logreg"

LIBRARY_SCRIPT = """
import json, sys, time
started = time.perf_counter()
from mlops_pipeline.batch import load_scoring_model, score_to_file
from mlops_pipeline.data import iter_inference_chunks
from mlops_pipeline.drift import DriftAccumulator
from pathlib import Path
root, data, out, chunk_rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
imported = time.perf_counter()
scoring = load_scoring_model(root, "digits-logreg")
accumulator = DriftAccumulator(scoring.drift_reference)
chunks = iter_inference_chunks(data, scoring.contract, chunk_rows=chunk_rows, out_of_range="warning")
report = score_to_file(scoring.model, chunks, Path(out), accumulator)
drift = accumulator.report()
done = time.perf_counter()
print(json.dumps({"import": imported - started, "work": done - imported, "rows": report.rows,
                  "drift": drift.drift_detected}))
"""

PROFILE_SCRIPT = """
import json, sys, time
import numpy as np
from mlops_pipeline.batch import load_scoring_model, _output_columns
from mlops_pipeline.data import iter_inference_chunks
from mlops_pipeline.drift import DriftAccumulator
import polars as pl
from threadpoolctl import threadpool_limits
root, data, out, chunk_rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
scoring = load_scoring_model(root, "digits-logreg")
model = scoring.model
accumulator = DriftAccumulator(scoring.drift_reference)
parts = dict.fromkeys(["read+checks", "int8 predict+proba", "drift", "write"], 0.0)
clock = time.perf_counter()
# one BLAS thread, as score_to_file; the stages run one after another here (score_to_file reads ahead in a thread)
with threadpool_limits(1, user_api="blas"), open(out, "wb") as handle:
    for index, chunk in enumerate(iter_inference_chunks(data, scoring.contract, chunk_rows=chunk_rows,
                                                        out_of_range="warning")):
        now = time.perf_counter(); parts["read+checks"] += now - clock; clock = now
        predictions, probabilities = model.predict_with_proba(chunk.X)  # one pass, as score_to_file does
        columns = _output_columns(model, chunk, predictions, probabilities)
        now = time.perf_counter(); parts["int8 predict+proba"] += now - clock; clock = now
        accumulator.add(chunk.X)
        now = time.perf_counter(); parts["drift"] += now - clock; clock = now
        pl.DataFrame(columns).write_csv(handle, include_header=index == 0)
        now = time.perf_counter(); parts["write"] += now - clock; clock = now
accumulator.report()
parts["drift"] += time.perf_counter() - clock
print(json.dumps(parts))
"""


WRAPPER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)
out = child.stdout.read()
_, status, usage = os.wait4(child.pid, 0)
sys.stderr.write(out.decode())
print(json.dumps({"wall": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss": usage.ru_maxrss / 1024}))
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the process (and the children it waited for)
    rss: float  # peak resident set, MiB
    output: str = ""


def measure_child(argv: list[str], env: dict[str, str]) -> Run:
    """Run argv under a small Python parent that reports that child's own figures (os.wait4's rusage)."""
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *argv], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(figures["wall"], figures["cpu"], figures["rss"], done.stderr)


def train_champion(root: Path, env: dict[str, str], python: str = sys.executable, cwd: Path = ROOT) -> None:
    argv = [python, "flows/pipeline.py", "--set", f"registry.root={root}"]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"training the champion failed:\n{done.stderr[-3000:]}")


def write_digits_csv(path: Path, rows: int, feature_names: list[str], seed: int = 0) -> None:
    """`rows` rows of scikit-learn's digits drawn at random (integers 0..16), written in blocks with polars."""
    import numpy as np
    import polars as pl
    from sklearn.datasets import load_digits

    digits = load_digits().data.astype(np.int64)
    rng = np.random.default_rng(seed)
    with path.open("wb") as handle:
        for start in range(0, rows, 250_000):
            block = digits[rng.integers(0, digits.shape[0], min(250_000, rows - start))]
            frame = pl.DataFrame({name: block[:, j] for j, name in enumerate(feature_names)})
            frame.write_csv(handle, include_header=start == 0)


LABELS = {
    "read": "polars.read_csv (read only)",
    "library": "batch steps in-process, no Prefect",
    "flow": "python flows/batch_infer.py",
    "flow-0": "python flows/batch_infer.py, 10-row file",
    "library-base": "batch steps in-process, baseline code",
}


def measure_size(args: argparse.Namespace, root: Path, work: Path, rows: int, env: dict[str, str]) -> dict[str, Run]:
    """Every command against one CSV of `rows` rows; prints the table and the ratios."""
    from mlops_pipeline.batch import load_scoring_model

    names = load_scoring_model(root, MODEL).contract.feature_names
    data, tiny, out = work / f"digits-{rows}.csv", work / "tiny.csv", str(work / "predictions.csv")
    started = time.perf_counter()
    write_digits_csv(data, rows, names)
    write_digits_csv(tiny, 10, names)
    print(
        f"\n{rows:,} x 64 CSV, {data.stat().st_size / 2**20:.0f} MiB, written in {time.perf_counter() - started:.1f}s"
    )
    chunk = str(args.chunk_rows)
    first = rows == args.rows
    runs: dict[str, Run] = {}
    read = f"import polars; frame = polars.read_csv({str(data)!r}); assert frame.height == {rows}"
    runs["read"] = measure_child([sys.executable, "-c", read], env)
    library = [sys.executable, "-c", LIBRARY_SCRIPT, str(root), str(data), out, chunk]
    if args.baseline is None:
        runs["library"] = measure_child(library, env)
    else:  # alternately, so a change in the machine's load hits both
        base_library = [args.baseline_python, "-c", LIBRARY_SCRIPT, str(args.baseline_root), str(data), out, chunk]
        mine, theirs = [], []
        for _ in range(args.repeat):
            mine.append(measure_child(library, env))
            theirs.append(measure_child(base_library, env))
        runs["library"] = min(mine, key=lambda run: run.wall)
        runs["library-base"] = min(theirs, key=lambda run: run.wall)
    flow = [sys.executable, "flows/batch_infer.py", "--models-root", str(root), "--model", MODEL, "--out", out]
    if first or not args.quick:
        runs["flow"] = measure_child([*flow, "--data", str(data), "--chunk-rows", chunk], env)
    if first:
        runs["flow-0"] = measure_child([*flow, "--data", str(tiny)], env)
    base = runs["read"]
    print(f"{'command':<44} {'wall s':>7} {'rows/s':>10} {'CPU s':>7} {'peak RSS MiB':>13} {'wall/read':>9}")
    for key, run in runs.items():
        n = 10 if key == "flow-0" else rows
        print(
            f"{LABELS[key]:<44} {run.wall:>7.2f} {n / run.wall:>10,.0f} {run.cpu:>7.2f} {run.rss:>13.0f} "
            f"{run.wall / base.wall:>8.2f}x"
        )
    inner = json.loads(runs["library"].output.strip().splitlines()[-1])
    print(f"  library: imports {inner['import']:.2f}s, the batch itself {inner['work']:.2f}s")
    if "library-base" in runs:
        theirs = json.loads(runs["library-base"].output.strip().splitlines()[-1])
        print(
            f"  baseline library: imports {theirs['import']:.2f}s, the batch itself {theirs['work']:.2f}s; "
            f"this code / baseline: batch {inner['work'] / theirs['work']:.2f}x, "
            f"whole process {runs['library'].wall / runs['library-base'].wall:.2f}x"
        )
    for key in ("library", "flow"):
        if key in runs:
            run = runs[key]
            print(
                f"  {key} overhead over the read: wall {run.wall / base.wall - 1:+.0%}, "
                f"CPU {run.cpu / base.cpu - 1:+.0%}"
            )
    if "flow-0" in runs:
        data_part = runs["flow"].wall - runs["flow-0"].wall
        print(
            f"  Prefect start-up and per-run cost (10-row run) {runs['flow-0'].wall:.2f}s; flow minus it "
            f"{data_part:.2f}s = {data_part / base.wall - 1:+.0%} over the read"
        )
    profiles = [("", sys.executable, root)]
    if args.baseline is not None:
        profiles.append(("baseline ", args.baseline_python, args.baseline_root))
    for name, python, store in profiles if first else []:
        profile = subprocess.run(
            [python, "-c", PROFILE_SCRIPT, str(store), str(data), out, chunk],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        parts = json.loads(profile.stdout.strip().splitlines()[-1])
        total = sum(parts.values())
        print(
            f"  where the {name}in-process batch time goes: "
            + ", ".join(f"{k} {v:.2f}s ({v / total:.0%})" for k, v in parts.items())
        )
    data.unlink()
    return runs


def main() -> int:
    from mlops_pipeline.batch import load_scoring_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=4_000_000, help="the size for memory flatness (0: skip)")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="200,000 / 800,000 rows, no flow run at the big size")
    parser.add_argument("--models-root", type=Path, help="a store with a digits-logreg champion (default: train one)")
    parser.add_argument("--baseline", type=Path, help="a checkout of the code to compare with (before / after)")
    parser.add_argument("--baseline-python", help="a Python with --baseline installed (default DIR/.venv/bin/python)")
    parser.add_argument("--repeat", type=int, default=3, help="with --baseline: library runs of each (fastest shown)")
    args = parser.parse_args()
    if args.baseline is not None and args.baseline_python is None:
        args.baseline_python = str(args.baseline / ".venv" / "bin" / "python")
    if args.quick:
        args.rows, args.big_rows = 200_000, 800_000
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PREFECT_HOME": str(work / "prefect-home"), "PREFECT_LOGGING_LEVEL": "WARNING"}
        root = args.models_root
        if root is None:
            root = work / "models"
            started = time.perf_counter()
            train_champion(root, env)  # also migrates PREFECT_HOME, so the timed flow runs are "second runs"
            print(f"trained the digits champion in {time.perf_counter() - started:.1f}s (not part of any figure)")
        else:  # one untimed run migrates the fresh PREFECT_HOME, so the timed flow runs are "second runs"
            tiny = work / "warm-up.csv"
            write_digits_csv(tiny, 10, load_scoring_model(root, MODEL).contract.feature_names)
            measure_child(
                [
                    sys.executable,
                    "flows/batch_infer.py",
                    "--models-root",
                    str(root),
                    "--data",
                    str(tiny),
                    "--out",
                    str(work / "warm-up-predictions.csv"),
                ],
                env,
            )
        if args.baseline is not None:
            args.baseline_root = work / "models-baseline"
            started = time.perf_counter()
            train_champion(args.baseline_root, env, args.baseline_python, args.baseline)
            print(f"trained the baseline's champion in {time.perf_counter() - started:.1f}s (not part of any figure)")
        small = measure_size(args, root, work, args.rows, env)
        if args.big_rows:
            big = measure_size(args, root, work, args.big_rows, env)
            print(f"\npeak RSS at {args.big_rows:,} rows over {args.rows:,} rows (flat: ~1.0)")
            for key in ("read", "library", "library-base", "flow"):
                if key in small and key in big:
                    print(
                        f"  {LABELS[key]:<44} {big[key].rss:.0f} / {small[key].rss:.0f} MiB = "
                        f"{big[key].rss / small[key].rss:.2f}"
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
