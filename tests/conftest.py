"""Shared fixtures: one Prefect test harness per session, isolated result storage, tiny data sets."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


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
    with temporary_settings(settings), prefect_test_harness():
        yield results


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running the real commands: their own Prefect home and result store, no server URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_RESULTS_LOCAL_STORAGE_PATH=str(tmp_path / "prefect-results"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def python() -> str:
    return sys.executable
