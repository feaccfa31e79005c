"""Benchmark: what Prefect orchestration costs per `python flows/pipeline.py` run (not a test: it prints figures).

    python benchmarks/orchestration.py [--repeat 3] [--quick]

Times whole processes side by side in one run (median of --repeat), so the ratios hold on a loaded machine:
  - plain script: the same data set and model family fitted with scikit-learn alone, no Prefect (the yardstick)
  - import cost: `import prefect, sklearn` plus the pipeline module, nothing run
  - `python flows/pipeline.py` with no server running beforehand, in its three situations: the shared local server
    already started by an earlier command (every run but the first), the first run of a PREFECT_HOME (migrations
    and the shared server's start-up), and MLOPS_LOCAL_SERVER=per-run (a temporary server per command, the
    behaviour before the shared server)
  - the same against a running `prefect server start` (PREFECT_API_URL set)
Issue 14's targets: at most 3 s over the plain script with no server running, at most 1 s over it against a
running server. Every run writes into a temporary model store and PREFECT_HOME; the servers started are stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
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

LABELS = {
    "plain": ("plain script, same sklearn work, no Prefect", None),
    "import": ("import prefect, sklearn, flows.pipeline", None),
    "shared": ("python flows/pipeline.py, no server running: shared local server reused", 3.0),
    "first": ("python flows/pipeline.py, first run of a fresh PREFECT_HOME (migrations + server start)", None),
    "per_run": ("python flows/pipeline.py, MLOPS_LOCAL_SERVER=per-run (temporary server per command)", None),
    "running": ("python flows/pipeline.py against a running `prefect server start`", 1.0),
}


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def prefect_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """A `prefect server start` on a free port; its API URL."""
    port = free_port()
    server_env = {**env, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 300
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"prefect server start did not come up; see {log}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one sample of each (for benchmarks/run_all.py)")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    base = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "MLOPS_LOCAL"))}
    base["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    samples: dict[str, list[float]] = {name: [] for name in LABELS}
    with tempfile.TemporaryDirectory(prefix="bench-orchestration-") as tmp:
        registry = Path(tmp, "models")
        pipeline = [sys.executable, "flows/pipeline.py", "--config", "config/digits.yaml"]
        pipeline += ["--set", f"registry.root={registry}"]
        shared_env = {**base, "PREFECT_HOME": str(Path(tmp, "shared-home"))}
        per_run_env = {**base, "PREFECT_HOME": str(Path(tmp, "per-run-home")), "MLOPS_LOCAL_SERVER": "per-run"}
        running_home = {**base, "PREFECT_HOME": str(Path(tmp, "running-home"))}
        stop = [sys.executable, "-m", "mlops_pipeline.runtime.local_server", "stop"]
        try:
            for env in (shared_env, per_run_env):  # migrate each home (and start the shared server), not timed
                timed(pipeline, env)
            with prefect_server(running_home, Path(tmp, "prefect-server.log")) as api_url:
                running_env = {**running_home, "PREFECT_API_URL": api_url}
                timed(pipeline, running_env)  # its first run trains; the others hit the cache like the rest
                for index in range(repeat):
                    samples["plain"].append(timed([sys.executable, "-c", PLAIN_SCRIPT], base))
                    import_code = "import prefect, sklearn, mlops_pipeline.flows.pipeline"
                    samples["import"].append(timed([sys.executable, "-c", import_code], shared_env))
                    samples["shared"].append(timed(pipeline, shared_env))
                    samples["running"].append(timed(pipeline, running_env))
                    samples["per_run"].append(timed(pipeline, per_run_env))
                    first_env = {**base, "PREFECT_HOME": str(Path(tmp, f"first-home-{index}"))}
                    samples["first"].append(timed(pipeline, first_env))
                    subprocess.run(stop, env=first_env, capture_output=True, check=False)
        finally:
            for home in Path(tmp).glob("*home*"):
                subprocess.run(stop, env={**base, "PREFECT_HOME": str(home)}, capture_output=True, check=False)
    plain = statistics.median(samples["plain"])
    print(f"median of {repeat} run(s), whole processes, {os.cpu_count()} cores; seconds, over the plain script, ratio")
    print("| what | seconds | over plain | ratio | target |\n|---|---|---|---|---|")
    for name, (label, budget) in LABELS.items():
        value = statistics.median(samples[name])
        verdict = "" if budget is None else f"<= +{budget:g} s: {'met' if value - plain <= budget else 'MISSED'}"
        print(f"| {label} | {value:.2f} | {value - plain:+.2f} | {value / plain:.1f}x | {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
