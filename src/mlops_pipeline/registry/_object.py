"""The model store on an object store (`s3://bucket/prefix`, `memory://name`): conditional writes, no lock.

Layout (keys under the root)::

    <name>/champion.json       the pointer, moved only by a PUT with If-Match on the ETag read (or
                               If-None-Match: * when there is none yet)
    <name>/vN/.claim           created with If-None-Match: * - the number is taken (a 412 means try N+1)
    <name>/vN/<files>          model files, card.json, card.json.hmac, written after the claim
    <name>/vN/_COMMITTED       written last: the version is visible (readers ignore versions without it)

A promoted version is also visible while the pointer names it (its files and card are complete before the
pointer moves to it, and its marker follows; a publisher that finds the marker missing when it moves the
pointer away adds it). Nothing here relies on rename or a lock; docs/object-store.md has the argument. What is
shared with every backend (cards, signing, the re-check on a lost swap, rollback, loading) is in `_base.Store`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from datetime import UTC, datetime

from mlops_pipeline.objectstore import ObjectStore, PreconditionFailed, open_object_store
from mlops_pipeline.registry._base import Store
from mlops_pipeline.registry._common import (
    CARD_FILE,
    CHAMPION_FILE,
    RegistryError,
    is_version_name,
    json_bytes,
    version_number,
)

CLAIM_FILE = ".claim"
COMMITTED_FILE = "_COMMITTED"
STALE_CLAIM_SECONDS = 3600.0  # a claim without its marker this old is a killed publish, not a slow one


class ObjectModelStore(Store):
    """One model name's versions and champion pointer on an object store (`s3://bucket/prefix`, `memory://x`)."""

    pointer_reveals_version = True

    def __init__(self, root: str, name: str, lock_timeout: float = 120.0, objects: ObjectStore | None = None) -> None:
        self.root = root.rstrip("/")
        self.name = name
        self.lock_timeout = lock_timeout  # how long a publish keeps retrying a lost compare-and-swap
        self.objects = objects if objects is not None else open_object_store(self.root)

    def _key(self, version: str | None = None, filename: str | None = None) -> str:
        return "/".join(p for p in (self.name, version, filename) if p is not None)

    def location(self, version: str | None = None, filename: str | None = None) -> str:
        return f"{self.root}/{self._key(version, filename)}"

    # ---- reading ----------------------------------------------------------------------------------------
    def _listing(self) -> dict[str, dict[str, datetime]]:
        """Each version prefix under the name with its files and their last-modified times."""
        found: dict[str, dict[str, datetime]] = {}
        for key, modified in self.objects.keys_under(f"{self.name}/").items():
            version, _, filename = key[len(self.name) + 1 :].partition("/")
            if filename and is_version_name(version):
                found.setdefault(version, {})[filename] = modified
        return found

    def _read_pointer(self) -> tuple[bytes | None, str | None]:
        stored = self.objects.get(self._key(filename=CHAMPION_FILE))
        return (None, None) if stored is None else (stored.data, stored.etag)

    def versions(self) -> list[str]:
        listing = self._listing()
        visible = {v for v, files in listing.items() if COMMITTED_FILE in files}
        pointer = self.pointer()
        if pointer is not None and CARD_FILE in listing.get(pointer["version"], {}):
            visible.add(pointer["version"])
        return sorted(visible, key=version_number)

    def _has_version(self, version: str) -> bool:
        if self.objects.get(self._key(version, COMMITTED_FILE)) is not None:
            return True
        pointer = self.pointer()
        return pointer is not None and pointer["version"] == version

    def _read(self, version: str, filename: str) -> bytes | None:
        stored = self.objects.get(self._key(version, filename))
        return None if stored is None else stored.data

    def _model_exists(self) -> bool:
        return bool(self._listing())

    # ---- writing ----------------------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Fail now (no bucket, no credentials, read-only) by writing and removing a probe object."""
        probe = self._key(filename=f".write-probe-{uuid.uuid4().hex}")
        try:
            self.objects.put(probe, b"")
            self.objects.delete([probe])
        except Exception as exc:  # botocore and s3fs raise many kinds; all mean the same here
            raise RegistryError(
                f"{self.location()}: the model store is not writable ({type(exc).__name__}: {exc}); "
                "fix registry.root, the bucket or the credentials before training"
            ) from None

    def clean_stale_staging(self, older_than: float = STALE_CLAIM_SECONDS) -> list[str]:
        """Remove claimed versions without a marker whose claim is older than `older_than` seconds (a publish
        killed before its marker); younger ones may belong to a run still writing, on any host."""
        removed: list[str] = []
        pointer = self.pointer()
        now = datetime.now(UTC)
        for version, files in self._listing().items():
            if COMMITTED_FILE in files or (pointer is not None and pointer["version"] == version):
                continue
            claimed = files.get(CLAIM_FILE) or min(files.values())
            if (now - claimed).total_seconds() < older_than:
                continue
            self.objects.delete([self._key(version, f) for f in files])
            removed.append(version)
        return removed

    def _begin_version(self) -> str:
        """Take the next free version number with a conditional create; a lost race tries the next number."""
        taken = [version_number(v) for v in self._listing()]
        number = max(taken, default=0) + 1
        claim = json_bytes({"pid": os.getpid(), "host": os.uname().nodename, "at": datetime.now(UTC).isoformat()})
        while True:
            try:
                self.objects.put(self._key(f"v{number}", CLAIM_FILE), claim, create=True)
                return f"v{number}"
            except PreconditionFailed:
                number += 1

    def _write(self, staged: str, filename: str, data: bytes) -> None:
        try:
            self.objects.put(self._key(staged, filename), data)
        except OSError as exc:  # s3fs's errors are OSErrors (permissions, missing bucket, network)
            raise RegistryError(
                f"{self.location(staged, filename)}: could not write {len(data)} bytes ({exc}); nothing was "
                "published and the champion is unchanged"
            ) from None

    def _claim_number(self, staged: str) -> str:
        return staged  # the number was claimed when the version began

    def _make_visible(self, staged: str, version: str) -> None:
        with contextlib.suppress(PreconditionFailed):  # already visible
            self.objects.put(self._key(version, COMMITTED_FILE), json_bytes({"version": version}), create=True)

    def _discard(self, staged: str) -> None:
        """Nothing: the claim stays invisible, and `clean_stale_staging` removes it once it is old (a writer on
        another host cannot tell a failed publish from a slow one)."""

    def _swap_pointer(self, data: bytes, version: str, previous: str | None, token: str | None) -> None:
        """Compare-and-swap the pointer from what was read (`token`, its ETag); PreconditionFailed if it moved."""
        if previous is not None:
            self._make_visible(previous, previous)  # the version moved away from stays visible
        key = self._key(filename=CHAMPION_FILE)
        if token is None:
            self.objects.put(key, data, create=True)
        else:
            self.objects.put(key, data, if_match=token)
