"""The temporary Prefect server a flow command starts when no PREFECT_API_URL is set, tied to the command's life.

Prefect's own ephemeral server (started lazily by the first API call) stops at interpreter exit, but a command
killed with SIGKILL runs no exit handler, so that uvicorn child is left running with nobody to stop it. Here the
command starts the same server itself, from its main thread, with Linux's parent-death signal set in the child:
the kernel sends it SIGTERM the moment the command dies, however it dies. The flow then runs against it exactly as
it would against Prefect's lazily started one (same app, same database under PREFECT_HOME).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED, get_current_settings

ResultT = TypeVar("ResultT")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent() -> None:
    """In the child, before exec: ask the kernel for SIGTERM when the parent exits (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


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


def run_on_local_server(run: Callable[[], ResultT]) -> ResultT:
    """`run()`, with the temporary server (when Prefect would start one) started first as a `ChildServer`.

    Prefect keeps one temporary server per process (SubprocessASGIServer's instances by port; None for "any free
    port"): registering ours under that key makes every client of this process use it, and Prefect's own exit
    handler stops it after the log workers have flushed, exactly as for the server it would have started.
    """
    if not PREFECT_API_URL.value() and PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        ChildServer().start()
    return run()
