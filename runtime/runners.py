"""Choose the flow's task runner where the flow is called (CLI, deployments), never inside the flow body.

`thread` (default): Prefect's ThreadPoolTaskRunner. `dask`: a Dask LocalCluster of worker processes (via prefect-dask).
`dask=tcp://HOST:PORT`: an existing Dask scheduler. Tasks' arguments and results cross process boundaries, so
they must be picklable classes defined in the library (not in __main__).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from mlops_pipeline.settings import Settings, SettingsError, TaskRunnerSpecError, check_task_runner_spec

# A deployment (or any process) chooses the runner with this variable, e.g. the job variable
# env={"MLOPS_TASK_RUNNER": "dask"}: a worker loads the flow's module for each run, and the module reads it.
TASK_RUNNER_VARIABLE = Settings.variable("task_runner")
__all__ = ["TaskRunnerSpecError", "task_runner_from_environment", "task_runner_from_spec", "with_environment_runner"]

FlowT = TypeVar("FlowT", bound=Any)


def task_runner_from_environment(environ: Mapping[str, str]) -> Any:
    """The task runner $MLOPS_TASK_RUNNER names (same values as --task-runner); None when unset or `thread`."""
    return task_runner_from_spec(Settings.from_environ(environ).task_runner, origin=TASK_RUNNER_VARIABLE)


def with_environment_runner(flow: FlowT, environ: Mapping[str, str]) -> FlowT:
    """`flow` with the task runner $MLOPS_TASK_RUNNER names, for a module to apply when it is loaded.

    A wrong MLOPS_* value leaves the flow as it is here: importing the module must not raise, so the flow command
    reports it as a one-line error (exit 2) and a deployment's run fails naming it (the flow reads the settings).
    """
    try:
        runner = task_runner_from_environment(environ)
    except SettingsError:
        return flow
    return flow if runner is None else flow.with_options(task_runner=runner)


def task_runner_from_spec(spec: str | None, origin: str = "--task-runner") -> Any:
    """A Prefect task runner for a `--task-runner` value (None or "thread": the flow's own default, returns None)."""
    spec = check_task_runner_spec(spec, origin)
    if spec is None:
        return None
    address = spec.partition("=")[2]
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise TaskRunnerSpecError(
            f"{origin} {spec!r}: prefect-dask is not installed (pip install -e '.[dask]')"
        ) from None
    if address:
        return DaskTaskRunner(address=address)
    # dashboard on a free port: the default :8787 may be another cluster's (the runner logs the address)
    return DaskTaskRunner(cluster_kwargs={"processes": True, "dashboard_address": ":0"})
