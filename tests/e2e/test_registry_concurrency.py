"""Two real `python flows/pipeline.py` runs promoting into one model store at the same time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, subprocess_env

from mlops_pipeline.registry import ModelStore


@pytest.mark.e2e
def test_two_concurrent_runs_store_two_versions_and_leave_a_valid_champion(tmp_path: Path, python: str) -> None:
    models = tmp_path / "models"
    command = [
        python,
        str(REPO_ROOT / "flows" / "pipeline.py"),
        "--config",
        str(REPO_ROOT / "config/digits.yaml"),
        "--set",
        f"registry.root={models}",
    ]
    homes = [tmp_path / "first", tmp_path / "second"]  # each run its own Prefect home and server
    for home in homes:
        home.mkdir()
    # The runs differ in a setting that does not shape the model (data.retries): the second is a new version
    # whichever commits first. Two identical runs may leave one version (an unchanged retrain stores nothing).
    variants = [[], ["--set", "data.retries=3"]]
    runs = [
        subprocess.Popen(
            [*command, *variant],
            cwd=tmp_path,
            env=subprocess_env(home),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for home, variant in zip(homes, variants, strict=True)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]

    for run, (_stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr[-3000:]
    store = ModelStore(models, "digits-logreg")
    assert store.versions() == ["v1", "v2"]
    reported = sorted(
        line.split()[-1] for stdout, _ in outputs for line in stdout.splitlines() if line.startswith("model ")
    )
    assert reported == ["v1", "v2"]
    assert [store.card(v)["status"] for v in ("v1", "v2")] == ["passed", "passed"]
    # the run that committed second was compared with the first one's champion, at its gate or under the lock
    champion = store.champion()
    assert champion in {"v1", "v2"}
    assert store.load_float_model(champion).predict(np.zeros((1, 64))).shape == (1,)
    assert not [p.name for p in store.folder.iterdir() if p.name.startswith(".staging")]
