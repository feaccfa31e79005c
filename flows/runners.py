"""Choose the flow's task runner where the flow is called (CLI, deployments), never inside the flow body.

`thread` (default): Prefect's ThreadPoolTaskRunner. `dask`: a Dask LocalCluster of worker processes (via prefect-dask).
`dask=tcp://HOST:PORT`: an existing Dask scheduler. Tasks' arguments and results cross process boundaries, so
they must be picklable classes defined in the library (not in __main__).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A deployment (or any process) chooses the runner with this variable, e.g. the job variable
# env={"MLOPS_TASK_RUNNER": "dask"}: a worker loads the flow's module for each run, and the module reads it.
TASK_RUNNER_VARIABLE = "MLOPS_TASK_RUNNER"


class TaskRunnerSpecError(ValueError):
    pass


def task_runner_from_environment(environ: Mapping[str, str]) -> Any:
    """The task runner $MLOPS_TASK_RUNNER names (same values as --task-runner); None when unset or `thread`."""
    return task_runner_from_spec(environ.get(TASK_RUNNER_VARIABLE), origin=TASK_RUNNER_VARIABLE)


def task_runner_from_spec(spec: str | None, origin: str = "--task-runner") -> Any:
    """A Prefect task runner for a `--task-runner` value (None or "thread": the flow's own default, returns None)."""
    if spec is None or spec.strip() in ("", "thread"):
        return None
    kind, _, address = spec.strip().partition("=")
    if kind != "dask":
        raise TaskRunnerSpecError(f"{origin} {spec!r}: expected 'thread', 'dask' or 'dask=tcp://HOST:PORT'")
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise TaskRunnerSpecError(
            f"{origin} {spec!r}: prefect-dask is not installed (pip install -e '.[dask]')"
        ) from None
    if address:
        if "://" not in address:
            raise TaskRunnerSpecError(f"{origin} {spec!r}: the scheduler address needs a scheme, e.g. tcp://")
        return DaskTaskRunner(address=address)
    # dashboard on a free port: the default :8787 may be another cluster's (the runner logs the address)
    return DaskTaskRunner(cluster_kwargs={"processes": True, "dashboard_address": ":0"})
