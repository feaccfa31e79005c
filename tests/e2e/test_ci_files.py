"""The GitHub workflows and the Dockerfile, checked here since no runner or Docker engine is available.

actionlint and hadolint come from PyPI (dev extra); every command a workflow runs must exist in the project and
accept the options the workflow passes.
"""

from __future__ import annotations

import csv
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


def _workflow(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / ".github" / "workflows" / name).read_text())


def _run_commands() -> list[tuple[str, str]]:
    """(workflow file, command) for every line of every `run:` step."""
    commands = []
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                for line in step.get("run", "").splitlines():
                    for command in re.split(r"\s*&&\s*", line.strip()):
                        if command:
                            commands.append((path.name, command))
    return commands


def test_the_expected_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} == {"ci.yml", "pipeline.yml", "deploy.yml"}


def test_actionlint_reports_nothing() -> None:
    result = subprocess.run([_tool("actionlint"), "-no-color"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_reports_nothing() -> None:
    result = subprocess.run([_tool("hadolint"), "Dockerfile"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_both_pythons_with_pip_cache() -> None:
    job = _workflow("ci.yml")["jobs"]["test"]
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip"


def test_pipeline_jobs_chain_and_hand_the_model_store_along() -> None:
    jobs = _workflow("pipeline.yml")["jobs"]
    assert (jobs["train"]["needs"], jobs["infer"]["needs"]) == ("test", "train")
    upload = next(s for s in jobs["train"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    download = next(s for s in jobs["infer"]["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    assert upload["with"]["name"] == download["with"]["name"]
    assert upload["with"]["path"] == download["with"]["path"] == "models/"
    train_run = " ".join(s.get("run", "") for s in jobs["train"]["steps"])
    assert "registry.root=models" in train_run and "$GITHUB_STEP_SUMMARY" in train_run


def test_deploy_skips_with_a_notice_without_secrets() -> None:
    job = _workflow("deploy.yml")["jobs"]["deploy"]
    assert job["env"]["PREFECT_API_URL"] == "${{ secrets.PREFECT_API_URL }}"
    assert job["env"]["PREFECT_API_KEY"] == "${{ secrets.PREFECT_API_KEY }}"
    skip = job["steps"][0]
    assert skip["if"] == "env.PREFECT_API_URL == ''" and "::notice" in skip["run"]
    assert all(step.get("if") == "env.PREFECT_API_URL != ''" for step in job["steps"][1:])


def _pip_extras(command: str) -> set[str]:
    match = re.search(r'-e "?\.\[([a-z,]+)\]"?', command)
    return set(match.group(1).split(",")) if match else set()


@pytest.mark.parametrize(("workflow", "command"), _run_commands())
def test_every_workflow_command_exists_in_the_project(workflow: str, command: str) -> None:
    words = shlex.split(command)
    if words[0] == "echo":
        return
    if words[:3] == ["python", "-m", "pip"]:
        extras = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
        assert _pip_extras(command) <= extras, f"{workflow}: {command}"
        return
    if words[0] == "python" and words[1].endswith(".py"):
        script = REPO_ROOT / words[1]
        assert script.is_file(), f"{workflow}: {script} does not exist"
        help_text = subprocess.run(
            [sys.executable, str(script), "--help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
        ).stdout
        for option in (w for w in words[2:] if w.startswith("--")):
            assert option in help_text, f"{workflow}: {words[1]} has no option {option}"
        return
    if words[0] == "prefect":
        prefect_file = words[words.index("--prefect-file") + 1]
        assert (REPO_ROOT / prefect_file).is_file(), f"{workflow}: {prefect_file} does not exist"
        return
    assert words[0] in {"ruff", "mypy", "pytest"}, f"{workflow}: unexpected command {command!r}"
    dev = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert any(req.startswith(words[0]) for req in dev), f"{words[0]} is not in the dev extra"


def _job_commands(job: dict) -> list[str]:
    """A job's `run:` steps, less installation (the test runs in the project's installed environment)."""
    return [step["run"] for step in job["steps"] if "run" in step and "pip install" not in step["run"]]


def _checkout(into: Path) -> Path:
    for name in ("flows", "config", "prefect.toml"):
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, into / name)
    return into


@pytest.mark.e2e
def test_pipeline_workflow_train_then_infer_hand_the_model_folder_along(tmp_path: Path) -> None:
    """The train and infer jobs' commands, run in order in separate checkouts, the model folder passed between
    them as upload-artifact / download-artifact would."""
    from conftest import subprocess_env

    workflow = _workflow("pipeline.yml")
    jobs = workflow["jobs"]
    summary = tmp_path / "step-summary.md"
    bin_path = f"{BIN}:{subprocess_env(tmp_path)['PATH']}"

    def run_job(name: str, checkout: Path) -> None:
        env = subprocess_env(checkout) | {
            "PATH": bin_path,
            "CONFIG": "config/digits.yaml",
            "GITHUB_STEP_SUMMARY": str(summary),
            "CI": "true",
        }
        for command in _job_commands(jobs[name]):
            result = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", command],
                cwd=checkout,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, f"{name}: {command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

    train = _checkout(tmp_path / "train")
    run_job("train", train)
    upload = next(s for s in jobs["train"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    artifact = tmp_path / "artifact"
    shutil.copytree(train / upload["with"]["path"], artifact)

    infer = _checkout(tmp_path / "infer")
    download = next(s for s in jobs["infer"]["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    shutil.copytree(artifact, infer / download["with"]["path"])
    run_job("infer", infer)

    predictions = infer / "predictions.csv"
    with predictions.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1797 and {"row", "prediction", "proba_0"} <= set(rows[0])
    text = summary.read_text()
    assert "### digits-logreg v1" in text and "### Batch inference: digits-logreg v1" in text
