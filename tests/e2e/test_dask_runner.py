"""`python flows/pipeline.py --task-runner dask[=tcp://HOST:PORT]`: the mapped candidate tasks on Dask worker
processes, their arguments and results pickled across, and the cache still hit on a rerun."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, background_process, free_port, subprocess_env, wait_until

from mlops_pipeline.registry import ModelStore

pytestmark = pytest.mark.e2e

PIPELINE = REPO_ROOT / "flows" / "pipeline.py"
CANDIDATES = REPO_ROOT / "config" / "digits-candidates.yaml"
DASK = str(Path(sys.executable).with_name("dask"))


def candidate_states(stdout: str) -> list[str]:
    """The states of train_candidate-0, -1, ... from the summary's `tasks` line."""
    return re.findall(r"train_candidate-\d+=(\w+)", stdout)


def run_pipeline(python: str, env: dict[str, str], store: Path, runner: str) -> subprocess.CompletedProcess[str]:
    command = [python, str(PIPELINE), "--config", str(CANDIDATES), "--task-runner", runner]
    result = subprocess.run(
        [*command, "--set", f"registry.root={store}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_candidates_on_a_local_dask_cluster_then_cached_on_the_rerun(python: str, tmp_path: Path) -> None:
    env, store = subprocess_env(tmp_path), tmp_path / "models"

    first = run_pipeline(python, env, store, "dask")
    assert "Creating a new Dask cluster with `distributed.deploy.local.LocalCluster`" in first.stdout + first.stderr
    assert candidate_states(first.stdout) == ["Completed"] * 3

    second = run_pipeline(python, env, store, "dask")
    assert candidate_states(second.stdout) == ["Cached"] * 3  # results written by Dask workers, read back
    assert "train=Cached" in second.stdout
    # the rerun's model is the champion's, byte for byte (and the data, config and code are the same): not stored
    assert "champion   unchanged: v1 remains champion" in second.stdout
    assert ModelStore(store, "digits-logreg").versions() == ["v1"]


def test_candidates_on_an_existing_dask_scheduler_and_worker(python: str, tmp_path: Path, start_prefect_server) -> None:
    """A `dask scheduler` and a `dask worker` started apart from the flow (as on other hosts): the worker's
    task runs report to the same Prefect server as the flow, so both need PREFECT_API_URL."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    with start_prefect_server(tmp_path / "prefect") as server:
        env = {**subprocess_env(tmp_path), "PREFECT_API_URL": server.api_url}
        scheduler_log, worker_log = tmp_path / "scheduler.log", tmp_path / "worker.log"
        scheduler_args = [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
        worker_args = [DASK, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"]
        with (
            background_process(scheduler_args, env, scheduler_log, cwd=tmp_path) as scheduler,
            background_process(worker_args, env, worker_log, cwd=tmp_path) as worker,
        ):
            with Client(address, timeout=120) as dask:
                wait_until(lambda: len(dask.scheduler_info()["workers"]) == 2, worker, worker_log, "dask worker", 120)

                result = run_pipeline(python, env, tmp_path / "models", f"dask={address}")

                ran = dask.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
            assert scheduler.poll() is None
    assert f"Connecting to an existing Dask cluster at {address}" in result.stdout + result.stderr
    assert candidate_states(result.stdout) == ["Completed"] * 3
    assert ran, "the Dask scheduler ran no tasks"
