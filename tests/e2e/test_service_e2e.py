"""The pipeline as a service: a real `prefect server`, `python deployments/serve.py`, runs started the ways a user
starts them (Python client, CLI), and the artifacts read back through the Prefect client.

`prefect deploy --all` with a process work pool and `prefect worker start` get their own server, because they
register deployments under the same names as the served ones.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from conftest import REPO_ROOT
from mlops_pipeline.deployments.catalog import (
    RETRAIN_CRON,
    RETRAIN_TIMEZONE,
    RETRAINING,
    edited_parameters,
    pipeline_parameters,
)
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import Artifact
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from mlops_pipeline.registry import ModelStore

pytestmark = pytest.mark.e2e

PREFECT = str(Path(sys.executable).with_name("prefect"))
RUN_TIMEOUT = 120


@pytest.fixture
def client(served_deployments: Any) -> Iterator[SyncPrefectClient]:
    with (
        temporary_settings({PREFECT_API_URL: served_deployments.server.api_url}),
        get_client(sync_client=True) as prefect_client,
    ):
        yield prefect_client


def run_artifacts(client: SyncPrefectClient, flow_run_id: UUID) -> dict[str, Artifact]:
    artifacts = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    )
    return {a.key: a for a in artifacts if a.key}


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [PREFECT, *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert result.returncode == 0, f"prefect {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def table(artifact: Artifact) -> list[dict[str, Any]]:
    data = artifact.data
    return json.loads(data) if isinstance(data, str) else data


@pytest.mark.parametrize("spec", RETRAINING, ids=lambda s: s.name)
def test_served_deployment_has_its_schedule_and_its_config_as_parameters(
    spec: Any, served_deployments: Any, client: SyncPrefectClient
) -> None:
    deployment = client.read_deployment_by_name(f"training-pipeline/{spec.name}")

    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in deployment.schedules] == [
        (RETRAIN_CRON, RETRAIN_TIMEZONE, True)
    ]
    assert deployment.parameters == pipeline_parameters(spec.config_file, str(served_deployments.model_store))
    assert list(deployment.parameter_openapi_schema["properties"]) == ["config"]


def test_run_deployment_with_an_edited_hyperparameter_trains_with_it(
    served_deployments: Any, client: SyncPrefectClient
) -> None:
    deployment = client.read_deployment_by_name("training-pipeline/digits-retrain")
    # What the UI's Custom run form sends: the whole config, one value edited (a partial config would replace
    # the deployment's default whole).
    parameters = edited_parameters(deployment.parameters, ["model.C=0.25"])

    flow_run = run_deployment(
        "training-pipeline/digits-retrain", parameters=parameters, timeout=RUN_TIMEOUT, poll_interval=1
    )

    assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
    store = ModelStore(served_deployments.model_store, "digits-logreg")
    cards = [store.card(v) for v in store.versions()]
    card = next(c for c in cards if c["flow_run_id"] == str(flow_run.id))
    assert card["config"]["model"]["candidates"][0]["C"] == 0.25
    assert card["run"]["deployment"] == "digits-retrain"
    assert card["run"]["started_by"] == "a manual run (UI, CLI or API)"
    artifacts = run_artifacts(client, flow_run.id)
    metrics = {row["metric"]: row for row in table(artifacts["digits-logreg-metrics"])}
    assert metrics["accuracy"]["float"] == pytest.approx(card["metrics"]["accuracy"], abs=1e-4)
    model_card = artifacts["digits-logreg-model-card"].data
    assert '"C": 0.25' in model_card
    assert "data:image/svg+xml;base64," in model_card
    assert {row["class"] for row in table(artifacts["digits-logreg-per-class-metrics"])} == set(range(10))
    assert artifacts["digits-logreg-training-progress"].data == 100.0


def test_cli_deployment_run_completes_and_publishes_the_artifacts(
    served_deployments: Any, client: SyncPrefectClient
) -> None:
    result = cli(
        ["deployment", "run", "training-pipeline/diabetes-retrain", "--watch", "--watch-interval", "1"],
        served_deployments.server.env,
    )

    flow_run_id = UUID(re.search(r"UUID: ([0-9a-f-]{36})", result.stdout).group(1))
    flow_run = client.read_flow_run(flow_run_id)
    assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
    artifacts = run_artifacts(client, flow_run_id)
    assert {row["metric"] for row in table(artifacts["diabetes-linreg-metrics"])} == {"r2", "rmse"}
    model_card = artifacts["diabetes-linreg-model-card"].data
    assert "residuals.svg" in model_card and f"`{flow_run_id}`" in model_card
    store = ModelStore(served_deployments.model_store, "diabetes-linreg")
    assert any((store.folder / v / "residuals.svg").is_file() for v in store.versions())


def test_prefect_deploy_all_registers_the_same_deployments_and_a_process_worker_runs_them(
    tmp_path: Path, start_prefect_server: Any
) -> None:
    model_store = tmp_path / "models"
    with (
        start_prefect_server(tmp_path) as server,
        temporary_settings({PREFECT_API_URL: server.api_url}),
        get_client(sync_client=True) as client,
    ):
        env = {**server.env, "MLOPS_MODEL_STORE_ROOT": str(model_store)}
        # the pool is made with the client (as `prefect work-pool create training-pool --type process` would)
        # to save a CLI start-up; deploying and the worker are the commands under test
        client.create_work_pool(WorkPoolCreate(name="training-pool", type="process"))
        cli(["--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"], env)

        for spec in RETRAINING:
            deployment = client.read_deployment_by_name(f"training-pipeline/{spec.name}")
            assert deployment.work_pool_name == "training-pool"
            assert [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules] == [
                (spec.cron, spec.timezone)
            ]
            assert deployment.parameters == pipeline_parameters(spec.config_file, str(model_store))

        flow_run = run_deployment("training-pipeline/diabetes-retrain", timeout=0)
        cli(["worker", "start", "--pool", "training-pool", "--run-once"], env)

        flow_run = client.read_flow_run(flow_run.id)
        assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
        assert "diabetes-linreg-model-card" in run_artifacts(client, flow_run.id)
    assert ModelStore(model_store, "diabetes-linreg").champion() == "v1"


def test_drifted_batch_starts_a_retraining_run(
    served_deployments: Any, client: SyncPrefectClient, tmp_path: Path
) -> None:
    """Feeding the batch-inference deployment shifted data emits a drift event; the digits retraining deployment's
    trigger turns it into a flow run, with no human in the loop."""
    import time

    import numpy as np
    from mlops_pipeline.deployments.catalog import BATCH_INFERENCE_NAME, batch_inference_parameters
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter
    from sklearn.datasets import load_digits

    store = ModelStore(served_deployments.model_store, "digits-logreg")
    if store.champion() is None:
        # a setting that does not shape the model (data.retries) differs from the deployment's, so the triggered
        # run (the deployment's config) is a new version and not an unchanged retrain that stores nothing
        deployment = client.read_deployment_by_name("training-pipeline/digits-retrain")
        parameters = edited_parameters(deployment.parameters, ["data.retries=3"])
        first = run_deployment(
            "training-pipeline/digits-retrain", parameters=parameters, timeout=RUN_TIMEOUT, poll_interval=1
        )
        assert first.state is not None and first.state.is_completed(), first.state

    bunch = load_digits()
    shifted = tmp_path / "shifted.csv"
    header = ",".join(bunch.feature_names)
    np.savetxt(shifted, bunch.data[:300] + 4.0, delimiter=",", header=header, comments="", fmt="%.1f")

    parameters = batch_inference_parameters(str(served_deployments.model_store))
    parameters["config"].update(data=str(shifted), out=str(tmp_path / "predictions.csv"))
    started = time.time()
    scored = run_deployment(
        f"batch-inference/{BATCH_INFERENCE_NAME}", parameters=parameters, timeout=RUN_TIMEOUT, poll_interval=1
    )
    assert scored.state is not None and scored.state.is_completed(), scored.state
    drift = table(run_artifacts(client, scored.id)["digits-logreg-drift"])
    assert sum(row["drifted"] == "yes" for row in drift) > 32

    def automation_runs() -> list[Any]:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["digits-retrain"])),
            flow_run_filter=FlowRunFilter(),
        )
        return [r for r in runs if r.created_by is not None and r.created_by.type == "AUTOMATION"]

    deadline = started + RUN_TIMEOUT
    while not automation_runs() and time.time() < deadline:
        time.sleep(1)
    [triggered] = automation_runs()
    deadline = time.time() + RUN_TIMEOUT
    while not client.read_flow_run(triggered.id).state.is_final() and time.time() < deadline:
        time.sleep(1)
    assert client.read_flow_run(triggered.id).state.is_completed()
    card = next(store.card(v) for v in store.versions() if store.card(v)["flow_run_id"] == str(triggered.id))
    assert card["run"]["started_by"].startswith("automation")


def test_a_partial_config_keeps_the_deployment_config_for_what_it_leaves_out(
    served_deployments: Any, client: SyncPrefectClient
) -> None:
    """Prefect replaces a deployment's `config` whole with a run's; the flow fills what the run left out from the
    deployment's config, so a partial edit of the diabetes deployment cannot train the digits defaults."""
    partial = {
        "config": {"model": {"candidates": [{"kind": "ridge", "alpha": 0.01}]}, "gate": {"min_metrics": {"r2": 0.35}}}
    }
    flow_run = run_deployment(
        "training-pipeline/diabetes-retrain", parameters=partial, timeout=RUN_TIMEOUT, poll_interval=1
    )
    assert flow_run.state is not None and flow_run.state.is_final(), flow_run.state
    store = ModelStore(served_deployments.model_store, "diabetes-linreg")
    card = next(store.card(v) for v in store.versions() if store.card(v)["flow_run_id"] == str(flow_run.id))
    assert card["config"]["data"]["source"] == "diabetes"
    assert card["config"]["model"]["candidates"] == [{"kind": "ridge", "alpha": 0.01, "standardize": True}]
    assert card["config"]["gate"]["min_metrics"] == {"r2": 0.35}
    assert card["config"]["gate"]["max_metrics"] == {"rmse": 60.0}  # from the deployment, not the flow default
