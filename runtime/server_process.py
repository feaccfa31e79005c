"""The shared local Prefect server's own process: Prefect's API, UI and services, stopped when idle.

    python -m mlops_pipeline.runtime.server_process --port PORT     (started by the flow commands, not by hand)

It serves the app `prefect server start` serves (`prefect.server.api.server.create_app`, public), behind an ASGI
wrapper that notes every request and open connection, and stops itself after MLOPS_LOCAL_SERVER_IDLE_SECONDS
without either, or as soon as `$PREFECT_HOME/mlops-local-server.json` no longer names it. Why this process and
not `prefect server start --background`: see mlops_pipeline.runtime.local_server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from mlops_pipeline.runtime.local_server import (
    IDLE_VARIABLE,
    LocalServerError,
    idle_seconds,
    read_record,
    state_lock,
    state_path,
)


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
                lock = state_lock(path)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_pipeline.runtime.server_process",
        description="Run the shared local Prefect server of this PREFECT_HOME (flow commands start it themselves).",
    )
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        return serve(args.port)
    except LocalServerError as exc:
        print(f"error: {exc}", flush=True)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
