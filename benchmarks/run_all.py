"""Every figure issue 14 asks for, printed in one run, so a reader sees today's ratios, not an old commit's claim.

    python benchmarks/run_all.py [--full]

Runs, one after the other (never side by side: they would slow each other down), each benchmark script in its own
process and prints its table under a heading with the date, the commit and the machine's load average:
  orchestration.py   the cost of a `python flows/pipeline.py` run over the same work without Prefect
  quantization.py    int8 scoring vs scikit-learn and vs the time to read the input once
  batch_infer.py     `python flows/batch_infer.py` vs polars only reading the file, time and peak memory
  mixed_table.py     batch scoring of a mixed table (text categories, a date, missing cells) vs a polars read
  sweep.py           8 MLP candidates on the thread runner vs Dask processes
Without --full each runs in its --quick form (fewer repeats, smaller files: a few minutes in all); the README's
figures come from --full. Exits 1 if a script failed (its output is still printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCHMARKS = ("orchestration.py", "quantization.py", "batch_infer.py", "mixed_table.py", "sweep.py")


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return (done.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty.strip() else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the scripts' default sizes and repeats (slow)")
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run only these")
    args = parser.parse_args()
    failed = []
    print(
        f"# benchmarks/run_all.py {'--full' if args.full else '(quick)'}: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"commit {commit()}, {platform.machine()} with {os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}, Python {platform.python_version()}"
    )
    for script in args.only or BENCHMARKS:
        command = [sys.executable, str(HERE / script)] + ([] if args.full else ["--quick"])
        print(f"\n## {script}{'' if args.full else ' --quick'}\n", flush=True)
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        print(done.stdout.rstrip())
        print(f"\n({time.perf_counter() - start:.0f} s; load average now {os.getloadavg()[0]:.1f})", flush=True)
        if done.returncode != 0:
            failed.append(f"{script} (exit {done.returncode})")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
