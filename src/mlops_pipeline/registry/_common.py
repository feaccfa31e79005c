"""What every model store shares below the store itself: file names, errors, hashing, signing, JSON, atomic files."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlops_pipeline.plain import sha256_stream
from mlops_pipeline.settings import get_settings

FLOAT_MODEL_FILE = "model.joblib"
INT8_MODEL_FILE = "model.int8.npz"
CARD_FILE = "card.json"
CHAMPION_FILE = "champion.json"
SIGNATURE_FILE = "card.json.hmac"
HMAC_KEY_ENV = "MLOPS_STORE_HMAC_KEY"
PASSED = "passed"
REJECTED = "rejected"
_VERSION_PATTERN = re.compile(r"^v(\d+)$")


class RegistryError(RuntimeError):
    """The model store is missing something or holds something it should not; the message names the path."""


class IntegrityError(RegistryError):
    """A stored file does not match the sha256 recorded in its card: it was changed or truncated."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return sha256_stream(handle.read)[0]


def card_signature(card_bytes: bytes, key: str) -> str:
    """HMAC-SHA256 of a card's exact bytes with the store key (hex)."""
    return hmac.new(key.encode(), card_bytes, hashlib.sha256).hexdigest()


def hmac_key() -> str | None:
    """The store's signing key, read at each publish and load (a key set later applies at once)."""
    key = get_settings().store_hmac_key
    return key.get_secret_value() if key is not None else None


def json_bytes(payload: Any) -> bytes:
    return (json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n").encode()


def is_version_name(name: str) -> bool:
    return _VERSION_PATTERN.match(name) is not None


def version_number(version: str) -> int:
    match = _VERSION_PATTERN.match(version)
    if not match:
        raise RegistryError(f"'{version}' is not a version name (expected v1, v2, ...)")
    return int(match.group(1))


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
