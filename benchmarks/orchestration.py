"""Benchmark: what Prefect orchestration costs per `python flows/pipeline.py` run (not a test: it prints figures).

    python benchmarks/orchestration.py [--repeat 3]

Times whole processes side by side in one run (median of --repeat), so the ratios hold on a loaded machine:
  - plain script: the same data set and model family fitted with scikit-learn alone, no Prefect (the yardstick)
  - import cost: `import prefect, sklearn` plus the pipeline module, nothing run
  - `python flows/pipeline.py` on an ephemeral server, PREFECT_HOME already migrated (the usual second run)
  - the same with a fresh, empty PREFECT_HOME (the first run: database migrations included)
Every pipeline run writes its models into a temporary registry; nothing is left behind.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLAIN_SCRIPT = """
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
X, y = load_digits(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(Xtr, ytr)
print(model.score(Xte, yte))
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    base["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    with tempfile.TemporaryDirectory(prefix="bench-orchestration-") as tmp:
        warm_home = Path(tmp, "warm-home")
        registry = Path(tmp, "models")
        pipeline = [
            sys.executable,
            "flows/pipeline.py",
            "--config",
            "config/digits.yaml",
            "--set",
            f"registry.root={registry}",
        ]
        warm_env = {**base, "PREFECT_HOME": str(warm_home)}
        timed(pipeline, warm_env)  # migrate the warm home once, not timed
        samples: dict[str, list[float]] = {name: [] for name in ("plain", "import", "warm", "fresh")}
        for index in range(args.repeat):
            samples["plain"].append(timed([sys.executable, "-c", PLAIN_SCRIPT], base))
            samples["import"].append(
                timed([sys.executable, "-c", "import prefect, sklearn, mlops_pipeline.flows.pipeline"], warm_env)
            )
            samples["warm"].append(timed(pipeline, warm_env))
            fresh_env = {**base, "PREFECT_HOME": str(Path(tmp, f"fresh-home-{index}"))}
            samples["fresh"].append(timed(pipeline, fresh_env))
    plain = statistics.median(samples["plain"])
    labels = {
        "plain": "plain script, same sklearn work, no Prefect",
        "import": "import prefect, sklearn, flows.pipeline",
        "warm": "python flows/pipeline.py, ephemeral server, migrated PREFECT_HOME",
        "fresh": "python flows/pipeline.py, ephemeral server, fresh PREFECT_HOME",
    }
    print(f"median of {args.repeat} runs, whole processes; seconds, overhead over the plain script, ratio")
    print("| what | seconds | over plain | ratio |\n|---|---|---|---|")
    for name, label in labels.items():
        value = statistics.median(samples[name])
        print(f"| {label} | {value:.2f} | {value - plain:+.2f} | {value / plain:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
