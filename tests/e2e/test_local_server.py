"""The shared local Prefect server: started by the first flow command, reused by the next, never left unowned.

Every process these tests start carries a marker in its environment, so the servers they count and stop are
their own, never other work on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, subprocess_env

from mlops_pipeline.registry import ModelStore

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="counts processes through /proc (Linux)"),
]
PIPELINE = REPO_ROOT / "flows" / "pipeline.py"
MARKER = "MLOPS_LOCAL_SERVER_TEST"
STATE = "mlops-local-server.json"


def _marked(marker: str) -> list[int]:
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def _wait_for(condition, what: str, timeout: float = 180) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.fixture
def shared_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A PREFECT_HOME of its own, the shared mode on, and every marked process killed at the end."""
    marker = uuid.uuid4().hex
    env = {**subprocess_env(tmp_path), "MLOPS_LOCAL_SERVER": "shared", MARKER: marker}
    try:
        yield env
    finally:
        for pid in _marked(marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _record(env: dict[str, str]) -> dict[str, object]:
    return json.loads(Path(env["PREFECT_HOME"], STATE).read_text())


def _train(env: dict[str, str], root: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(PIPELINE), "--set", f"registry.root={root}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _start_server(env: dict[str, str]) -> int:
    """The shared server's pid, started (or found) the way a flow command does, without running a flow."""
    code = "from mlops_pipeline.runtime.local_server import ensure_shared_server as e; print(e()[0].pid)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.strip())


def _server_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlops_pipeline.cli", "server", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_second_run_reuses_the_server_which_shows_both_runs_in_its_ui(
    shared_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "models"
    first = _train(shared_env, root)
    record = _record(shared_env)
    url = f"http://127.0.0.1:{record['port']}"
    assert f"Started the local Prefect server (UI) on {url}" in first.stderr
    assert "Starting temporary server" not in first.stderr + first.stdout

    second = _train(shared_env, root)
    assert f"Using the local Prefect server (UI) on {url}" in second.stderr
    assert "train=Cached" in second.stdout  # the cache works across runs on the shared server as before
    assert _record(shared_env)["pid"] == record["pid"]
    assert _marked(shared_env[MARKER]) == [record["pid"]]  # the commands are gone, only the server remains

    with urllib.request.urlopen(f"{url}/", timeout=30) as page:  # the UI is served
        assert page.status == 200 and b"<html" in page.read().lower()
    query = urllib.request.Request(
        f"{url}/api/flow_runs/filter", data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(query, timeout=30) as answer:
        runs = json.loads(answer.read())
    assert sorted(run["state_type"] for run in runs) == ["COMPLETED", "COMPLETED"]

    status = _server_command(shared_env, "status")
    assert status.returncode == 0 and url in status.stdout
    stopped = _server_command(shared_env, "stop")
    assert stopped.returncode == 0 and url in stopped.stdout
    assert not _alive(int(record["pid"]))  # type: ignore[call-overload]
    assert not Path(shared_env["PREFECT_HOME"], STATE).exists()
    assert _server_command(shared_env, "status").returncode == 1


def test_an_idle_server_stops_itself(shared_env: dict[str, str]) -> None:
    pid = _start_server({**shared_env, "MLOPS_LOCAL_SERVER_IDLE_SECONDS": "2"})
    _wait_for(lambda: not _alive(pid), "the idle server never stopped")
    assert not Path(shared_env["PREFECT_HOME"], STATE).exists()


def test_a_server_whose_record_is_gone_or_stale_is_replaced_not_doubled(shared_env: dict[str, str]) -> None:
    first = _start_server(shared_env)
    assert _start_server(shared_env) == first  # found, not started again

    state = Path(shared_env["PREFECT_HOME"], STATE)
    stale = {**json.loads(state.read_text()), "prefect_version": "0.0.1"}  # written by another Prefect
    state.write_text(json.dumps(stale))
    second = _start_server(shared_env)
    assert second != first
    _wait_for(lambda: not _alive(first), "the incompatible server was not stopped")

    state.unlink()  # e.g. PREFECT_HOME removed: the server must not live on without its record
    _wait_for(lambda: not _alive(second), "a server without its record kept running")
    assert _marked(shared_env[MARKER]) == []


def test_kill_9_leaves_only_the_shared_server_which_the_next_run_reuses(
    shared_env: dict[str, str], tmp_path: Path
) -> None:
    rng = random.Random(20261202)
    root = tmp_path / "models"
    server = _start_server(shared_env)
    command = [sys.executable, str(PIPELINE), "--set", f"registry.root={root}"]
    for attempt in range(2):
        log = tmp_path / f"killed-{attempt}.log"
        with log.open("w") as out:
            child = subprocess.Popen(
                command, cwd=REPO_ROOT, env=shared_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        _wait_for(lambda log=log: "Using the local Prefect server" in log.read_text(errors="replace"), "no run")
        time.sleep(rng.uniform(0.0, 4.0))  # anywhere from the start of the flow to the commit (or after it)
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        assert _marked(shared_env[MARKER]) == [server]  # nothing but the shared server, and only one of it
        for version in ModelStore(root, "digits-logreg", lock_timeout=10).versions():
            ModelStore(root, "digits-logreg").verify(version)

    rerun = _train(shared_env, root)
    assert "Using the local Prefect server" in rerun.stderr
    assert _record(shared_env)["pid"] == server
    store = ModelStore(root, "digits-logreg")
    champion = store.champion()
    assert champion is not None
    store.load_float_model(champion)
    assert _server_command(shared_env, "stop").returncode == 0
    _wait_for(lambda: _marked(shared_env[MARKER]) == [], "processes left after `mlops server stop`")
