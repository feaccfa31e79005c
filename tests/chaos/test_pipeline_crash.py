"""kill -9 of a real `python flows/pipeline.py` at a step, then a rerun: it resumes from the cache and the store
is consistent by hash. And result files overwritten with garbage are recomputed, never trusted.

Orphaned-server counting after the kill belongs to the server-lifecycle tests; here the killed run's whole process
group (the CLI and the temporary server it started) is SIGKILLed, so these tests leave nothing running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT, subprocess_env

from mlops_pipeline.registry import CHAMPION_FILE, STAGING_PREFIX, ModelStore

pytestmark = pytest.mark.e2e
PIPELINE = REPO_ROOT / "flows" / "pipeline.py"


def _run(python: str, tmp_path: Path, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, str(PIPELINE), "--set", f"registry.root={store}"],
        cwd=REPO_ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _assert_consistent(store: ModelStore) -> None:
    """Every visible version verifies by sha256; the champion (if any) is one of them and its card matches."""
    for version in store.versions():
        store.verify(version)
    champion = store.champion()
    if champion is not None:
        store.load_float_model(champion)  # card_sha256 in the pointer + file hashes


# while validating (before any training), and right after the final `train` task finished (gate / quantize /
# publish under way; a fast machine may even have committed by then, which must be just as consistent)
@pytest.mark.parametrize("kill_when", ["Task run 'validate-", "Task run 'train-"])
def test_kill_9_mid_run_then_rerun_resumes_and_the_store_is_consistent(
    kill_when: str, python: str, tmp_path: Path
) -> None:
    root = tmp_path / "models"
    log = tmp_path / "killed.log"
    with log.open("w") as out:
        child = subprocess.Popen(
            [python, str(PIPELINE), "--set", f"registry.root={root}"],
            cwd=REPO_ROOT,
            env=subprocess_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240  # generous: server start-up on a loaded machine
        while not any(
            kill_when in line and ("Finished" in line or "validate" in kill_when)
            for line in log.read_text(errors="replace").splitlines()
        ):
            assert child.poll() is None, f"the run ended before '{kill_when}':\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"never saw '{kill_when}'"
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the CLI and the server it started: this test's own group
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    store = ModelStore(root, "digits-logreg", lock_timeout=10)
    _assert_consistent(store)
    if "validate" in kill_when:
        assert store.versions() == [] and store.champion() is None  # nothing is written before the commit step

    rerun = _run(python, tmp_path, root)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    if "train" in kill_when:
        assert "train=Cached" in rerun.stdout  # the killed run's training result is reused
    _assert_consistent(store)
    assert store.champion() == store.versions()[-1]
    assert not [p for p in store.folder.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert (store.folder / CHAMPION_FILE).is_file()


def test_garbage_result_files_are_recomputed(python: str, tmp_path: Path) -> None:
    root = tmp_path / "models"
    first = _run(python, tmp_path, root)
    assert first.returncode == 0, first.stderr[-3000:]
    results = [p for p in (tmp_path / "prefect-results").rglob("*") if p.is_file()]
    assert results, "the run persisted no result files"
    for path in results:
        path.write_bytes(b"\x80garbage, not a pickle or a result record")
    second = _run(python, tmp_path, root)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "train=Completed" in second.stdout  # recomputed, not loaded from the garbage
    store = ModelStore(root, "digits-logreg")
    _assert_consistent(store)
    # the recomputed model is the same (seeded): its bytes match the champion's, so nothing new is stored
    assert "champion   unchanged: v1 remains champion" in second.stdout
    assert store.versions() == ["v1"]
