"""`open_store`: the backend for a root (an object store for s3:// and memory:// URLs, else a local folder)."""

from __future__ import annotations

from pathlib import Path

from mlops_pipeline.objectstore import is_object_url
from mlops_pipeline.registry._base import Store
from mlops_pipeline.registry._local import ModelStore
from mlops_pipeline.registry._object import ObjectModelStore


def open_store(root: str | Path, name: str, lock_timeout: float = 120.0) -> Store:
    """The store for a root: an object store for s3:// and memory:// URLs, else the local folder store."""
    if isinstance(root, str) and is_object_url(root):
        return ObjectModelStore(root, name, lock_timeout)
    return ModelStore(root, name, lock_timeout)
