"""Cache keys that survive across runs: data fingerprint + the config that matters + the code version.

Prefect's DEFAULT policy includes the run id (never hits across runs), INPUTS would hash whole arrays and has no
task identity, and TASK_SOURCE ignores helper code; so keys are built here from cheap, meaningful parts.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel

_PACKAGES_THAT_SHAPE_MODELS = ("scikit-learn", "numpy", "joblib")


@cache
def code_version() -> str:
    """sha256 (12 hex) of the pipeline's source plus the versions of the libraries that shape model bytes.

    Any edit to the library, `tasks/` or `flows/` changes it, helper modules included, so cached results never
    outlive code. The task and flow folders are located without importing them (they import Prefect).
    """
    digest = hashlib.sha256()
    for package in ("mlops_pipeline", "mlops_pipeline.tasks", "mlops_pipeline.flows"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"package {package} is not installed (pip install -e .)")
        folder = Path(next(iter(spec.submodule_search_locations)))
        for source in sorted(folder.rglob("*.py")):  # subpackages (registry/) included
            digest.update(f"{package}/{source.relative_to(folder).as_posix()}".encode() + b"\0" + source.read_bytes())
    for name in _PACKAGES_THAT_SHAPE_MODELS:
        digest.update(f"{name}=={metadata.version(name)}".encode())
    return digest.hexdigest()[:12]


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "fingerprint"):
        return value.fingerprint
    return value


def make_cache_key(task_name: str, *parts: Any) -> str:
    """A stable key from the task's name, small identifying parts (fingerprints, config sections) and code."""
    payload = json.dumps([task_name, code_version(), *(_plain(p) for p in parts)], sort_keys=True, default=str)
    return f"{task_name}-{hashlib.sha256(payload.encode()).hexdigest()[:32]}"
