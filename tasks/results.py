"""Where cached task results live: local disk by default, an object store when `MLOPS_RESULT_STORAGE` is set.

`MLOPS_RESULT_STORAGE=s3://bucket/prefix` (any fsspec URL) makes the cached tasks (`train`, `train_candidate`) keep
their results there through Prefect's `RemoteFileSystem` block, so a run on another host (another checkout, another
PREFECT_HOME) with the same cache key reads the first host's result instead of training again. The block is built
at run time from the worker's environment and saved on the run's Prefect server under a name derived from the URL
(Prefect 3.8 refuses an unsaved block as result storage: "must be persisted server-side"); S3 credentials and
the endpoint come from the usual AWS settings (`AWS_ENDPOINT_URL`, ...). Unset, prefect.toml's
`[results] local_storage_path` applies, as before. docs/object-store.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, TypeVar

from prefect.filesystems import RemoteFileSystem

from mlops_pipeline.settings import Settings

RESULT_STORAGE_ENV = Settings.variable("result_storage")

TaskT = TypeVar("TaskT", bound=Any)


def result_storage_from(environ: Mapping[str, str]) -> RemoteFileSystem | None:
    """The result storage the environment names, or None for Prefect's configured (local) default."""
    url = Settings.from_environ(environ).result_storage  # a URL without its trailing '/' (SettingsError if not)
    return None if url is None else RemoteFileSystem(basepath=url)


def with_result_storage(task: TaskT, environ: Mapping[str, str]) -> TaskT:
    """`task` keeping its results where the environment says (itself unchanged when it says nothing)."""
    storage = result_storage_from(environ)
    if storage is None:
        return task
    # the same URL always saves to the same block name, so runs on every host agree and re-saving is harmless
    storage.save(block_name(storage.basepath), overwrite=True, _sync=True)  # type: ignore[call-arg]
    return task.with_options(result_storage=storage)


def block_name(url: str) -> str:
    """The block name a result-storage URL is saved under (lowercase letters, digits and dashes)."""
    return f"mlops-results-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
