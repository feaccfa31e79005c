"""`python flows/pipeline.py` as a user runs it: a real process, Prefect's ephemeral server, an empty store."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT, subprocess_env

pytestmark = pytest.mark.e2e

PIPELINE = REPO_ROOT / "flows" / "pipeline.py"


def _pipeline(python: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, str(PIPELINE), *args],
        cwd=REPO_ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_default_run_then_rerun_hits_the_cache(python: str, tmp_path: Path) -> None:
    store = tmp_path / "models"
    first = _pipeline(python, tmp_path, "--set", f"registry.root={store}")
    assert first.returncode == 0, first.stderr
    accuracy = float(re.search(r"^float\s+accuracy=([0-9.]+)", first.stdout, re.M).group(1))
    assert accuracy >= 0.96
    assert "train=Completed" in first.stdout
    assert "champion   yes, v1 is the champion" in first.stdout

    second = _pipeline(python, tmp_path, "--set", f"registry.root={store}")
    assert second.returncode == 0, second.stderr
    assert "train=Cached" in second.stdout
    # the same model bytes, data, config and code as the champion: nothing new is stored
    assert "champion   unchanged: v1 remains champion" in second.stdout
    champion = json.loads((store / "digits-logreg" / "champion.json").read_text())
    assert champion["version"] == "v1"
    assert sorted(p.name for p in (store / "digits-logreg").iterdir() if p.name.startswith("v")) == ["v1"]


def test_typo_in_config_fails_at_once_naming_the_key(python: str, tmp_path: Path) -> None:
    config = tmp_path / "typo.yaml"
    config.write_text("model:\n  kind: logistic_regression\n  max_iters: 100\n")
    result = _pipeline(python, tmp_path, "--config", str(config), "--set", f"registry.root={tmp_path / 'models'}")
    assert result.returncode == 2
    assert "unknown key 'model.max_iters'; did you mean 'max_iter'?" in result.stderr
    assert "Beginning flow run" not in result.stdout + result.stderr
    assert not (tmp_path / "models").exists()


def test_help_documents_the_options(python: str, tmp_path: Path) -> None:
    result = _pipeline(python, tmp_path, "--help")
    assert result.returncode == 0
    assert "--config" in result.stdout and "--set KEY=VALUE" in result.stdout


def test_data_of_another_set_needs_its_own_model_name(python: str, tmp_path: Path) -> None:
    result = _pipeline(python, tmp_path, "--data", "wine", "--set", f"registry.root={tmp_path / 'models'}")
    assert result.returncode == 2
    assert "--data wine: the model name 'digits-logreg' holds models trained on 'digits'" in result.stderr
    assert "--set registry.model_name=NAME" in result.stderr
    assert not (tmp_path / "models").exists()
