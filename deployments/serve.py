"""Serve the pipeline's deployments from this process against the configured Prefect API.

    prefect server start                       # in another terminal (or set PREFECT_API_URL)
    python deployments/serve.py                # from the project root; Ctrl-C stops serving

Flow runs (scheduled, from the UI, from `prefect deployment run` or `run_deployment`) execute in subprocesses
of this one. On shutdown the deployments' schedules are paused until the next start. Set MLOPS_MODEL_STORE_ROOT
to put the model store somewhere other than each config's `registry.root`.
"""

from __future__ import annotations

from mlops_pipeline.deployments.catalog import served_deployments
from prefect import serve


def main() -> None:
    serve(*served_deployments())


if __name__ == "__main__":
    main()
