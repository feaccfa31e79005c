"""The MLOPS_* settings: read from a mapping, defaults, one-line errors naming the variable, the docs table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from mlops_pipeline.settings import Settings, SettingsError, get_settings


def test_unset_and_empty_variables_take_the_defaults_and_other_names_are_ignored() -> None:
    defaults = Settings()
    assert Settings.from_environ({}) == defaults
    assert Settings.from_environ({"MLOPS_LOCAL_SERVER": "", "MLOPS_TASK_RUNNER": " ", "MLOPS_OTHER": "x"}) == defaults
    assert (defaults.local_server, defaults.local_server_idle_seconds, defaults.task_runner) == ("shared", 1200.0, None)


def test_values_are_typed_and_normalised() -> None:
    settings = Settings.from_environ(
        {
            "MLOPS_LOCAL_SERVER": "per-run",
            "MLOPS_LOCAL_SERVER_IDLE_SECONDS": "2.5",
            "MLOPS_TASK_RUNNER": "thread",
            "MLOPS_RESULT_STORAGE": "s3://bucket/results/",
            "MLOPS_STORE_HMAC_KEY": "secret",
            "MLOPS_PROJECT_DIR": "/srv/checkout",
        }
    )
    assert settings.local_server == "per-run" and settings.local_server_idle_seconds == 2.5
    assert settings.task_runner is None  # thread: the flow's own default runner
    assert settings.result_storage == "s3://bucket/results"
    assert settings.store_hmac_key is not None and settings.store_hmac_key.get_secret_value() == "secret"
    assert "secret" not in repr(settings)
    assert str(settings.project_dir) == "/srv/checkout"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MLOPS_LOCAL_SERVER": "perrun"}, "MLOPS_LOCAL_SERVER='perrun': expected one of shared, per-run"),
        ({"MLOPS_LOCAL_SERVER_IDLE_SECONDS": "soon"}, "MLOPS_LOCAL_SERVER_IDLE_SECONDS='soon': expected a number"),
        ({"MLOPS_LOCAL_SERVER_IDLE_SECONDS": "nan"}, "MLOPS_LOCAL_SERVER_IDLE_SECONDS='nan': expected a number"),
        ({"MLOPS_TASK_RUNNER": "spark"}, "MLOPS_TASK_RUNNER 'spark': expected 'thread', 'dask' or"),
        ({"MLOPS_RESULT_STORAGE": "results"}, "MLOPS_RESULT_STORAGE='results': expected a URL"),
    ],
)
def test_a_wrong_value_names_the_variable_and_what_it_accepts(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.from_environ(environ)


def test_every_wrong_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ({"MLOPS_LOCAL_SERVER": "x", "MLOPS_LOCAL_SERVER_IDLE_SECONDS": "0"})
    assert "MLOPS_LOCAL_SERVER='x'" in str(raised.value) and "MLOPS_LOCAL_SERVER_IDLE_SECONDS='0'" in str(raised.value)


def test_the_process_settings_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_MODEL_STORE_ROOT", "/srv/a")
    assert get_settings().model_store_root == "/srv/a"
    assert get_settings() is get_settings()  # read once while nothing changes
    monkeypatch.setenv("MLOPS_MODEL_STORE_ROOT", "/srv/b")
    assert get_settings().model_store_root == "/srv/b"


def test_the_docs_table_lists_every_variable_and_no_other() -> None:
    text = (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(MLOPS_[A-Z_]+)` \|", text, flags=re.MULTILINE))
    assert listed == {Settings.variable(name) for name in Settings.model_fields}


def test_a_wrong_variable_stops_the_training_command_with_one_line_and_exit_2(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLOPS_"))}
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "flows" / "pipeline.py")],
        env={**clean, "PREFECT_HOME": str(tmp_path), "MLOPS_TASK_RUNNER": "bogus"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr == "error: MLOPS_TASK_RUNNER 'bogus': expected 'thread', 'dask' or 'dask=tcp://HOST:PORT'\n"
