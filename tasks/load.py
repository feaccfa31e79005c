"""The `load` task: read the data the config names, retrying transient failures with backoff and jitter."""

from __future__ import annotations

import time
from typing import Any

from prefect import get_run_logger, task

from mlops_pipeline.config import DataConfig
from mlops_pipeline.data import RETRY_JITTER_FACTOR, Dataset, is_transient, load_dataset, retry_delays


def _retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    # Prefect calls this plain function (a callable object or partial would silently disable retries).
    exc = state.data
    return isinstance(exc, BaseException) and is_transient(exc)


@task(
    name="load",
    retries=4,
    retry_delay_seconds=retry_delays(4, 1.0),
    retry_jitter_factor=RETRY_JITTER_FACTOR,
    retry_condition_fn=_retry_if_transient,
    persist_result=False,
)
def load(config: DataConfig) -> Dataset:
    """Read the data; transient failures are retried with exponential backoff and jitter."""
    logger = get_run_logger()
    started = time.perf_counter()
    dataset = load_dataset(config)
    logger.info(
        "loaded %s: %d rows x %d features in %.2f s, sha256 %s",
        dataset.source,
        dataset.n_rows,
        dataset.X.shape[1],
        time.perf_counter() - started,
        dataset.fingerprint[:16],
    )
    return dataset


def load_with_retries(config: DataConfig) -> Any:
    """The `load` task with the config's retry count and backoff (data.retries, data.retry_delay_seconds)."""
    return load.with_options(
        retries=config.retries, retry_delay_seconds=retry_delays(config.retries, config.retry_delay_seconds) or 0
    )
