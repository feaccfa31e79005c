"""Shared fixtures: one Prefect test harness per session, isolated result storage, a real Prefect server."""

from __future__ import annotations

import atexit
import contextlib
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT / "tests" / "data"  # the bad-input corpus and good.csv


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary Prefect server + database for the whole session, with results in a temp folder.

    Each session starts with an empty result store, so "first run trains, second run is Cached" holds no matter
    what earlier sessions left behind.
    """
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_RESULTS_LOCAL_STORAGE_PATH,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    results = tmp_path_factory.mktemp("prefect-results")
    # No heartbeats: they only detect crashed runs, and joining the heartbeat thread adds ~1 s to every flow exit.
    settings = {PREFECT_RESULTS_LOCAL_STORAGE_PATH: results, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    # a generous start-up wait: migrating its fresh database takes over 30 s (the default) on a loaded 2-core machine
    with temporary_settings(settings), prefect_test_harness(server_startup_timeout=180):
        yield results


_MIGRATED_HOME: list[Path] = []


def migrated_prefect_home() -> Path:
    """A PREFECT_HOME whose database is migrated and has its block types, made once per test session.

    A fresh PREFECT_HOME costs its first command ~9 s of database migrations; each test copies this one instead,
    which keeps tests isolated (their own database file) without paying that again and again.
    """
    if not _MIGRATED_HOME:
        home = Path(tempfile.mkdtemp(prefix="mlops-tests-prefect-home-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLOPS_LOCAL_SERVER"))}
        env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", MLOPS_LOCAL_SERVER="shared")
        start = "from mlops_pipeline.runtime.local_server import ensure_shared_server as e; e()"
        for code in (start, "from mlops_pipeline.runtime.local_server import stop_shared_server as s; s()"):
            done = subprocess.run(
                [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"preparing the tests' PREFECT_HOME failed:\n{done.stderr[-3000:]}"
        for leftover in home.glob("*mlops-local-server*"):
            leftover.unlink()
        _MIGRATED_HOME.append(home)
    return _MIGRATED_HOME[0]


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the real commands: their own Prefect home and result store, no server URL.

    Each command gets its own temporary server (MLOPS_LOCAL_SERVER=per-run): a shared local server per test's
    PREFECT_HOME would outlive the test by its idle time. tests/e2e/test_local_server.py tests the shared mode.
    """
    home = tmp_path / "prefect-home"
    if not home.exists():
        shutil.copytree(migrated_prefect_home(), home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLOPS_LOCAL_SERVER"))}
    env.update(
        MLOPS_LOCAL_SERVER="per-run",
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(tmp_path / "prefect-results"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def python() -> str:
    return sys.executable


# ---- a real Prefect server and the served deployments (end-to-end service tests) --------------------------------
# Reusable: any e2e test that needs the service asks for `served_deployments` (or `prefect_server` alone); one server
# and one `python deployments/serve.py` are started per session, and every process group is killed at teardown.


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@contextlib.contextmanager
def background_process(args: list[str], env: dict[str, str], log: Path, cwd: Path = REPO_ROOT) -> Iterator[Popen]:
    """Run a command in its own process group; kill the whole group (children included) on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = Popen(args, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # children that outlived their parent
            os.killpg(process.pid, signal.SIGKILL)


def wait_until(ready: Callable[[], bool], process: Popen, log: Path, what: str, timeout: float = 60) -> None:
    """Poll `ready` until it is true; fail with the process's log if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what}: process exited with {process.returncode}; log {log}:\n{_tail(log)}")
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.25)
    pytest.fail(f"{what}: not ready after {timeout:.0f} s; log {log}:\n{_tail(log)}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except urllib.error.HTTPError:
        return False


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    env: dict[str, str]  # for subprocesses that talk to this server (own PREFECT_HOME, PREFECT_API_URL set)
    log: Path


@contextlib.contextmanager
def running_prefect_server(
    folder: Path, *, ui: bool = False, settings: dict[str, str] | None = None, timeout: float = 60
) -> Iterator[PrefectServer]:
    """`prefect server start` on 127.0.0.1 and a free port, with its own PREFECT_HOME (SQLite) under `folder`.

    `settings`: more server environment, e.g. PREFECT_API_DATABASE_CONNECTION_URL for PostgreSQL (whose first
    migrations need a longer `timeout`).
    """
    port = free_port()
    server_env = subprocess_env(folder / "server")
    # Host and port as settings, not only as --host/--port: the UI reads its API address from the settings and
    # would otherwise call 127.0.0.1:4200.
    server_env.update(
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_UI_ENABLED=str(ui).lower(),
        **(settings or {}),
    )
    Path(server_env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # the server does not create it
    api_url = f"http://127.0.0.1:{port}/api"
    log = folder / "server.log"
    prefect = str(Path(sys.executable).with_name("prefect"))
    with background_process(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)], server_env, log
    ) as process:
        wait_until(lambda: _http_ok(f"{api_url}/health"), process, log, "prefect server", timeout)
        client_env = subprocess_env(folder / "client")
        client_env["PREFECT_API_URL"] = api_url
        Path(client_env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
        yield PrefectServer(api_url, client_env, log)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    with running_prefect_server(tmp_path_factory.mktemp("prefect-server")) as server:
        yield server


@pytest.fixture
def start_prefect_server() -> Callable[..., contextlib.AbstractContextManager[PrefectServer]]:
    """`running_prefect_server` for tests that need a server of their own (`with start_prefect_server(tmp):`)."""
    return running_prefect_server


@dataclass(frozen=True)
class ServedDeployments:
    server: PrefectServer
    model_store: Path  # MLOPS_MODEL_STORE_ROOT of the served deployments
    log: Path


@pytest.fixture(scope="session")
def served_deployments(
    prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedDeployments]:
    """`python deployments/serve.py` against `prefect_server`, with the model store in a temp folder."""
    from mlops_pipeline.deployments import catalog

    folder = tmp_path_factory.mktemp("serve")
    env = subprocess_env(folder)
    env.update(
        PREFECT_API_URL=prefect_server.api_url,
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        **{catalog.MODEL_STORE_ENV: str(folder / "models")},
    )
    names = [f"{d.flow_name}/{d.name}" for d in catalog.served_deployments()]
    log = folder / "serve.log"
    with background_process([sys.executable, "deployments/serve.py"], env, log) as process:
        wait_until(
            lambda: all(_http_ok(f"{prefect_server.api_url}/deployments/name/{name}") for name in names),
            process,
            log,
            "deployments/serve.py",
        )
        yield ServedDeployments(prefect_server, folder / "models", log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # everything under tests/e2e runs real commands: mark it, so `pytest -m "not e2e"` is the fast loop
    e2e_folder = REPO_ROOT / "tests" / "e2e"
    for item in items:
        if item.path.is_relative_to(e2e_folder):
            item.add_marker(pytest.mark.e2e)


class FlakyServer:
    """A real HTTP server on 127.0.0.1 that answers the first `failures` requests with `status`, then the file."""

    def __init__(self, body: bytes, failures: int = 0, status: int = 503):
        self.body, self.failures, self.status = body, failures, status
        self.requests: list[int] = []  # the status of each answer
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if len(server.requests) < server.failures:
                    server.requests.append(server.status)
                    self.send_error(server.status)
                    return
                server.requests.append(200)
                self.send_response(200)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # port 0: a free port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self) -> FlakyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
