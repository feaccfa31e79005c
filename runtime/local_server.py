"""The Prefect API server a flow command runs against when no PREFECT_API_URL is set.

By default (`MLOPS_LOCAL_SERVER=shared`) the first flow command starts one local server per PREFECT_HOME, with the
UI, in its own session, and every later command reuses it: a run then costs what it costs against a running
`prefect server`, not a server start-up (docs/performance.md). The shared server is not an orphan: its address
and pid are in `$PREFECT_HOME/mlops-local-server.json`, it stops itself after `MLOPS_LOCAL_SERVER_IDLE_SECONDS`
(default 1200) without a request or an open connection, or when that file no longer names it, and
`mlops server stop` stops it. A command killed with SIGKILL leaves only that one server, which the next reuses.

`MLOPS_LOCAL_SERVER=per-run` gives each command its own temporary server instead, tied to the command's life: the
command runs Prefect's own `prefect server start` (without the UI) as its child, with Linux's parent-death signal
set, so the kernel sends it SIGTERM the moment the command dies, however it dies (Prefect's ephemeral server
outlives a command killed with SIGKILL, which runs no exit handler to stop it).

Why the shared server is not `prefect server start --background` (Prefect 3.8):
- idle shutdown needs to see requests and open connections, which only a wrapper inside the server process can
  (mlops_pipeline.runtime.server_process wraps the same public `create_app` in an ASGI activity tracker); a
  watcher beside Prefect's server would be a second process to own and to leave behind;
- `--background` hands the server's stdout and stderr to pipes read by nobody once `prefect server start` has
  exited, so the server's log is lost (here it goes to `$PREFECT_HOME/mlops-local-server.log`), and its
  `server.pid` names a pid only: no port, Prefect version or database to check a reused server against;
- it is slower to a usable server: two `prefect` CLI start-ups, and status --wait polls once a second. Measured
  side by side, seconds from spawning the starting command to a healthy /api/health on a migrated PREFECT_HOME
  (median of 3 with the ways alternating, 2 cores at load average ~10, 2026-12-07): this shared server 13.9
  (samples 16.4, 8.2, 13.9; before this change, same server: 15.5), `--background` + `status --wait` 22.4 (27.9,
  19.0, 22.4). Per-run, `prefect server start --no-ui` as the child: 28.2 (28.2, 8.1, 30.2), against 25.6
  (25.6, 18.6, 36.6) for the private ephemeral command it replaced: within the noise, and it keeps no copy of
  Prefect's private code. `python benchmarks/local_server_start.py` measures the ways kept (with Prefect's own
  ephemeral server in place of the command removed).
`prefect server stop` stops only the server named in its `server.pid`, so `mlops server stop` stops this one.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import signal
import socket
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

from mlops_pipeline.settings import Settings, SettingsError, get_settings

ResultT = TypeVar("ResultT")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
MODE_VARIABLE = Settings.variable("local_server")
IDLE_VARIABLE = Settings.variable("local_server_idle_seconds")
STATE_FILE = "mlops-local-server.json"
LOG_FILE = "mlops-local-server.log"
SERVER_MODULE = "mlops_pipeline.runtime.server_process"


class LocalServerError(RuntimeError):
    """The local server could not be started or reached (the message names its log or state file)."""


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:
        raise LocalServerError(str(exc)) from None


def local_server_mode() -> str:
    """`shared` or `per-run` ($MLOPS_LOCAL_SERVER)."""
    return _settings().local_server


def idle_seconds() -> float:
    """How long the shared server waits without a request or connection before it stops itself."""
    return _settings().local_server_idle_seconds


# ---- per-run: Prefect's own server, as this command's child ---------------------------------------------------------
def _die_with_parent() -> None:
    """In the child, before exec: ask the kernel for SIGTERM when the parent exits (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def start_child_server() -> str:
    """Start `prefect server start` as this process's temporary server, dying with this process; its API URL.

    Called from the main thread: the parent-death signal follows the thread that started the child. The server
    is stopped at interpreter exit, after Prefect's own exit handlers (registered later) have sent the last logs.
    """
    port = _free_port(None)
    url = f"http://127.0.0.1:{port}"
    print(f"Starting temporary server on {url} ({MODE_VARIABLE}=per-run: it stops with this command)", file=sys.stderr)
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"]
        + ["--log-level", "ERROR"],
        env={**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # the welcome banner; errors still reach this command's stderr
        preexec_fn=_die_with_parent,
    )
    atexit.register(_stop_child, process)
    _wait_until_healthy(f"{url}/api", process, "the temporary Prefect server", on_timeout=lambda: _stop_child(process))
    return f"{url}/api"


def _stop_child(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ---- the shared local server -----------------------------------------------------------------------------------------
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


def _healthy(api_url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _is_our_server(pid: int) -> bool:
    """True when `pid` runs the shared server's module (a recycled pid running something else is never signalled)."""
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


def _wait_until_healthy(
    api_url: str, process: subprocess.Popen[Any], what: str, on_timeout: Callable[[], None], log: Path | None = None
) -> None:
    """Return once `api_url` answers; LocalServerError when the process exits first or the start-up time runs out."""
    see = f"; see {log}" if log is not None else ""
    timeout = startup_timeout()
    deadline = time.monotonic() + timeout
    while not _healthy(api_url, timeout=2.0):
        if process.poll() is not None:
            raise LocalServerError(f"{what} exited with {process.returncode} while starting{see}")
        if time.monotonic() > deadline:
            on_timeout()
            raise LocalServerError(
                f"{what} did not answer on {api_url} within {timeout:g} s "
                f"(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS){see}"
            )
        time.sleep(0.1)


def state_lock(path: Path) -> FileLock:
    return FileLock(path.with_name(f".{path.name}.lock"), timeout=300)


def ensure_shared_server() -> tuple[ServerRecord, bool]:
    """The healthy shared server of this PREFECT_HOME, started if there is none; (record, started now)."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with state_lock(path):
        record = read_record(path)
        if record is not None and _compatible(record) and _healthy(record.api_url):
            return record, False
        if record is not None:  # dead, hung, or started by another Prefect or Python
            _stop_pid(record.pid)
        return _start_shared_server(path, record.port if record else None), True


def _start_shared_server(path: Path, preferred_port: int | None) -> ServerRecord:
    idle_seconds()  # a wrong MLOPS_* setting is reported here, not in the server's log
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
            [sys.executable, "-m", SERVER_MODULE, "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in the command's process group: a Ctrl-C of one run does not stop it
        )
    record = ServerRecord(process.pid, port, prefect.__version__, sys.executable, _database_url(), time.time())
    _write_record(path, record)

    try:
        _wait_until_healthy(
            record.api_url, process, "the local Prefect server", on_timeout=lambda: _stop_pid(process.pid), log=log
        )
    except LocalServerError:
        path.unlink(missing_ok=True)
        raise
    return record


def stop_shared_server() -> ServerRecord | None:
    """Stop this PREFECT_HOME's shared server; the record of the server stopped, None if none was running."""
    path = state_path()
    if not path.exists():
        return None
    with state_lock(path):
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
        api_url = start_child_server()
    else:
        record, started = ensure_shared_server()
        if started:
            print(
                f"Started the local Prefect server (UI) on {record.url}; later runs reuse it, it stops after "
                f"{idle_seconds():g} s idle ({IDLE_VARIABLE}) or with `mlops server stop`",
                file=sys.stderr,
            )
        else:
            print(f"Using the local Prefect server (UI) on {record.url}", file=sys.stderr)
        api_url = record.api_url
    updates[PREFECT_API_URL] = api_url
    with temporary_settings(updates=updates), exported_api_url(api_url):
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


def server_command(argv: list[str] | None = None) -> int:
    """`mlops server status|stop`: the shared server of this PREFECT_HOME."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="mlops server",
        description="The shared local Prefect server of this PREFECT_HOME (flow commands start it themselves).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="print the shared server's address and pid, if one is running")
    commands.add_parser("stop", help="stop the shared server")
    args = parser.parse_args(argv)
    try:
        if args.command == "stop":
            stopped = stop_shared_server()
            print(f"stopped the local Prefect server on {stopped.url}" if stopped else "no local Prefect server")
            return 0
        record = read_record(state_path())
        if record is None or not _healthy(record.api_url):
            print(f"no local Prefect server for PREFECT_HOME={PREFECT_HOME.value()}")
            return 1
        print(f"{record.url} (pid {record.pid}, Prefect {record.prefect_version}, database {record.database})")
        return 0
    except LocalServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(server_command())
