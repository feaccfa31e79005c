"""The shared local server's settings and idle clock (its processes: tests/e2e/test_local_server.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mlops_pipeline.runtime import local_server
from mlops_pipeline.runtime.local_server import LocalServerError
from mlops_pipeline.runtime.server_process import ActivityTracker


def test_the_mode_defaults_to_shared_and_a_wrong_one_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLOPS_LOCAL_SERVER", raising=False)
    assert local_server.local_server_mode() == "shared"
    monkeypatch.setenv("MLOPS_LOCAL_SERVER", "per-run")
    assert local_server.local_server_mode() == "per-run"
    monkeypatch.setenv("MLOPS_LOCAL_SERVER", "perrun")
    with pytest.raises(LocalServerError, match="MLOPS_LOCAL_SERVER='perrun': expected one of shared, per-run"):
        local_server.local_server_mode()


@pytest.mark.parametrize("raw", ["0", "-5", "soon"])
def test_a_wrong_idle_time_is_named(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("MLOPS_LOCAL_SERVER_IDLE_SECONDS", raw)
    with pytest.raises(LocalServerError, match=f"MLOPS_LOCAL_SERVER_IDLE_SECONDS='{raw}'"):
        local_server.idle_seconds()


def test_an_unreadable_record_is_no_record(tmp_path: Path) -> None:
    path = tmp_path / "mlops-local-server.json"
    assert local_server.read_record(path) is None
    path.write_text('{"pid": 1')  # a crash mid-write
    assert local_server.read_record(path) is None
    path.write_text('{"pid": 1}')  # missing fields
    assert local_server.read_record(path) is None


def test_an_open_connection_keeps_the_server_busy_and_idle_time_starts_when_it_closes() -> None:
    release = asyncio.Event()

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await release.wait()

    tracker = ActivityTracker(app)

    async def scenario() -> tuple[float, int, float, int]:
        request = asyncio.create_task(tracker({"type": "websocket"}, None, None))
        await asyncio.sleep(0.05)
        busy, open_while = tracker.idle_for(), tracker.open_connections
        release.set()
        await request
        await asyncio.sleep(0.05)
        return busy, open_while, tracker.idle_for(), tracker.open_connections

    busy, open_while, idle, open_after = asyncio.run(scenario())
    assert (busy, open_while, open_after) == (0.0, 1, 0)
    assert 0.0 < idle < 5.0  # counted from the moment the connection closed


def test_lifespan_events_are_not_activity() -> None:
    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        return None

    tracker = ActivityTracker(app)
    tracker.last_activity -= 100
    asyncio.run(tracker({"type": "lifespan"}, None, None))
    assert tracker.idle_for() >= 100
