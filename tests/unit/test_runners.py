import os
import subprocess

import pytest
from conftest import REPO_ROOT
from mlops_pipeline.runtime.runners import TaskRunnerSpecError, task_runner_from_environment, task_runner_from_spec


def test_thread_and_none_keep_the_flow_default():
    assert task_runner_from_spec(None) is None
    assert task_runner_from_spec("thread") is None


def test_dask_local_cluster_uses_processes():
    runner = task_runner_from_spec("dask")
    assert type(runner).__name__ == "DaskTaskRunner"
    assert runner.cluster_kwargs.get("processes") is True


def test_dask_address():
    runner = task_runner_from_spec("dask=tcp://127.0.0.1:8786")
    assert runner.address == "tcp://127.0.0.1:8786"


@pytest.mark.parametrize("spec", ["ray", "dask=127.0.0.1:8786"])
def test_bad_specs_name_the_value(spec):
    with pytest.raises(TaskRunnerSpecError, match="--task-runner"):
        task_runner_from_spec(spec)


def test_the_environment_variable_names_itself_when_wrong() -> None:
    with pytest.raises(TaskRunnerSpecError, match="MLOPS_TASK_RUNNER 'spark': expected"):
        task_runner_from_environment({"MLOPS_TASK_RUNNER": "spark"})
    assert task_runner_from_environment({}) is None
    assert task_runner_from_environment({"MLOPS_TASK_RUNNER": "thread"}) is None


@pytest.mark.parametrize(("value", "runner"), [("dask", "DaskTaskRunner"), ("", "ThreadPoolTaskRunner")])
def test_a_deployment_picks_the_runner_with_its_environment(python: str, value: str, runner: str) -> None:
    """A worker loads the flow from its entrypoint in a process with the deployment's job-variable env."""
    code = (
        "from prefect.flows import load_flow_from_entrypoint;"
        "print(type(load_flow_from_entrypoint('flows/pipeline.py:training_pipeline').task_runner).__name__)"
    )
    env = {**os.environ, "MLOPS_TASK_RUNNER": value}
    done = subprocess.run([python, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == runner
