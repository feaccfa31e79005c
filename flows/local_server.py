"""The Prefect API server a flow command runs against when no PREFECT_API_URL is set.

By default (`MLOPS_LOCAL_SERVER=shared`) the first flow command starts one local server per PREFECT_HOME, with the
UI, in its own session, and every later command reuses it: a run then costs what it costs against a running
`prefect server`, not a server start-up (4-5 s; docs/performance.md). The shared server is not an orphan: its
address and pid are in `$PREFECT_HOME/mlops-local-server.json`, it stops itself after
`MLOPS_LOCAL_SERVER_IDLE_SECONDS` (default 1200) without a request or an open connection, or when that file no
longer names it, and `mlops server stop` stops it. A command killed with SIGKILL leaves only that one server, which
the next command reuses.

`MLOPS_LOCAL_SERVER=per-run` gives each command its own temporary server instead, tied to the command's life:
Prefect's own ephemeral server (started lazily by the first API call) stops at interpreter exit, but a command
killed with SIGKILL runs no exit handler, so that uvicorn child is left running with nobody to stop it. Here the
command starts the same server itself, from its main thread, with Linux's parent-death signal set in the child:
the kernel sends it SIGTERM the moment the command dies, however it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import prefect
from filelock import FileLock
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_HOME,
    PREFECT_SERVER_EPHEMERAL_ENABLED,
    get_current_settings,
    temporary_settings,
)

ResultT = TypeVar("ResultT")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
MODE_VARIABLE = "MLOPS_LOCAL_SERVER"
MODES = ("shared", "per-run")
IDLE_VARIABLE = "MLOPS_LOCAL_SERVER_IDLE_SECONDS"
DEFAULT_IDLE_SECONDS = 1200
STATE_FILE = "mlops-local-server.json"
LOG_FILE = "mlops-local-server.log"
SERVER_MODULE = "mlops_pipeline.flows.local_server"


class LocalServerError(RuntimeError):
    """The local server could not be started or reached (the message names its log or state file)."""


def _die_with_parent() -> None:
    """In the child, before exec: ask the kernel for SIGTERM when the parent exits (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def start_child_server() -> str:
    """Start Prefect's ephemeral API server as this process's temporary server, dying with this process; its URL.

    Prefect keeps one temporary server per process (SubprocessASGIServer's instances by port; None for "any free
    port"): registering ours under that key makes every client of this process use it, and Prefect's own exit
    handler stops it after the log workers have flushed, exactly as for the server it would have started.
    """
    # imported here: the server's modules add ~40% to a flow command's import time, and the shared mode never
    # needs them in the command
    from prefect.server.api.server import SubprocessASGIServer

    class ChildServer(SubprocessASGIServer):
        """Prefect's ephemeral API server whose process dies with the process that started it."""

        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # Prefect 3.8's command (prefect/server/api/server.py), plus the parent-death signal
            return subprocess.Popen(
                args=[
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(prefect.__module_path__.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env={
                    **os.environ,
                    "PREFECT_UI_ENABLED": "0",
                    "PREFECT__SERVER_EPHEMERAL": "1",
                    "PREFECT__SERVER_FINAL": "1",
                    **get_current_settings().to_environment_variables(exclude_unset=True),
                },
                preexec_fn=_die_with_parent,
            )

    server = ChildServer()
    server.start()
    return server.api_url


# ---- the shared local server ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerRecord:
    """What `$PREFECT_HOME/mlops-local-server.json` says about the shared server."""

    pid: int
    port: int
    prefect_version: str
    python: str
    database: str
    started_at: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


def local_server_mode() -> str:
    mode = os.environ.get(MODE_VARIABLE, "shared").strip() or "shared"
    if mode not in MODES:
        raise LocalServerError(f"{MODE_VARIABLE}={mode!r}: expected one of {', '.join(MODES)}")
    return mode


def idle_seconds() -> float:
    raw = os.environ.get(IDLE_VARIABLE, str(DEFAULT_IDLE_SECONDS))
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise LocalServerError(f"{IDLE_VARIABLE}={raw!r}: expected a number of seconds > 0")
    return value


def state_path() -> Path:
    return Path(PREFECT_HOME.value()).expanduser() / STATE_FILE


def _database_url() -> str:
    url = get_current_settings().server.database.connection_url
    return url.get_secret_value() if url is not None else f"sqlite under {PREFECT_HOME.value()}"


def read_record(path: Path) -> ServerRecord | None:
    """The record in `path`; None when there is none or it is unreadable (a crash mid-write is not an error)."""
    try:
        return ServerRecord(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _write_record(path: Path, record: ServerRecord) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _healthy(record: ServerRecord, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"{record.api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _is_our_server(pid: int) -> bool:
    """True when `pid` runs this module's server (a recycled pid running something else is never signalled)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return SERVER_MODULE.encode() in command


def _stop_pid(pid: int, timeout: float = 20.0) -> None:
    if not _is_our_server(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_our_server(pid):
        time.sleep(0.1)
    if _is_our_server(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _compatible(record: ServerRecord) -> bool:
    return (
        record.prefect_version == prefect.__version__
        and record.python == sys.executable
        and record.database == _database_url()
    )


def _free_port(preferred: int | None) -> int:
    import socket

    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise LocalServerError("no free port on 127.0.0.1 for the local Prefect server")


def startup_timeout() -> float:
    """Prefect's ephemeral start-up timeout when set; else 120 s, not Prefect's 20 s: the first start of a
    PREFECT_HOME runs the database migrations, which take longer than that on a loaded 2-core machine."""
    ephemeral = get_current_settings().server.ephemeral
    return float(ephemeral.startup_timeout_seconds if "startup_timeout_seconds" in ephemeral.model_fields_set else 120)


def _state_lock(path: Path) -> FileLock:
    return FileLock(path.with_name(f".{path.name}.lock"), timeout=300)


def ensure_shared_server() -> tuple[ServerRecord, bool]:
    """The healthy shared server of this PREFECT_HOME, started if there is none; (record, started now)."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with _state_lock(path):
        record = read_record(path)
        if record is not None and _compatible(record) and _healthy(record):
            return record, False
        if record is not None:  # dead, hung, or started by another Prefect or Python
            _stop_pid(record.pid)
        return _start_shared_server(path, record.port if record else None), True


def _start_shared_server(path: Path, preferred_port: int | None) -> ServerRecord:
    port = _free_port(preferred_port)
    log = path.with_name(LOG_FILE)
    env = {
        **os.environ,
        **get_current_settings().to_environment_variables(exclude_unset=True),
        # the UI finds the API through these (the --port of `prefect server start` alone is not enough)
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
    }
    env.pop("PREFECT_API_URL", None)
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the command's process group: a Ctrl-C of one run does not stop it
        )
    record = ServerRecord(process.pid, port, prefect.__version__, sys.executable, _database_url(), time.time())
    _write_record(path, record)
    timeout = startup_timeout()
    deadline = time.monotonic() + timeout
    while not _healthy(record, timeout=2.0):
        if process.poll() is not None:
            path.unlink(missing_ok=True)
            raise LocalServerError(
                f"the local Prefect server exited with {process.returncode} while starting; see {log}"
            )
        if time.monotonic() > deadline:
            _stop_pid(process.pid)
            path.unlink(missing_ok=True)
            raise LocalServerError(
                f"the local Prefect server did not answer on {record.url} within {timeout:g} s "
                f"(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS); see {log}"
            )
        time.sleep(0.1)
    return record


def stop_shared_server() -> ServerRecord | None:
    """Stop this PREFECT_HOME's shared server; the record of the server stopped, None if none was running."""
    path = state_path()
    if not path.exists():
        return None
    with _state_lock(path):
        record = read_record(path)
        if record is not None:
            _stop_pid(record.pid)
        path.unlink(missing_ok=True)
    return record


@contextlib.contextmanager
def local_api() -> Iterator[None]:
    """Settings for a flow command's run: the local server it should use, started or reused as the mode says."""
    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        yield
        return
    # Heartbeats only serve crash detection by a server's automations, and stopping their thread costs up to 1 s
    # at every flow exit; a local command run is watched by the person who started it. Kept when set explicitly.
    updates: dict[Any, Any] = {}
    if "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" not in os.environ:
        updates[PREFECT_FLOWS_HEARTBEAT_FREQUENCY] = None
    if local_server_mode() == "per-run":
        with temporary_settings(updates=updates), exported_api_url(start_child_server()):
            yield
        return
    record, started = ensure_shared_server()
    if started:
        print(
            f"Started the local Prefect server (UI) on {record.url}; later runs reuse it, it stops after "
            f"{idle_seconds():g} s idle ({IDLE_VARIABLE}) or with `mlops server stop`",
            file=sys.stderr,
        )
    else:
        print(f"Using the local Prefect server (UI) on {record.url}", file=sys.stderr)
    updates[PREFECT_API_URL] = record.api_url
    with temporary_settings(updates=updates), exported_api_url(record.api_url):
        yield


@contextlib.contextmanager
def exported_api_url(api_url: str) -> Iterator[None]:
    """PREFECT_API_URL in the environment too, for the processes the run starts (a Dask LocalCluster's workers
    running the candidate tasks): they inherit the environment, not this process's settings, and without the URL
    each would start a server of its own and report its task runs there."""
    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = api_url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before


def run_on_local_server(run: Callable[[], ResultT]) -> ResultT:
    """`run()` against the local server a flow command uses when no PREFECT_API_URL is set (see module doc)."""
    with local_api():
        return run()


# ---- the shared server's own process ---------------------------------------------------------------------------
class ActivityTracker:
    """ASGI wrapper that knows when the app last saw a request and how many connections are open."""

    def __init__(self, app: Any):
        self.app = app
        self.open_connections = 0
        self.last_activity = time.monotonic()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        self.open_connections += 1
        self.last_activity = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self.open_connections -= 1
            self.last_activity = time.monotonic()

    def idle_for(self) -> float:
        return 0.0 if self.open_connections else time.monotonic() - self.last_activity


def serve(port: int) -> int:
    """Run the Prefect server (API, UI, services) until it has been idle too long or its record names another."""
    import uvicorn
    from prefect.server.api.server import create_app

    limit = idle_seconds()
    path = state_path()
    tracked = ActivityTracker(create_app(final=True))
    server = uvicorn.Server(uvicorn.Config(tracked, host="127.0.0.1", port=port, log_level="warning"))

    def still_ours() -> bool:
        record = read_record(path)
        return record is not None and record.pid == os.getpid()

    async def watch() -> None:
        while not server.should_exit:
            await asyncio.sleep(1.0)
            if not still_ours():
                print(f"{path} no longer names this server (pid {os.getpid()}); stopping", flush=True)
                server.should_exit = True
            elif tracked.idle_for() > limit:
                # under the commands' lock: none of them is between finding this server healthy and using it
                lock = _state_lock(path)
                try:
                    lock.acquire(timeout=0)
                except TimeoutError:
                    continue
                try:
                    if tracked.idle_for() > limit and still_ours():
                        print(f"idle for {limit:g} s ({IDLE_VARIABLE}); stopping", flush=True)
                        path.unlink(missing_ok=True)
                        server.should_exit = True
                finally:
                    lock.release()

    async def main() -> None:
        watcher = asyncio.create_task(watch())
        try:
            await server.serve()
        finally:
            watcher.cancel()

    asyncio.run(main())
    return 0


def _cli(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m mlops_pipeline.flows.local_server",
        description="The shared local Prefect server of this PREFECT_HOME (flow commands start it themselves).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the server in the foreground (what flow commands start)")
    run.add_argument("--port", type=int, required=True)
    commands.add_parser("status", help="print the shared server's address and pid, if one is running")
    commands.add_parser("stop", help="stop the shared server")
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args.port)
        if args.command == "stop":
            stopped = stop_shared_server()
            print(f"stopped the local Prefect server on {stopped.url}" if stopped else "no local Prefect server")
            return 0
        record = read_record(state_path())
        if record is None or not _healthy(record):
            print(f"no local Prefect server for PREFECT_HOME={PREFECT_HOME.value()}")
            return 1
        print(f"{record.url} (pid {record.pid}, Prefect {record.prefect_version}, database {record.database})")
        return 0
    except LocalServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(_cli())
