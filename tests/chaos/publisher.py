"""A child process for the chaos tests: publish one version and freeze at a chosen point, to be killed there.

    python tests/chaos/publisher.py ROOT POINT MARKER

POINT is where it stops (writes MARKER, then sleeps until killed): `staging` (a model file half written, before the
lock), `before-rename` (card staged, lock held), `mid-champion-move` (version renamed into place, the new pointer
written to a temp file but not yet moved over champion.json), or `none` (publish and exit).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from mlops_pipeline import registry
from mlops_pipeline.registry import _local


def main() -> None:
    root, point, marker = sys.argv[1:4]

    def freeze() -> None:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(600)

    real_rename, real_replace, real_write = os.rename, os.replace, _local._write_or_explain

    def rename(src, dst):  # type: ignore[no-untyped-def]
        if point == "before-rename" and Path(src).name.startswith(registry.STAGING_PREFIX):
            freeze()
        return real_rename(src, dst)

    def replace(src, dst):  # type: ignore[no-untyped-def]
        if point == "mid-champion-move" and Path(dst).name == registry.CHAMPION_FILE:
            freeze()
        return real_replace(src, dst)

    def write(path: Path, data: bytes) -> None:
        if point == "staging" and path.name == registry.FLOAT_MODEL_FILE:
            path.write_bytes(data[: len(data) // 2])
            freeze()
        real_write(path, data)

    os.rename, os.replace = rename, replace  # type: ignore[assignment]
    _local._write_or_explain = write  # type: ignore[assignment]
    store = registry.ModelStore(root, "m", lock_timeout=30)
    store.publish({registry.FLOAT_MODEL_FILE: os.urandom(256 * 1024)}, {"metrics": {"accuracy": 0.99}}, promote=True)


if __name__ == "__main__":
    main()
