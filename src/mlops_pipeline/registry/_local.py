"""The model store on a local (or shared POSIX) folder: a file lock and an atomic rename.

Layout::

    <root>/<model-name>/
        champion.json          {"version": "v3", "card_sha256": ..., "promoted_at": ...}, replaced atomically
        .lock                  the store's file lock (held while a version is claimed or the champion moves)
        .staging-<pid>-<hex>/  a version being written (never read; removed once its writer is gone)
        v1/ v2/ v3/ ...        one folder per version, created complete by one rename

A version's files are staged under a hidden folder and renamed into place, so readers never see half a version;
`rename` onto an existing version fails, so two writers cannot take the same number. Choosing the number and
moving the champion happen under the lock, so the pointer swap never loses and a promotion re-checks the
champion it replaces. Staging folders left by a killed writer are removed by the next publish once their
process is gone (docs/reliability.md). What is shared with every backend (cards, signing, verification,
rollback, loading) is in `_base.Store`.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from mlops_pipeline.registry._base import Store
from mlops_pipeline.registry._common import (
    CHAMPION_FILE,
    RegistryError,
    VersionInfo,
    is_version_name,
    version_number,
    write_atomic,
)

LOCK_FILE = ".lock"
STAGING_PREFIX = ".staging-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _write_or_explain(path: Path, data: bytes) -> None:
    """Write a staged file; a full disk or a read-only store fails with the path and the reason."""
    try:
        with path.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        hint = " (the disk is full)" if exc.errno == errno.ENOSPC else ""
        raise RegistryError(
            f"{path}: could not write {len(data)} bytes{hint}: {exc.strerror or exc}; "
            "nothing was published and the champion is unchanged"
        ) from None


class ModelStore(Store):
    """One model name's versions and champion pointer under a root folder."""

    def __init__(self, root: str | Path, name: str, lock_timeout: float = 120.0):
        self.root = Path(root)
        self.name = name
        self.folder = self.root / name
        self.lock_timeout = lock_timeout

    def location(self, version: str | None = None, filename: str | None = None) -> str:
        path = self.folder
        for part in (version, filename):
            if part is not None:
                path = path / part
        return str(path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's lock (across processes); fail clearly if another holder keeps it too long."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.folder / LOCK_FILE, timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            raise RegistryError(
                f"{self.folder / LOCK_FILE}: another process has held the model store lock for over "
                f"{self.lock_timeout:g} s (registry.lock_timeout_seconds)"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _exclusive(self) -> AbstractContextManager[None]:
        return self.locked()

    # ---- reading ----------------------------------------------------------------------------------------
    def versions(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        found = [p.name for p in self.folder.iterdir() if p.is_dir() and is_version_name(p.name)]
        return sorted(found, key=version_number)

    def version_path(self, version: str) -> Path:
        self._require_version(version)
        return self.folder / version

    def _has_version(self, version: str) -> bool:
        return (self.folder / version).is_dir()

    def _read(self, version: str, filename: str) -> bytes | None:
        try:
            return (self.folder / version / filename).read_bytes()
        except FileNotFoundError:
            return None

    def _model_exists(self) -> bool:
        return self.folder.is_dir()

    def _read_pointer(self) -> tuple[bytes | None, str | None]:
        try:
            return (self.folder / CHAMPION_FILE).read_bytes(), None
        except FileNotFoundError:
            return None, None

    def info(self, version: str) -> VersionInfo:
        return VersionInfo(version, self.version_path(version), self.card(version))

    # ---- writing ----------------------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Fail now, naming the folder, if the store cannot be written (read-only mount, permissions): a run
        checks this before it loads data or trains, not after."""
        if not self.folder.is_dir():  # create nothing yet: probe the nearest folder that exists
            existing = next(p for p in (self.folder, *self.folder.parents) if p.exists())
            if not (existing.is_dir() and os.access(existing, os.W_OK)):
                raise RegistryError(
                    f"{self.folder}: the model store is not writable ({existing} is not a "
                    "writable folder); fix registry.root or its permissions before training"
                )
            return
        try:
            fd, probe = tempfile.mkstemp(dir=self.folder, prefix=".write-probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise RegistryError(
                f"{self.folder}: the model store is not writable ({exc.strerror or exc}); "
                "fix registry.root or its permissions before training"
            ) from None

    def clean_stale_staging(self) -> list[str]:
        """Remove staging folders whose writer process is gone (a publish killed before its rename)."""
        removed: list[str] = []
        if not self.folder.is_dir():
            return removed
        for path in self.folder.iterdir():
            if not (path.is_dir() and path.name.startswith(STAGING_PREFIX)):
                continue
            pid_text = path.name[len(STAGING_PREFIX) :].split("-", 1)[0]
            if pid_text.isdigit() and _pid_alive(int(pid_text)):
                continue  # another writer on this machine is still staging
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
        return removed

    def _begin_version(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        staged = f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        (self.folder / staged).mkdir()
        return staged

    def _write(self, staged: str, filename: str, data: bytes) -> None:
        _write_or_explain(self.folder / staged / filename, data)

    def _claim_number(self, staged: str) -> str:
        existing = self.versions()  # under the lock; the rename below refuses a number taken anyway
        return f"v{version_number(existing[-1]) + 1 if existing else 1}"

    def _make_visible(self, staged: str, version: str) -> None:
        # rename(2) onto an existing non-empty folder fails: even a writer that ignores the lock cannot take a
        # number already claimed
        os.rename(self.folder / staged, self.folder / version)

    def _discard(self, staged: str) -> None:
        shutil.rmtree(self.folder / staged, ignore_errors=True)

    def _swap_pointer(self, data: bytes, version: str, previous: str | None, token: str | None) -> None:
        # the lock is held (`_exclusive`): nobody else moves the pointer, so the swap cannot lose
        try:
            write_atomic(self.folder / CHAMPION_FILE, data)
        except OSError as exc:
            raise RegistryError(
                f"{self.folder / CHAMPION_FILE}: could not move the champion to {version} "
                f"({exc.strerror or exc}); the pointer is unchanged"
            ) from None
