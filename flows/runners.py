"""Choose the flow's task runner where the flow is called (CLI, deployments), never inside the flow body.

`thread` (default): Prefect's ThreadPoolTaskRunner. `dask`: a Dask LocalCluster of worker processes (via prefect-dask).
`dask=tcp://HOST:PORT`: an existing Dask scheduler. Tasks' arguments and results cross process boundaries, so
they must be picklable classes defined in the library (not in __main__).
"""

from __future__ import annotations

from typing import Any


class TaskRunnerSpecError(ValueError):
    pass


def task_runner_from_spec(spec: str | None) -> Any:
    """A Prefect task runner for a `--task-runner` value (None or "thread": the flow's own default, returns None)."""
    if spec is None or spec.strip() in ("", "thread"):
        return None
    kind, _, address = spec.strip().partition("=")
    if kind != "dask":
        raise TaskRunnerSpecError(f"--task-runner {spec!r}: expected 'thread', 'dask' or 'dask=tcp://HOST:PORT'")
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise TaskRunnerSpecError(
            f"--task-runner {spec!r}: prefect-dask is not installed (pip install -e '.[dask]')"
        ) from None
    if address:
        if "://" not in address:
            raise TaskRunnerSpecError(f"--task-runner {spec!r}: the scheduler address needs a scheme, e.g. tcp://")
        return DaskTaskRunner(address=address)
    # dashboard on a free port: the default :8787 may be another cluster's (the runner logs the address)
    return DaskTaskRunner(cluster_kwargs={"processes": True, "dashboard_address": ":0"})
