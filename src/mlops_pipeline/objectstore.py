"""Object storage with the conditional writes the model store needs, for `s3://bucket/prefix` and `memory://name`.

An object store has no rename and no file lock. What it has instead (S3 since 2024, and moto_server, which the
tests check) are conditional writes: a PUT with `If-None-Match: *` creates an object only if the key is free, and a
PUT with `If-Match: <etag>` replaces it only if nobody replaced it since it was read. Both answer 412 (here:
`PreconditionFailed`) when the condition does not hold. Every PUT is atomic: a reader sees the old object or the
new one, never a part. docs/object-store.md says how the model store builds on these.

- `s3://` goes through s3fs (the `[s3]` extra): credentials and the endpoint come from the usual AWS settings
  (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ... or ~/.aws), nothing is read from the run's parameters.
- `memory://` is a process-local store with the same semantics (a dict under a lock), for fast unit tests.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlparse

OBJECT_SCHEMES = ("s3", "memory")


class PreconditionFailed(Exception):
    """A conditional write lost: the key already exists (create) or changed since it was read (If-Match)."""


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    etag: str


class ObjectStore(Protocol):
    """Keys are relative to the store's URL (`s3://bucket/prefix` + '/' + key)."""

    url: str

    def get(self, key: str) -> StoredObject | None: ...

    def put(self, key: str, data: bytes, *, create: bool = False, if_match: str | None = None) -> str:
        """Write `data`; with `create` only if the key is free, with `if_match` only if its ETag is still that.
        Returns the new ETag; raises PreconditionFailed when the condition does not hold."""
        ...

    def keys_under(self, prefix: str) -> dict[str, datetime]:
        """Every key under `prefix` with its last-modified time."""
        ...

    def delete(self, keys: list[str]) -> None: ...


def is_object_url(root: str) -> bool:
    """Whether a store root names an object store (s3://, memory://) rather than a local folder."""
    return urlparse(root).scheme.lower() in OBJECT_SCHEMES and "://" in root


def open_object_store(url: str) -> ObjectStore:
    scheme = urlparse(url).scheme.lower()
    if scheme == "s3":
        return S3ObjectStore(url)
    if scheme == "memory":
        return MemoryObjectStore(url)
    raise ValueError(f"{url}: not an object store URL (expected {', '.join(s + '://' for s in OBJECT_SCHEMES)})")


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


class S3ObjectStore:
    """`s3://bucket/prefix` through s3fs's botocore client (conditional PUTs are plain put_object arguments)."""

    def __init__(self, url: str):
        parsed = urlparse(url)
        if not parsed.netloc:
            raise ValueError(f"{url}: an s3:// URL needs a bucket (s3://bucket/prefix)")
        self.url = url.rstrip("/")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        try:
            import s3fs  # the [s3] extra; imported here so a local store never needs it
        except ImportError:  # pragma: no cover - depends on the install
            raise ImportError(f"{url}: s3:// stores need s3fs (pip install 'prefect-mlops-pipeline[s3]')") from None
        # a fresh instance per store (no fsspec instance cache): its event loop thread belongs to this process
        self._fs = s3fs.S3FileSystem(skip_instance_cache=True)

    def _key(self, key: str) -> str:
        return _join(self.prefix, key)

    def _run(self, coroutine: Any) -> Any:
        from fsspec.asyn import sync

        return sync(self._fs.loop, lambda: coroutine)

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await self._fs._call_s3(method, Bucket=self.bucket, **kwargs)
        except OSError as exc:  # s3fs turns botocore's ClientError into OSError subclasses; look at the cause
            response = getattr(exc.__cause__, "response", None) or {}
            if response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412:
                raise PreconditionFailed(f"{self.url}/{kwargs.get('Key', '')}: {exc}") from None
            raise

    async def _get(self, key: str) -> StoredObject | None:
        try:
            response = await self._call("get_object", Key=self._key(key))
        except FileNotFoundError:
            return None
        async with response["Body"] as body:
            data = await body.read()
        return StoredObject(data, response["ETag"])

    def get(self, key: str) -> StoredObject | None:
        return self._run(self._get(key))

    def put(self, key: str, data: bytes, *, create: bool = False, if_match: str | None = None) -> str:
        conditions: dict[str, str] = {}
        if create:
            conditions["IfNoneMatch"] = "*"
        if if_match is not None:
            conditions["IfMatch"] = if_match
        response = self._run(self._call("put_object", Key=self._key(key), Body=data, **conditions))
        return str(response["ETag"])

    async def _keys_under(self, prefix: str) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        full = self._key(prefix) + ("/" if prefix.endswith("/") else "")
        token: dict[str, str] = {}
        strip = len(self.prefix) + 1 if self.prefix else 0
        while True:
            page = await self._call("list_objects_v2", Prefix=full, **token)
            for item in page.get("Contents", []):
                found[item["Key"][strip:]] = item["LastModified"]
            if not page.get("IsTruncated"):
                return found
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def keys_under(self, prefix: str) -> dict[str, datetime]:
        return self._run(self._keys_under(prefix))

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # delete_objects takes at most 1000 keys
            chunk = [{"Key": self._key(k)} for k in keys[start : start + 1000]]
            self._run(self._call("delete_objects", Delete={"Objects": chunk, "Quiet": True}))


class MemoryObjectStore:
    """A process-local object store with S3's conditional-write semantics (tests; nothing survives the process)."""

    _buckets: dict[str, dict[str, tuple[bytes, str, datetime]]] = {}
    _lock = threading.Lock()

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        with self._lock:
            self._objects = self._buckets.setdefault(self.url, {})

    def get(self, key: str) -> StoredObject | None:
        with self._lock:
            found = self._objects.get(key)
        return None if found is None else StoredObject(found[0], found[1])

    def put(self, key: str, data: bytes, *, create: bool = False, if_match: str | None = None) -> str:
        with self._lock:
            current = self._objects.get(key)
            if create and current is not None:
                raise PreconditionFailed(f"{self.url}/{key}: exists (If-None-Match: *)")
            if if_match is not None and (current is None or current[1] != if_match):
                raise PreconditionFailed(f"{self.url}/{key}: changed since it was read (If-Match)")
            etag = f'"{hashlib.md5(data + uuid.uuid4().bytes, usedforsecurity=False).hexdigest()}"'
            self._objects[key] = (bytes(data), etag, datetime.now(UTC))
            return etag

    def keys_under(self, prefix: str) -> dict[str, datetime]:
        with self._lock:
            return {k: v[2] for k, v in self._objects.items() if k.startswith(prefix)}

    def delete(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._objects.pop(key, None)

    @classmethod
    def clear(cls, url: str) -> None:
        """Forget everything under one memory:// URL (tests)."""
        with cls._lock:
            cls._buckets.pop(url.rstrip("/"), None)
