"""kill -9 of `python flows/pipeline.py` at seeded random points: no process it started outlives it.

Only the CLI is killed (not its process group), as a crash or the OOM killer would; the temporary Prefect server it
started must go with it. Processes are counted by a marker in their environment that only this test's runs carry,
so other work on the machine is never counted or touched. After the kills a rerun completes and the store holds no
half version and a valid champion. MLOPS_CHAOS_KILLS sets the number of kills (default 3; the figures in
docs/reliability.md come from 10).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import REPO_ROOT, subprocess_env

from mlops_pipeline.registry import ModelStore

pytestmark = pytest.mark.e2e
PIPELINE = REPO_ROOT / "flows" / "pipeline.py"
MARKER = "MLOPS_CHAOS_RUN"


def _marked_processes(marker: str) -> list[int]:
    """Pids of live processes whose environment carries MARKER=marker (zombies have no environment left)."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def _wait_for_no_marked_processes(marker: str, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _marked_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="counts processes through /proc (Linux)")
def test_kill_9_at_random_points_leaves_no_orphaned_server(python: str, tmp_path: Path) -> None:
    kills = int(os.environ.get("MLOPS_CHAOS_KILLS", "3"))
    rng = random.Random(20261202)
    root = tmp_path / "models"
    marker = uuid.uuid4().hex
    env = {**subprocess_env(tmp_path), MARKER: marker}
    command = [python, str(PIPELINE), "--set", f"registry.root={root}"]
    orphans: list[list[int]] = []
    try:
        for attempt in range(kills):
            log = tmp_path / f"killed-{attempt}.log"
            with log.open("w") as out:
                child = subprocess.Popen(
                    command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            deadline = time.monotonic() + 240  # server start-up on a loaded machine
            while "Starting temporary server" not in log.read_text(errors="replace"):
                assert child.poll() is None, f"run {attempt} ended before its server started:\n{log.read_text()}"
                assert time.monotonic() < deadline, "the temporary server never started"
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 6.0))  # anywhere from server start-up to the commit (or after it)
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
            orphans.append(_wait_for_no_marked_processes(marker))
            store = ModelStore(root, "digits-logreg", lock_timeout=10)
            for version in store.versions():  # every visible version is whole
                store.verify(version)
        assert orphans == [[] for _ in range(kills)], f"processes left after a kill -9: {orphans}"

        rerun = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        store = ModelStore(root, "digits-logreg", lock_timeout=10)
        champion = store.champion()
        assert champion is not None
        store.load_float_model(champion)  # the pointer's card hash and the file hashes hold
        assert _wait_for_no_marked_processes(marker) == []
    finally:  # a failing run must not leave this test's processes behind either
        for pid in _marked_processes(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
