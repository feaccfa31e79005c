import pytest
from mlops_pipeline.flows.runners import TaskRunnerSpecError, task_runner_from_spec


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
