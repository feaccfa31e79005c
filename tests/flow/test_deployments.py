"""The deployment definitions without a server: parameters, schedules, and prefect.yaml in step with serve.py."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlops_pipeline.deployments.catalog import (
    BATCH_INFERENCE_NAME,
    MODEL_STORE_ENV,
    PROJECT_ROOT,
    RETRAINING,
    batch_inference_deployment,
    batch_inference_parameters,
    edited_parameters,
    pipeline_parameters,
    retraining_deployment,
    served_deployments,
)
from mlops_pipeline.flows.pipeline import training_pipeline
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.importtools import import_object
from prefect.utilities.templating import apply_values

from mlops_pipeline.config import ConfigError, PipelineConfig, load_config

PREFECT_YAML = PROJECT_ROOT / "deployments" / "prefect.yaml"
SPECS = {spec.name: spec for spec in RETRAINING}


@pytest.fixture
def declared() -> dict[str, dict[str, Any]]:
    """The deployments in prefect.yaml, by name."""
    document = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    return {d["name"]: d for d in document["deployments"]}


def test_every_shipped_config_has_a_retraining_deployment() -> None:
    shipped = {str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "config").glob("*.yaml")}
    assert {spec.config_file for spec in RETRAINING} == shipped


@pytest.mark.parametrize("config_file", ["config/digits.yaml", "config/diabetes.yaml"])
def test_pipeline_parameters_are_the_config_file(config_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_STORE_ENV, raising=False)
    parameters = pipeline_parameters(config_file)
    assert parameters == {"config": load_config(PROJECT_ROOT / config_file).model_dump(mode="json")}


@pytest.mark.parametrize(
    ("env_root", "argument", "expected"),
    [
        (None, None, "models"),
        ("/srv/models", None, "/srv/models"),
        ("/srv/models", "/tmp/other", "/tmp/other"),
    ],
)
def test_model_store_root_comes_from_argument_then_environment_then_config(
    env_root: str | None, argument: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if env_root is None:
        monkeypatch.delenv(MODEL_STORE_ENV, raising=False)
    else:
        monkeypatch.setenv(MODEL_STORE_ENV, env_root)
    assert pipeline_parameters("config/digits.yaml", argument)["config"]["registry"]["root"] == expected


def test_edited_parameters_change_one_value_and_keep_the_rest() -> None:
    parameters = pipeline_parameters("config/diabetes.yaml", "/tmp/store")
    before = copy.deepcopy(parameters)

    edited = edited_parameters(parameters, ["model.fit_intercept=false"])

    assert parameters == before  # the input is not modified
    assert edited["config"]["model"]["candidates"][0]["fit_intercept"] is False
    edited["config"]["model"]["candidates"][0]["fit_intercept"] = True
    assert edited == before


def test_edited_parameters_reject_an_unknown_key_by_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'model\.candidates\[0\]\.CC'; did you mean 'C'"):
        edited_parameters(pipeline_parameters("config/digits.yaml"), ["model.CC=0.5"])


def test_served_retraining_deployment_has_schedule_parameters_and_typed_form() -> None:
    spec = SPECS["digits-retrain"]
    deployment = retraining_deployment(spec)

    assert deployment.name == "digits-retrain"
    assert deployment.flow_name == training_pipeline.name
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 3 * * *", "UTC")
    assert PipelineConfig.model_validate(deployment.parameters["config"]) == load_config(
        PROJECT_ROOT / spec.config_file, [f"registry.root={deployment.parameters['config']['registry']['root']}"]
    )
    # One typed parameter: the UI renders the pydantic model as a form.
    schema = deployment._parameter_openapi_schema.model_dump()
    assert list(schema["properties"]) == ["config"]
    assert schema["definitions"]["PipelineConfig"]["additionalProperties"] is False


def test_prefect_yaml_declares_the_served_deployments(declared: dict[str, dict[str, Any]]) -> None:
    assert set(declared) == {d.name for d in served_deployments()}


@pytest.mark.parametrize("name", [spec.name for spec in RETRAINING])
def test_prefect_yaml_deployment_matches_its_served_twin(
    name: str, declared: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MODEL_STORE_ENV, raising=False)
    spec, entry = SPECS[name], declared[name]

    flow = load_flow_from_entrypoint(str(PROJECT_ROOT / entry["entrypoint"]))
    assert flow.name == training_pipeline.name
    assert [(s["cron"], s["timezone"], s["active"]) for s in entry["schedules"]] == [(spec.cron, spec.timezone, True)]
    assert entry["work_pool"]["name"] == "training-pool"
    assert entry["description"] == spec.description and entry["tags"] == list(spec.tags)

    # Run the build step the way `prefect deploy` does and template the parameters with its output.
    [step] = entry["build"]
    [(function_name, inputs)] = step.items()
    inputs = dict(inputs)
    step_id = inputs.pop("id")
    assert inputs["config_file"] == spec.config_file
    output = import_object(function_name)(**inputs)
    parameters = apply_values(entry["parameters"], {step_id: output})
    assert parameters == pipeline_parameters(spec.config_file)
    PipelineConfig.model_validate(parameters["config"])

    served = retraining_deployment(spec)
    declared_triggers = [(t["type"], t["expect"], t["match"]) for t in entry.get("triggers", [])]
    served_triggers = [("event", sorted(t.expect), t.match.model_dump()) for t in served.triggers]
    assert declared_triggers == served_triggers
    assert bool(served_triggers) == spec.retrain_on_drift


def test_drift_retrains_each_model_name_once() -> None:
    model_names = [
        retraining_deployment(spec).parameters["config"]["registry"]["model_name"]
        for spec in RETRAINING
        if spec.retrain_on_drift
    ]
    assert len(model_names) == len(set(model_names))
    every_name = {retraining_deployment(spec).parameters["config"]["registry"]["model_name"] for spec in RETRAINING}
    assert set(model_names) == every_name


def test_prefect_yaml_batch_inference_matches_the_served_one(
    declared: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MODEL_STORE_ENV, raising=False)
    entry = declared[BATCH_INFERENCE_NAME]
    flow = load_flow_from_entrypoint(str(PROJECT_ROOT / entry["entrypoint"]))
    assert flow.name == batch_inference_deployment().flow_name
    assert "schedules" not in entry
    [step] = entry["build"]
    [(function_name, inputs)] = step.items()
    output = import_object(function_name)(**{k: v for k, v in inputs.items() if k != "id"})
    assert apply_values(entry["parameters"], {inputs["id"]: output}) == batch_inference_parameters()


def test_prefect_yaml_runs_flows_from_the_worker_checkout() -> None:
    document = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    assert document["pull"] == [{"mlops_pipeline.deployments.catalog.enter_project_directory": {}}]


@pytest.mark.parametrize("from_env", [True, False])
def test_enter_project_directory_is_the_env_folder_else_this_checkout(
    from_env: bool, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_pipeline.deployments.catalog import PROJECT_DIR_ENV, enter_project_directory

    monkeypatch.chdir(tmp_path)  # restored after the test
    if from_env:
        monkeypatch.setenv(PROJECT_DIR_ENV, str(tmp_path / "."))
    else:
        monkeypatch.delenv(PROJECT_DIR_ENV, raising=False)
    expected = tmp_path.resolve() if from_env else PROJECT_ROOT.resolve()
    assert enter_project_directory() == {"directory": str(expected)}
    assert Path.cwd() == expected
