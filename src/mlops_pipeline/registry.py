"""The versioned model store on local disk, with a champion pointer.

Layout::

    <root>/<model-name>/
        champion.json          {"version": "v3", "card_sha256": ..., "promoted_at": ...}, replaced atomically
        .lock                  the store's file lock (held while a version is claimed or the champion moves)
        v1/ v2/ v3/ ...        one folder per version, created complete by one rename
            model.joblib       the float scikit-learn Pipeline
            model.int8.npz     the int8 model (numpy.load(allow_pickle=False)); absent when quantization is off
            card.json          status (passed/rejected), metrics, config, data fingerprint, sha256 of every
                               file, code version, run id
            card.json.hmac     HMAC-SHA256 of card.json, only when MLOPS_STORE_HMAC_KEY is set at publish

A version folder is staged under a hidden temporary name and renamed into place, so readers never see half a
version; `rename` onto an existing version fails, so two writers cannot claim the same number. Claiming a
number and moving the champion happen under a file lock, so a promotion can re-check the champion it is about
to replace (another run may have promoted one since this run's gate) without a race. Files are verified
against the sha256 in `card.json` before anything is unpickled, and the champion's `card.json` is verified
against the `card_sha256` its pointer records, so a card and a model edited together are refused. With
`MLOPS_STORE_HMAC_KEY` set, every card is also signed, and a card whose signature does not match is refused
(docs/security.md). Staging folders left by a killed writer (`.staging-<pid>-...`) are never read and are
removed by the next publish once their process is gone (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import joblib
from filelock import FileLock, Timeout

from mlops_pipeline.objectstore import ObjectStore, PreconditionFailed, is_object_url, open_object_store
from mlops_pipeline.plain import sha256_stream
from mlops_pipeline.quantize import QuantizedModel
from mlops_pipeline.settings import get_settings

FLOAT_MODEL_FILE = "model.joblib"
INT8_MODEL_FILE = "model.int8.npz"
CARD_FILE = "card.json"
CHAMPION_FILE = "champion.json"
LOCK_FILE = ".lock"
SIGNATURE_FILE = "card.json.hmac"
HMAC_KEY_ENV = "MLOPS_STORE_HMAC_KEY"
STAGING_PREFIX = ".staging-"
PASSED = "passed"
REJECTED = "rejected"
_VERSION_PATTERN = re.compile(r"^v(\d+)$")


class RegistryError(RuntimeError):
    """The model store is missing something or holds something it should not; the message names the path."""


class IntegrityError(RegistryError):
    """A stored file does not match the sha256 recorded in its card: it was changed or truncated."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def card_signature(card_bytes: bytes, key: str) -> str:
    """HMAC-SHA256 of a card's exact bytes with the store key (hex)."""
    return hmac.new(key.encode(), card_bytes, hashlib.sha256).hexdigest()


def _hmac_key() -> str | None:
    key = get_settings().store_hmac_key
    return key.get_secret_value() if key is not None else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return sha256_stream(handle.read)[0]


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces `path` only when the block ends without error: readers see the old
    file or the new one, never a part (temp file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never a part."""
    with atomic_writer(path) as handle:
        handle.write(data)


def json_bytes(payload: Any) -> bytes:
    return (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode()


def version_number(version: str) -> int:
    match = _VERSION_PATTERN.match(version)
    if not match:
        raise RegistryError(f"'{version}' is not a version name (expected v1, v2, ...)")
    return int(match.group(1))


@dataclass(frozen=True)
class VersionInfo:
    version: str
    path: Path
    card: dict[str, Any]


@dataclass(frozen=True)
class Publication:
    """What `publish` did: the version it stored, its status, and whether it became the champion."""

    version: str
    status: str  # PASSED or REJECTED
    promoted: bool
    reason: str


# Given the champion's version at promotion time, the reasons (empty: none) the candidate must not replace it.
ChampionRecheck = Callable[[str], list[str]]


class Store:
    """What every store does the same way on top of its storage: cards, HMAC and sha256 checks, loading.

    Two stores: `ModelStore` (a local folder) and `ObjectModelStore` (s3://, memory://); `open_store` picks one
    by the root. A store provides `name`, `versions()`, `pointer()`, `_require_version(version)` (a
    RegistryError naming the known versions), `_read(version, filename)` (None when absent) and
    `location(version, filename)` (for messages).
    """

    name: str

    def versions(self) -> list[str]:
        raise NotImplementedError

    def pointer(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def _require_version(self, version: str) -> None:
        raise NotImplementedError

    def _read(self, version: str, filename: str) -> bytes | None:
        raise NotImplementedError

    def location(self, version: str | None = None, filename: str | None = None) -> str:
        raise NotImplementedError

    def check_writable(self) -> None:
        raise NotImplementedError

    def clean_stale_staging(self) -> list[str]:
        raise NotImplementedError

    def publish(
        self,
        files: dict[str, bytes],
        card: dict[str, Any],
        *,
        promote: bool = False,
        gated_against: str | None = None,
        recheck: ChampionRecheck | None = None,
        reason: str = "",
    ) -> Publication:
        raise NotImplementedError

    def promote(self, version: str, reason: str = "", force: bool = False) -> None:
        raise NotImplementedError

    def rollback(self, version: str | None = None) -> tuple[str, str]:
        raise NotImplementedError

    def card_bytes(self, version: str) -> bytes:
        data = self._read(version, CARD_FILE)
        if data is None:
            raise RegistryError(f"{self.location(version, CARD_FILE)}: missing model card")
        return data

    def _parse_card(self, version: str, data: bytes) -> dict[str, Any]:
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(f"{self.location(version, CARD_FILE)}: model card is not valid JSON ({exc})") from None

    def card(self, version: str) -> dict[str, Any]:
        """A version's card as stored (for listing and inspection; loads go through `verified_card`)."""
        return self._parse_card(version, self.card_bytes(version))

    def verified_card(self, version: str) -> dict[str, Any]:
        """The card, only after (1) its HMAC matches when MLOPS_STORE_HMAC_KEY is set and (2), for the champion,
        its sha256 matches the `card_sha256` the champion pointer recorded when it moved."""
        data = self.card_bytes(version)
        key = _hmac_key()
        if key is not None:
            signed = self._read(version, SIGNATURE_FILE)
            if signed is None:
                raise IntegrityError(
                    f"{self.location(version, SIGNATURE_FILE)}: missing; {HMAC_KEY_ENV} is set, so every card must be "
                    "signed (publish with the key set, or re-sign after checking it)"
                )
            signature = signed.decode("utf-8", errors="replace").strip()
            if not hmac.compare_digest(signature, card_signature(data, key)):
                raise IntegrityError(
                    f"{self.location(version, CARD_FILE)}: HMAC does not match {SIGNATURE_FILE} (the card was "
                    f"edited, or signed with another {HMAC_KEY_ENV}); refusing to trust it"
                )
        pointer = self.pointer()
        if pointer is not None and pointer["version"] == version and pointer.get("card_sha256") is not None:
            actual = sha256_bytes(data)
            if actual != pointer["card_sha256"]:
                raise IntegrityError(
                    f"{self.location(version, CARD_FILE)}: sha256 {actual[:16]}... does not match the card_sha256 "
                    f"{pointer['card_sha256'][:16]}... that {self.location(filename=CHAMPION_FILE)} recorded: the card "
                    "was edited after promotion; refusing to load the champion"
                )
        return self._parse_card(version, data)

    def champion(self) -> str | None:
        pointer = self.pointer()
        if pointer is None:
            return None
        version = pointer["version"]
        self._require_version(version)
        return version

    def verified_bytes(self, version: str, filename: str) -> bytes:
        """A stored file's bytes, only after its sha256 matches the (verified) card."""
        card = self.verified_card(version)
        path = self.location(version, filename)
        expected = card.get("files", {}).get(filename, {}).get("sha256")
        if expected is None:
            raise IntegrityError(f"{path}: not listed in {CARD_FILE}; refusing to load an unverified file")
        data = self._read(version, filename)
        if data is None:
            raise RegistryError(f"{path}: file missing")
        actual = sha256_bytes(data)
        if actual != expected:
            raise IntegrityError(
                f"{path}: sha256 mismatch (card says {expected[:16]}..., file is {actual[:16]}...): "
                "the file was modified or truncated; refusing to load it"
            )
        return data

    def verify(self, version: str) -> list[str]:
        """Check every file listed in the card against its sha256; return the file names checked."""
        names = sorted(self.verified_card(version).get("files", {}))
        if FLOAT_MODEL_FILE not in names:
            raise IntegrityError(f"{self.location(version, CARD_FILE)}: lists no {FLOAT_MODEL_FILE}")
        for filename in names:
            self.verified_bytes(version, filename)
        return names

    def passing_versions(self) -> list[str]:
        """Versions whose card says they passed every check, oldest first."""
        return [v for v in self.versions() if self.card(v).get("status") == PASSED]

    def best_passed_metric(
        self, metric: str, data_fingerprint: str, lower_is_better: bool, up_to: str | None = None
    ) -> tuple[str, float] | None:
        """The best `metric` any passed version reached on the same held-out data definition (the card's
        `data.fingerprint`: data bytes + target + features + test_size + seed + imputation), with its version."""
        best: tuple[str, float] | None = None
        for version in self.passing_versions():
            if up_to is not None and version_number(version) > version_number(up_to):
                continue
            card = self.card(version)
            value = (card.get("metrics") or {}).get(metric)
            if value is None or (card.get("data") or {}).get("fingerprint") != data_fingerprint:
                continue
            if best is None or (value < best[1] if lower_is_better else value > best[1]):
                best = (version, float(value))
        return best

    def load_float_model(self, version: str) -> Any:
        data = self.verified_bytes(version, FLOAT_MODEL_FILE)
        return joblib.load(io.BytesIO(data))

    def load_quantized_model(self, version: str) -> QuantizedModel:
        data = self.verified_bytes(version, INT8_MODEL_FILE)
        return QuantizedModel.from_bytes(data, origin=self.location(version, INT8_MODEL_FILE))


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

    def _require_version(self, version: str) -> None:
        self.version_path(version)

    def _read(self, version: str, filename: str) -> bytes | None:
        try:
            return (self.version_path(version) / filename).read_bytes()
        except FileNotFoundError:
            return None

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

    # ---- reading ----------------------------------------------------------------------------------------
    def versions(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        found = [p.name for p in self.folder.iterdir() if p.is_dir() and _VERSION_PATTERN.match(p.name)]
        return sorted(found, key=version_number)

    def version_path(self, version: str) -> Path:
        version_number(version)
        path = self.folder / version
        if not path.is_dir():
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"{path}: no such version of '{self.name}' (versions: {known})")
        return path

    def pointer(self) -> dict[str, Any] | None:
        """The champion pointer's content, or None when there is no champion."""
        path = self.folder / CHAMPION_FILE
        if not path.exists():
            return None
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            payload["version"]  # noqa: B018 - a pointer without a version is unreadable
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise IntegrityError(f"{path}: unreadable champion pointer ({exc})") from None
        return payload

    def info(self, version: str) -> VersionInfo:
        return VersionInfo(version, self.version_path(version), self.card(version))

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

    # ---- writing ----------------------------------------------------------------------------------------
    def publish(
        self,
        files: dict[str, bytes],
        card: dict[str, Any],
        *,
        promote: bool = False,
        gated_against: str | None = None,
        recheck: ChampionRecheck | None = None,
        reason: str = "",
    ) -> Publication:
        """Store a new version (v1, v2, ...) with its files and card, and promote it if asked.

        The card gets `version`, `status`, `reason`, `created_at` and the sha256 and size of every file. With
        `promote`, the candidate was gated against the champion `gated_against`; if another run has moved the
        champion since, `recheck(current)` is run under the lock and any reason it gives stores the version as
        rejected instead. Claiming the number, writing the card and moving the pointer all happen under the
        store's lock, so concurrent runs see each other's promotions.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = self.folder / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            # the big writes happen before taking the lock, so other runs wait only for the rename
            for filename, data in files.items():
                _write_or_explain(staging / filename, data)
            _fsync_folder_files(staging)
            file_entries = {name: {"sha256": sha256_bytes(d), "bytes": len(d)} for name, d in files.items()}
            with self.locked():
                self.clean_stale_staging()
                status, promoted = (PASSED, True) if promote else (REJECTED, False)
                current = self.champion() if promote else None
                rechecked_against = None
                if promote and current is not None and current != gated_against and recheck is not None:
                    problems = recheck(current)
                    rechecked_against = current
                    if problems:
                        status, promoted = REJECTED, False
                        reason = (
                            f"the champion moved to {current} during this run and the candidate does not "
                            f"beat it: {'; '.join(problems)}"
                        )
                existing = self.versions()
                version = f"v{version_number(existing[-1]) + 1 if existing else 1}"
                full_card = {
                    **card,
                    "model_name": self.name,
                    "files": file_entries,
                    "version": version,
                    "status": status,
                    "reason": reason,
                    "rechecked_against": rechecked_against,
                    "created_at": datetime.now(UTC).isoformat(),
                }
                card_data = json_bytes(full_card)
                _write_or_explain(staging / CARD_FILE, card_data)
                key = _hmac_key()
                if key is not None:
                    _write_or_explain(staging / SIGNATURE_FILE, (card_signature(card_data, key) + "\n").encode())
                # rename(2) onto an existing non-empty folder fails: even a writer that ignores the lock cannot
                # take a number already claimed.
                os.rename(staging, self.folder / version)
                if promoted:
                    self._write_pointer(version, reason)
            return Publication(version, status, promoted, reason)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _write_pointer(self, version: str, reason: str) -> None:
        # the card's sha256 pins what was promoted: a card edited later (with its model) no longer matches
        payload = {
            "version": version,
            "card_sha256": sha256_bytes(self.card_bytes(version)),
            "promoted_at": datetime.now(UTC).isoformat(),
            "reason": reason,
        }
        try:
            write_atomic(self.folder / CHAMPION_FILE, json_bytes(payload))
        except OSError as exc:
            raise RegistryError(
                f"{self.folder / CHAMPION_FILE}: could not move the champion to {version} "
                f"({exc.strerror or exc}); the pointer is unchanged"
            ) from None

    def promote(self, version: str, reason: str = "", force: bool = False) -> None:
        """Point the champion at `version` (files verified first); a rejected version only with `force`."""
        self.version_path(version)  # an unknown name or version fails here, before the lock creates any file
        with self.locked():
            self.verify(version)
            status = self.card(version).get("status")
            if status != PASSED and not force:
                raise RegistryError(
                    f"{self.version_path(version)}: status is '{status}', not '{PASSED}'; it failed a check "
                    "(see its card) - promote it anyway with --force"
                )
            self._write_pointer(version, reason)

    def rollback(self, version: str | None = None) -> tuple[str, str]:
        """Move the champion back to `version`, or to the newest passing version older than the champion.

        Returns (previous champion, new champion).
        """
        if not self.folder.is_dir():  # fail before the lock creates the folder of a name that does not exist
            raise RegistryError(f"{self.folder}: no model named '{self.name}'")
        with self.locked():
            current = self.champion()
            if version is None:
                if current is None:
                    raise RegistryError(f"{self.folder}: no champion to roll back from")
                older = [v for v in self.passing_versions() if version_number(v) < version_number(current)]
                if not older:
                    raise RegistryError(f"{self.folder}: no passing version older than the champion {current}")
                version = older[-1]
            status = self.card(version).get("status")
            if status != PASSED:
                raise RegistryError(
                    f"{self.version_path(version)}: status is '{status}'; roll back to a "
                    f"passing version ({', '.join(self.passing_versions()) or 'none'})"
                )
            self.verify(version)
            self._write_pointer(version, f"rolled back from {current}")
            return current or "none", version


CLAIM_FILE = ".claim"
COMMITTED_FILE = "_COMMITTED"
STALE_CLAIM_SECONDS = 3600.0  # a claim without its marker this old is a killed publish, not a slow one


class ObjectModelStore(Store):
    """One model name's versions and champion pointer on an object store (`s3://bucket/prefix`, `memory://x`).

    Layout (keys under the root)::

        <name>/champion.json       the pointer, moved only by a PUT with If-Match on the ETag read (or
                                   If-None-Match: * when there is none yet)
        <name>/vN/.claim           created with If-None-Match: * - the number is taken (a 412 means try N+1)
        <name>/vN/<files>          model files, card.json, card.json.hmac, written after the claim
        <name>/vN/_COMMITTED       written last: the version is visible (readers ignore versions without it)

    A promoted version is also visible while the pointer names it (its files and card are complete before the
    pointer moves to it, and its marker follows; a publisher that finds the marker missing when it moves the
    pointer away adds it). Nothing here relies on rename or a lock; docs/object-store.md has the argument.
    """

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
            if filename and _VERSION_PATTERN.match(version):
                found.setdefault(version, {})[filename] = modified
        return found

    def _pointer_object(self) -> tuple[dict[str, Any] | None, str | None]:
        stored = self.objects.get(self._key(filename=CHAMPION_FILE))
        if stored is None:
            return None, None
        try:
            payload = json.loads(stored.data.decode("utf-8"))
            payload["version"]  # noqa: B018 - a pointer without a version is unreadable
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise IntegrityError(
                f"{self.location(filename=CHAMPION_FILE)}: unreadable champion pointer ({exc})"
            ) from None
        return payload, stored.etag

    def pointer(self) -> dict[str, Any] | None:
        return self._pointer_object()[0]

    def versions(self) -> list[str]:
        listing = self._listing()
        visible = {v for v, files in listing.items() if COMMITTED_FILE in files}
        pointer = self.pointer()
        if pointer is not None and CARD_FILE in listing.get(pointer["version"], {}):
            visible.add(pointer["version"])
        return sorted(visible, key=version_number)

    def _visible(self, version: str) -> bool:
        if self.objects.get(self._key(version, COMMITTED_FILE)) is not None:
            return True
        pointer = self.pointer()
        return pointer is not None and pointer["version"] == version

    def _require_version(self, version: str) -> None:
        version_number(version)
        if not self._visible(version):
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"{self.location(version)}: no such version of '{self.name}' (versions: {known})")

    def _read(self, version: str, filename: str) -> bytes | None:
        self._require_version(version)
        stored = self.objects.get(self._key(version, filename))
        return None if stored is None else stored.data

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

    def load_quantized_model(self, version: str) -> QuantizedModel:
        data = self.verified_bytes(version, INT8_MODEL_FILE)
        return QuantizedModel.from_bytes(data, origin=self.location(version, INT8_MODEL_FILE))

    # ---- writing ----------------------------------------------------------------------------------------
    def _claim(self) -> str:
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

    def _mark_committed(self, version: str) -> None:
        with contextlib.suppress(PreconditionFailed):  # already visible
            self.objects.put(self._key(version, COMMITTED_FILE), json_bytes({"version": version}), create=True)

    def _swap_pointer(
        self, version: str, card_data: bytes, reason: str, previous: str | None, etag: str | None
    ) -> None:
        """Compare-and-swap the pointer from what was read (`etag`) to `version`; PreconditionFailed if it moved."""
        if previous is not None:
            self._mark_committed(previous)  # the version moved away from stays visible
        payload = {
            "version": version,
            "card_sha256": sha256_bytes(card_data),
            "promoted_at": datetime.now(UTC).isoformat(),
            "reason": reason,
        }
        key = self._key(filename=CHAMPION_FILE)
        if etag is None:
            self.objects.put(key, json_bytes(payload), create=True)
        else:
            self.objects.put(key, json_bytes(payload), if_match=etag)

    def _deadline_passed(self, started: float, what: str) -> None:
        if time.monotonic() - started > self.lock_timeout:
            raise RegistryError(
                f"{self.location(filename=CHAMPION_FILE)}: {what}: other runs kept moving the champion for over "
                f"{self.lock_timeout:g} s (registry.lock_timeout_seconds)"
            )

    def publish(
        self,
        files: dict[str, bytes],
        card: dict[str, Any],
        *,
        promote: bool = False,
        gated_against: str | None = None,
        recheck: ChampionRecheck | None = None,
        reason: str = "",
    ) -> Publication:
        """Claim vN, write its files, then make it visible: by its marker, or (promoted) by moving the pointer
        with a compare-and-swap, re-checking the candidate against whatever champion the pointer names each try.
        A publish that dies on the way leaves an invisible claim (removed by `clean_stale_staging` later)."""
        self.clean_stale_staging()
        version = self._claim()
        file_entries = {name: {"sha256": sha256_bytes(d), "bytes": len(d)} for name, d in files.items()}
        for filename, data in files.items():
            try:
                self.objects.put(self._key(version, filename), data)
            except OSError as exc:  # s3fs's errors are OSErrors (permissions, missing bucket, network)
                raise RegistryError(
                    f"{self.location(version, filename)}: could not write {len(data)} bytes ({exc}); nothing was "
                    "published and the champion is unchanged"
                ) from None
        started = time.monotonic()
        while True:
            pointer, etag = self._pointer_object() if promote else (None, None)
            current = pointer["version"] if pointer is not None else None
            status, promoted, why, rechecked_against = (
                (PASSED, True, reason, None) if promote else (REJECTED, False, reason, None)
            )
            if promote and current is not None and current != gated_against and recheck is not None:
                problems = recheck(current)
                rechecked_against = current
                if problems:
                    status, promoted = REJECTED, False
                    why = (
                        f"the champion moved to {current} during this run and the candidate does not "
                        f"beat it: {'; '.join(problems)}"
                    )
            full_card = {
                **card,
                "model_name": self.name,
                "files": file_entries,
                "version": version,
                "status": status,
                "reason": why,
                "rechecked_against": rechecked_against,
                "created_at": datetime.now(UTC).isoformat(),
            }
            card_data = json_bytes(full_card)
            self.objects.put(self._key(version, CARD_FILE), card_data)
            key = _hmac_key()
            if key is not None:
                signature = (card_signature(card_data, key) + "\n").encode()
                self.objects.put(self._key(version, SIGNATURE_FILE), signature)
            if promoted:
                try:
                    self._swap_pointer(version, card_data, why, current, etag)
                except PreconditionFailed:  # another run moved the champion since we read it: re-check
                    self._deadline_passed(started, f"could not promote {version}")
                    continue
            self._mark_committed(version)
            return Publication(version, status, promoted, why)

    def promote(self, version: str, reason: str = "", force: bool = False) -> None:
        self._require_version(version)
        self.verify(version)
        status = self.card(version).get("status")
        if status != PASSED and not force:
            raise RegistryError(
                f"{self.location(version)}: status is '{status}', not '{PASSED}'; it failed a check "
                "(see its card) - promote it anyway with --force"
            )
        started = time.monotonic()
        while True:
            pointer, etag = self._pointer_object()
            try:
                previous = pointer["version"] if pointer else None
                self._swap_pointer(version, self.card_bytes(version), reason, previous, etag)
                return
            except PreconditionFailed:
                self._deadline_passed(started, f"could not promote {version}")

    def rollback(self, version: str | None = None) -> tuple[str, str]:
        if not self._listing():
            raise RegistryError(f"{self.location()}: no model named '{self.name}'")
        started = time.monotonic()
        while True:
            pointer, etag = self._pointer_object()
            current = pointer["version"] if pointer else None
            target = version
            if target is None:
                if current is None:
                    raise RegistryError(f"{self.location()}: no champion to roll back from")
                older = [v for v in self.passing_versions() if version_number(v) < version_number(current)]
                if not older:
                    raise RegistryError(f"{self.location()}: no passing version older than the champion {current}")
                target = older[-1]
            status = self.card(target).get("status")
            if status != PASSED:
                raise RegistryError(
                    f"{self.location(target)}: status is '{status}'; roll back to a "
                    f"passing version ({', '.join(self.passing_versions()) or 'none'})"
                )
            self.verify(target)
            try:
                self._swap_pointer(target, self.card_bytes(target), f"rolled back from {current}", current, etag)
                return current or "none", target
            except PreconditionFailed:
                self._deadline_passed(started, f"could not roll back to {target}")


def open_store(root: str | Path, name: str, lock_timeout: float = 120.0) -> Store:
    """The store for a root: an object store for s3:// and memory:// URLs, else the local folder store."""
    if isinstance(root, str) and is_object_url(root):
        return ObjectModelStore(root, name, lock_timeout)
    return ModelStore(root, name, lock_timeout)


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


def _fsync_folder_files(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


# ---- command line: python -m mlops_pipeline.registry list|show|promote|rollback --------------------------------
def _format_metrics(card: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in (card.get("metrics") or {}).items())


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_pipeline.registry", description="Inspect and manage the model store."
    )
    parser.add_argument(
        "--root", default="models", help="model store folder or s3://bucket/prefix (default: %(default)s)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="versions of a model, champion marked *").add_argument("name")
    show = commands.add_parser("show", help="a version's card, files verified (default: the champion)")
    show.add_argument("name")
    show.add_argument("version", nargs="?")
    promote = commands.add_parser("promote", help="make a passing version the champion")
    promote.add_argument("name")
    promote.add_argument("version")
    promote.add_argument("--force", action="store_true", help="allow a rejected version")
    rollback = commands.add_parser(
        "rollback", help="move the champion to the previous passing version (or the one named)"
    )
    rollback.add_argument("name")
    rollback.add_argument("version", nargs="?")
    args = parser.parse_args(argv)
    store = open_store(args.root, args.name)
    try:
        if args.command == "list":
            champion = store.champion()
            versions = store.versions()
            if not versions:
                print(f"error: no versions of '{args.name}' under {store.location()}", file=sys.stderr)
                return 2
            for version in versions:
                card = store.card(version)
                marker = "*" if version == champion else " "
                print(
                    f"{marker} {version:>5}  {card.get('status', '?'):9} {card.get('created_at', '')}  "
                    f"{_format_metrics(card)}"
                )
        elif args.command == "show":
            version = args.version or store.champion()  # type: ignore[assignment]
            if version is None:
                raise RegistryError(f"{store.location()}: no champion yet; name a version")
            card = store.card(version)
            checked = store.verify(version)
            print(json.dumps(card, indent=2, sort_keys=True))
            print(f"files verified (sha256): {', '.join(checked)}", file=sys.stderr)
        elif args.command == "promote":
            previous = store.champion()
            store.promote(args.version, reason=f"promoted by hand (was {previous or 'none'})", force=args.force)
            print(f"{args.name}: champion is now {args.version} (was {previous or 'none'})")
        elif args.command == "rollback":
            previous, current = store.rollback(args.version)
            print(f"{args.name}: champion rolled back from {previous} to {current}")
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(_cli())
