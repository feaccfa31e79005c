"""Benchmark: seconds from spawning a command to a healthy local Prefect API, for each way of starting one.

    python benchmarks/local_server_start.py [--repeat 3]

Side by side in one run (median of --repeat, the ways alternating), on one migrated PREFECT_HOME, each server
stopped before the next starts; the figures are quoted in mlops_pipeline.runtime.local_server's docstring:
  - shared: this project's shared server (mlops_pipeline.runtime.server_process), as the first flow command starts it
  - per-run: `prefect server start --no-ui` as the command's child (MLOPS_LOCAL_SERVER=per-run)
  - background: `prefect server start --background`, then `prefect server status --wait`
  - ephemeral: Prefect's own temporary server (SubprocessASGIServer), what a command with no server setting starts
Each time includes the starting command's own interpreter and imports, as a flow command pays them.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREFECT = str(Path(sys.executable).parent / "prefect")
READY = "print('ready', flush=True)"
COMMANDS = {
    "shared (mlops_pipeline.runtime.server_process)": "from mlops_pipeline.runtime.local_server import "
    f"ensure_shared_server as start, stop_shared_server as stop; start(); {READY}; stop()",
    "per-run (`prefect server start --no-ui`, the command's child)": "from mlops_pipeline.runtime.local_server "
    f"import start_child_server as start; start(); {READY}",
    "Prefect's ephemeral server (SubprocessASGIServer)": "from prefect.server.api.server import "
    f"SubprocessASGIServer as S; S().start(); {READY}",
}
BACKGROUND = "`prefect server start --background` + `prefect server status --wait`"


def until_ready(code: str, env: dict[str, str]) -> float:
    """Seconds until the command prints `ready` (its server is healthy); the command then stops its server."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    ready = any(line.startswith("ready") for line in process.stdout)
    elapsed = time.perf_counter() - started
    process.wait()
    if not ready:
        raise RuntimeError(f"no server: {code}")
    return elapsed


def background(env: dict[str, str]) -> float:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**env, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
    started = time.perf_counter()
    subprocess.run([PREFECT, "server", "start", "--background"], env=env, check=True, capture_output=True)
    status_env = {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    status = [PREFECT, "server", "status", "--wait", "--timeout", "300"]
    subprocess.run(status, env=status_env, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    subprocess.run([PREFECT, "server", "stop"], env=env, check=True, capture_output=True)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "MLOPS_"))}
    samples: dict[str, list[float]] = {name: [] for name in [*COMMANDS, BACKGROUND]}
    with tempfile.TemporaryDirectory(prefix="bench-server-start-") as home:
        env = {**base, "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        until_ready(next(iter(COMMANDS.values())), env)  # migrate the database once, not timed
        for _ in range(args.repeat):
            for name, code in COMMANDS.items():
                samples[name].append(until_ready(code, env))
            samples[BACKGROUND].append(background(env))
    print(f"median of {args.repeat}, seconds to a healthy /api/health, {os.cpu_count()} cores")
    for name, values in samples.items():
        print(f"{statistics.median(values):7.2f}  {name}  {[round(v, 2) for v in values]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
