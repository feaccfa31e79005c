"""Benchmark: a sweep of MLP candidates on Prefect's default thread runner vs a Dask LocalCluster of processes.

    python benchmarks/sweep.py [--quick]

Runs `python flows/pipeline.py --task-runner thread` and then `--task-runner dask` on the same candidates config
(config/digits-mlp.yaml with its candidates replaced by 8 MLPs; --quick: 4 smaller ones), each with an empty
result store so nothing is Cached, and prints a table: the wall time of the mapped candidate tasks (from the
run's summary), the whole command's wall time, and the speed-up. The machine's core count bounds the speed-up
(scikit-learn's MLP holds the GIL for most of a fit, so threads barely overlap; processes can use every core, but
the Dask run pays for starting the cluster's worker processes).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNNERS = ("thread", "dask")


def sweep_config(quick: bool) -> dict:
    """config/digits-mlp.yaml with 8 (quick: 4) MLP candidates compared on a validation split."""
    config = yaml.safe_load((ROOT / "config" / "digits-mlp.yaml").read_text(encoding="utf-8"))
    widths = [[32], [64]] if quick else [[32], [64], [128], [64, 32]]
    config["model"] = {
        "candidates": [
            {"kind": "mlp_classifier", "hidden_layer_sizes": width, "alpha": alpha, "max_iter": 60 if quick else 200}
            for width in widths
            for alpha in (1e-4, 1e-2)
        ],
        "validation_size": 0.2,
        "cv_folds": None,
    }
    config["gate"] = {"min_metrics": {"accuracy": 0.5}}  # the sweep's speed is measured, not its quality
    config["quantize"] = {"enabled": False}
    config["registry"] = {"root": "models", "model_name": "bench-sweep"}
    return config


def run(runner: str, config: Path, folder: Path) -> tuple[float, float, int]:
    """(candidate map seconds, command seconds, candidates) of one pipeline run with its own empty stores."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "MLOPS_LOCAL_SERVER"))}
    home = folder / runner / "prefect-home"
    home.mkdir(parents=True)  # Prefect creates the home itself but not its parents: no database, no server
    env.update(
        # each run its own home and temporary server (migrations included, the same for both), none left behind
        MLOPS_LOCAL_SERVER="per-run",
        PREFECT_HOME=str(home),
        PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(folder / runner / "results"),  # empty: nothing Cached
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    command = [sys.executable, "flows/pipeline.py", "--config", str(config), "--task-runner", runner]
    command += ["--set", f"registry.root={folder / runner / 'models'}"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"--task-runner {runner} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    states = re.findall(r"train_candidate-\d+=(\w+) \(([0-9.]+)s\)", done.stdout)
    if not states or any(state != "Completed" for state, _ in states):
        raise SystemExit(f"--task-runner {runner}: candidates not all trained: {states}")
    return float(states[0][1]), elapsed, len(states)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/sweep.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 smaller MLP candidates (about a minute)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        folder = Path(tmp)
        config = folder / "sweep.yaml"
        config.write_text(yaml.safe_dump(sweep_config(args.quick)), encoding="utf-8")
        timings = {runner: run(runner, config, folder) for runner in RUNNERS}
    count = timings["thread"][2]
    print(f"{count} MLP candidates on digits, {os.cpu_count()} cores; wall times in seconds")
    print(f"{'task runner':<34} {'candidates':>10} {'command':>9}")
    labels = {"thread": "thread (ThreadPoolTaskRunner)", "dask": "dask (LocalCluster, processes)"}
    for runner in RUNNERS:
        candidates, command, _ = timings[runner]
        print(f"{labels[runner]:<34} {candidates:>10.1f} {command:>9.1f}")
    (thread_map, thread_all, _), (dask_map, dask_all, _) = timings["thread"], timings["dask"]
    print(f"{'speed-up (thread / dask)':<34} {thread_map / dask_map:>9.2f}x {thread_all / dask_all:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
