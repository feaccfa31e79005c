"""Load failures and the retry rules built on them: which failures may pass (connection resets, timeouts, HTTP
5xx/408/425/429) and are worth a retry, the load task's backoff, and how long a failing source can hold a run."""

from __future__ import annotations

from mlops_pipeline.config import DataConfig

_MAX_RETRY_DELAY_SECONDS = 60.0


class DataLoadError(RuntimeError):
    """The data source could not be read and retrying will not help; the message names the source."""


class TransientLoadError(DataLoadError):
    """Reading failed in a way that may pass (connection reset, timeout, HTTP 5xx): worth a retry."""


def is_transient(exc: BaseException) -> bool:
    """Whether a load failure is worth retrying: connection errors, timeouts and HTTP 5xx/408/429 are."""
    if isinstance(exc, TransientLoadError):
        return True
    if isinstance(exc, DataLoadError | FileNotFoundError | PermissionError | IsADirectoryError | ValueError):
        return False
    return isinstance(exc, ConnectionError | TimeoutError | OSError)


def http_status_is_transient(status: int) -> bool:
    """5xx, 408 Request Timeout, 425 Too Early and 429 Too Many Requests may pass; every other 4xx will not."""
    return status >= 500 or status in (408, 425, 429)


RETRY_JITTER_FACTOR = 0.5  # the load task's retry_jitter_factor: a delay may grow by up to half


def load_time_bound(config: DataConfig) -> float:
    """The longest a source that fails transiently forever (503, timeouts) can hold a run, in seconds: every
    attempt up to data.timeout_seconds plus every backoff delay at its largest jitter. Defaults: 5 x 30 s +
    (1 + 2 + 4 + 8) x 1.5 s = 172.5 s. (A read that trickles bytes is bounded per read, not in total.)"""
    delays = retry_delays(config.retries, config.retry_delay_seconds)
    return (config.retries + 1) * config.timeout_seconds + sum(delays) * (1 + RETRY_JITTER_FACTOR)


def retry_delays(retries: int, first_delay: float) -> list[float]:
    """Exponential backoff: first_delay, 2x, 4x, ... capped at a minute (Prefect adds the jitter)."""
    return [min(first_delay * 2**attempt, _MAX_RETRY_DELAY_SECONDS) for attempt in range(retries)]
