"""Small rules used across the library, each written once: numpy scalars to Python, streaming sha256."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

HASH_BLOCK = 1 << 20  # bytes read at a time when hashing a stream


def python_value(value: Any) -> Any:
    """A numpy scalar as the Python scalar it holds (JSON- and YAML-ready); anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def sha256_stream(read: Callable[[int], bytes], block: int = HASH_BLOCK) -> tuple[str, int]:
    """The sha256 (hex) and size of everything `read(block)` returns until it returns b""."""
    digest = hashlib.sha256()
    size = 0
    while chunk := read(block):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
