"""Where a deployment run may read data from and write models to: the allow-list of local roots.

A deployment run's parameters come from whoever can reach the Prefect API. Without a check, `registry.root`
and `data.source` could point anywhere on the worker's disk (overwrite another store, read any file). A run that
belongs to a deployment therefore checks both against the allowed roots, which come from the worker's
environment, never from the run's parameters:

- `MLOPS_ALLOWED_ROOTS` (os.pathsep-separated folders), when set;
- otherwise the project folder (the worker's working directory) and the store root of the deployment's own
  config.

Built-in data set names and remote URLs (http(s)://, s3://, ...) as `data.source` are not local paths and are not
restricted here; `file://` URLs and plain paths are. An object-store `registry.root` (s3://bucket/prefix,
memory://...) is allowed only at or under an allowed URL (at a `/` boundary, no `..` segment): the URLs listed in
`MLOPS_ALLOWED_ROOTS` beside the folders, or else the deployment config's own store root when it is a URL. See
docs/security.md and docs/object-store.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlops_pipeline.config import ConfigError, PipelineConfig
from mlops_pipeline.data import BUILTIN_DATASETS
from mlops_pipeline.objectstore import is_object_url
from mlops_pipeline.settings import Settings

ALLOWED_ROOTS_ENV = "MLOPS_ALLOWED_ROOTS"


class PathNotAllowed(ConfigError):
    """A run parameter points the model store or the data outside the roots this deployment allows."""


def _split_roots(value: str) -> list[str]:
    # os.pathsep is ':' on Linux, which every URL contains after its scheme: a URL runs to the next separator
    sep = re.escape(os.pathsep)
    return [p.strip() for p in re.findall(rf"[a-zA-Z][a-zA-Z0-9+.-]*://[^{sep}]*|[^{sep}]+", value) if p.strip()]


def _normal_url(url: str) -> str:
    return url.strip().rstrip("/")


def allowed_roots(
    environ: Mapping[str, str], project_dir: Path, deployment_config: Mapping[str, Any] | None
) -> list[Path | str]:
    """The resolved roots a deployment run may use: folders (Path) and object-store URL prefixes (str); see the
    module docstring for where they come from."""
    configured = (Settings.from_environ(environ).allowed_roots or "").strip()
    if configured:
        return [
            _normal_url(p) if is_object_url(p) else Path(p).expanduser().resolve() for p in _split_roots(configured)
        ]
    roots: list[Path | str] = [project_dir.resolve()]
    store_root = ((deployment_config or {}).get("registry") or {}).get("root")
    if store_root and is_object_url(store_root):
        roots.append(_normal_url(store_root))
    elif store_root:
        roots.append((project_dir / Path(store_root).expanduser()).resolve())
    return roots


def url_allowed(url: str, roots: Iterable[Path | str]) -> bool:
    """Whether an object-store URL is one of the allowed URL prefixes or under one (at a '/' boundary)."""
    url = _normal_url(url)
    if ".." in url.split("://", 1)[-1].split("/"):
        return False
    return any(isinstance(r, str) and (url == r or url.startswith(r + "/")) for r in roots)


def local_path(source: str) -> Path | None:
    """The local file a data source names, or None for a built-in set or a remote URL."""
    if source in BUILTIN_DATASETS:
        return None
    if "://" in source:
        parsed = urlparse(source)
        return Path(unquote(parsed.path)) if parsed.scheme.lower() == "file" else None
    return Path(source).expanduser()


def _inside(path: Path, roots: Iterable[Path | str]) -> bool:
    return any(isinstance(root, Path) and (path == root or path.is_relative_to(root)) for root in roots)


def check_allowed_paths(config: PipelineConfig, roots: list[Path | str], project_dir: Path) -> None:
    """Raise PathNotAllowed naming the key, the resolved path and the allowed roots, for every key outside them.

    Paths are resolved (symlinks and `..` followed) before the comparison, so `models/../../etc` is caught.
    """
    wanted: dict[str, Path] = {}
    outside: list[str] = []
    if is_object_url(config.registry.root):
        if not url_allowed(config.registry.root, roots):
            outside.append(f"registry.root={config.registry.root}")
    else:
        wanted["registry.root"] = project_dir / Path(config.registry.root).expanduser()
    data_path = local_path(config.data.source)
    if data_path is not None:
        wanted["data.source"] = project_dir / data_path
    outside += [f"{key}={path.resolve()}" for key, path in wanted.items() if not _inside(path.resolve(), roots)]
    if outside:
        allowed = ", ".join(str(r) for r in roots)
        raise PathNotAllowed(
            f"run parameters point outside the roots this deployment allows: {'; '.join(outside)} "
            f"(allowed: {allowed}; set {ALLOWED_ROOTS_ENV} on the worker to change them)"
        )
