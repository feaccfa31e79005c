"""mypy follows the flows' calls into the tasks: a wrong argument type in flows/pipeline.py fails the type check.

tasks/, flows/, deployments/ and serving/ are installed as `mlops_pipeline.tasks` etc.; without
src/mlops_pipeline's links to them (pyproject.toml, [tool.mypy]) mypy would see those imports as `Any` and pass
anything. The check runs mypy once on two copies of the training flow, one unchanged and one with a single argument
of the wrong type, with the project's own mypy settings and cache (warm after the test command's `mypy`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_ROOT
from mypy import api

CALL = "diagnose(trained, data, store.name)"  # tasks/diagnose.py: diagnose(trained, data, model_name: str)
WRONG = "diagnose(trained, data, len(store.name))"


def test_a_wrong_argument_type_in_a_flow_to_task_call_fails_mypy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = (REPO_ROOT / "flows" / "pipeline.py").read_text(encoding="utf-8")
    assert source.count(CALL) == 1, f"flows/pipeline.py no longer calls {CALL}; pick another call for this test"
    unchanged, wrong = tmp_path / "pipeline_unchanged.py", tmp_path / "pipeline_wrong.py"
    unchanged.write_text(source, encoding="utf-8")
    wrong.write_text(source.replace(CALL, WRONG), encoding="utf-8")
    line = source[: source.index(CALL)].count("\n") + 1

    monkeypatch.chdir(REPO_ROOT)  # the settings' relative paths (mypy_path = "src", the cache) are the project's
    report, errors, status = api.run(["--config-file", "pyproject.toml", str(unchanged), str(wrong)])

    assert status == 1, report + errors
    found = [row for row in report.splitlines() if ": error:" in row]
    assert len(found) == 1, report
    # (by file name: mypy's cache may report the path an identical copy had in an earlier session)
    assert f"{wrong.name}:{line}: error: No overload variant of " in found[0], found[0]
    # Task.__call__ is typed with the task function's parameters: the int where a str belongs matches none
    assert '"__call__" of "Task" matches argument types' in found[0] and found[0].endswith('"int"  [call-overload]')
