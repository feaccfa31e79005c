"""kill -9 of a real publishing process at each step of a publish: the store stays consistent by hash.

Each case: v1 is the champion; a child process publishes v2 and is SIGKILLed while frozen at one point. After
the kill: champion.json is byte-identical (or names a complete, verified version), no half version is visible,
the lock does not block the next writer, and the next publish cleans the dead writer's staging folder.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_pipeline.registry import CHAMPION_FILE, FLOAT_MODEL_FILE, STAGING_PREFIX, ModelStore

pytestmark = pytest.mark.e2e
PUBLISHER = Path(__file__).with_name("publisher.py")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _store_state(store: ModelStore) -> dict[str, str]:
    """Every visible file of the store by sha256 (staging folders and the lock file excluded)."""
    return {
        str(p.relative_to(store.folder)): _digest(p)
        for p in sorted(store.folder.rglob("*"))
        if p.is_file() and not p.relative_to(store.folder).parts[0].startswith(".")
    }


def _kill_at(root: Path, point: str, tmp_path: Path) -> None:
    marker = tmp_path / f"{point}.ready"
    child = subprocess.Popen([sys.executable, str(PUBLISHER), str(root), point, str(marker)], start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # generous: the machine may be loaded
        while not marker.exists():
            assert child.poll() is None, f"publisher exited {child.returncode} before reaching '{point}'"
            assert time.monotonic() < deadline, f"publisher never reached '{point}'"
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize("point", ["staging", "before-rename", "mid-champion-move"])
def test_kill_9_during_publish_leaves_a_consistent_store(point: str, tmp_path: Path) -> None:
    root = tmp_path / "models"
    store = ModelStore(root, "m", lock_timeout=10)
    store.publish({FLOAT_MODEL_FILE: b"v1 model"}, {"metrics": {"accuracy": 0.98}}, promote=True)
    pointer_before = _digest(store.folder / CHAMPION_FILE)
    state_before = _store_state(store)

    _kill_at(root, point, tmp_path)

    # no half version: every visible version verifies against its card; the champion pointer is untouched
    for version in store.versions():
        store.verify(version)
    assert store.champion() == "v1"
    assert _digest(store.folder / CHAMPION_FILE) == pointer_before
    if point == "mid-champion-move":
        # v2 was complete (renamed in one step) before the kill: it is visible and whole, but not the champion
        assert store.versions() == ["v1", "v2"]
        after = _store_state(store)
        assert {k: v for k, v in after.items() if not k.startswith("v2/")} == state_before
    else:
        assert store.versions() == ["v1"]
        assert _store_state(store) == state_before
    staged = [p.name for p in store.folder.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert bool(staged) is (point != "mid-champion-move"), staged  # left behind by the dead writer, ignored

    # the rerun: the lock is free (10 s timeout, not 120), the dead writer's staging is cleaned up
    publication = store.publish({FLOAT_MODEL_FILE: b"rerun model"}, {"metrics": {"accuracy": 0.99}}, promote=True)
    assert publication.promoted and store.champion() == publication.version
    store.verify(publication.version)
    assert not [p for p in store.folder.iterdir() if p.name.startswith(STAGING_PREFIX)]
