"""The training flow under one Prefect test harness: results, caching, model store, artifacts, gate failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from mlops_pipeline.flows.pipeline import RunSummary, summary_markdown, training_pipeline
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

from mlops_pipeline.config import PipelineConfig, load_config, parse_config
from mlops_pipeline.registry import ModelStore, sha256_file

pytestmark = pytest.mark.usefixtures("prefect_harness")

CONFIG_DIR = REPO_ROOT / "config"


def _digits(store_root: Path, **model: object) -> PipelineConfig:
    raw = {"registry": {"root": str(store_root)}, "model": {"kind": "logistic_regression", **model}}
    return parse_config(raw)


def _run(config: PipelineConfig) -> RunSummary:
    state = training_pipeline(config, return_state=True)
    assert state.is_completed(), state.message
    return state.result()


def _artifacts_of(flow_run_id: str, keys: list[str]) -> dict[str, object]:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        )
    return {a.key: a for a in artifacts}


def test_first_run_trains_stores_and_promotes(tmp_path: Path) -> None:
    # a C no other test uses: the result cache is shared by the whole session
    summary = _run(_digits(tmp_path, C=0.97))

    assert summary.metrics["accuracy"] >= 0.96
    assert summary.int8_metrics["accuracy"] >= summary.metrics["accuracy"] - 0.005
    assert summary.task_states == {
        "load": "Completed",
        "validate": "Completed",
        "train_candidate-0": "Completed",
        "train": "Completed",
        "gate": "Completed",
        "quantize": "Completed",
        "infer": "Completed",
    }
    store = ModelStore(tmp_path, "digits-logreg")
    assert (summary.version, summary.became_champion, store.champion()) == ("v1", True, "v1")
    folder = tmp_path / "digits-logreg" / "v1"
    assert sorted(p.name for p in folder.iterdir()) == [
        "card.json",
        "confusion_matrix.svg",
        "contract.json",
        "drift_reference.json",
        "model.int8.npz",
        "model.joblib",
    ]
    card = json.loads((folder / "card.json").read_text())
    for name, entry in card["files"].items():
        assert sha256_file(folder / name) == entry["sha256"]
    assert card["status"] == "passed"
    assert card["data"]["fingerprint"] and card["code_version"] and card["flow_run_id"]
    assert card["config"]["model"]["candidates"][0]["C"] == 0.97
    # a run outside any deployment: its lineage says so (read from the run's context, not the API)
    assert card["run"]["flow_run_id"] == card["flow_run_id"]
    assert (card["run"]["deployment"], card["run"]["deployment_id"]) == (None, None)

    artifacts = _artifacts_of(
        card["flow_run_id"], ["digits-logreg-metrics", "digits-logreg-model-card", "digits-logreg-model-files"]
    )
    assert set(artifacts) == {"digits-logreg-metrics", "digits-logreg-model-card", "digits-logreg-model-files"}
    assert "accuracy" in artifacts["digits-logreg-metrics"].data
    assert "## Test-gate" in artifacts["digits-logreg-model-card"].data
    assert folder.resolve().as_uri() in artifacts["digits-logreg-model-files"].data


def test_rerun_is_cached_gives_identical_model_bytes_and_stores_nothing(tmp_path: Path) -> None:
    config = _digits(tmp_path, C=0.7)
    first = _run(config)
    rerun = training_pipeline(config, return_state=True)
    assert rerun.is_completed(), rerun.message
    second = rerun.result()
    assert (first.task_states["train"], second.task_states["train"]) == ("Completed", "Cached")
    # identical model bytes (float and int8), data, config and code: the champion is kept, no v2 is stored
    store = ModelStore(tmp_path, "digits-logreg")
    assert store.versions() == ["v1"] and store.champion() == "v1"
    assert (second.version, second.status, second.became_champion) == ("v1", "unchanged", False)
    assert second.outcome == "unchanged: v1 remains champion"
    assert rerun.message == "unchanged: v1 remains champion"  # the run list and a deployment's run history
    commit = _artifacts_of(str(rerun.state_details.flow_run_id), ["digits-logreg-commit"])["digits-logreg-commit"]
    assert "unchanged: v1 remains champion" in commit.data and "same model bytes" in commit.data  # type: ignore[attr-defined]
    # the CI job summary's heading says so too; a run that stores a version is headed by that version
    assert summary_markdown(second).startswith("### digits-logreg: unchanged: v1 remains champion\n")
    assert summary_markdown(first).startswith("### digits-logreg v1\n")

    changed = _run(_digits(tmp_path, C=0.6))  # any change to the config: a new version
    assert (changed.version, changed.outcome) == ("v2", "v2 stored and promoted to champion")
    assert store.versions() == ["v1", "v2"] and store.champion() == "v2"


def test_changed_hyperparameter_retrains(tmp_path: Path) -> None:
    _run(_digits(tmp_path, C=0.9))
    changed = _run(_digits(tmp_path, C=0.8))
    assert changed.task_states["train"] == "Completed"
    card = ModelStore(tmp_path, "digits-logreg").card("v2")
    assert card["config"]["model"]["candidates"][0]["C"] == 0.8


def test_diabetes_config_reaches_its_bound(tmp_path: Path) -> None:
    config = load_config(CONFIG_DIR / "diabetes.yaml", [f"registry.root={tmp_path}"])
    summary = _run(config)
    assert summary.metrics["r2"] >= 0.40
    assert abs(summary.int8_metrics["r2"] - summary.metrics["r2"]) <= 0.002


def test_failed_gate_keeps_the_champion_and_stores_the_candidate_as_rejected(tmp_path: Path) -> None:
    _run(_digits(tmp_path))
    pointer = tmp_path / "digits-logreg" / "champion.json"
    before = pointer.read_bytes()

    weak = parse_config(
        {
            "registry": {"root": str(tmp_path)},
            "model": {"kind": "logistic_regression", "C": 0.0001, "max_iter": 5},
            "gate": {"min_metrics": {"accuracy": 0.95, "macro_f1": 0.95}},
        }
    )
    state = training_pipeline(weak, return_state=True)

    assert state.is_failed()
    message = str(state.result(raise_on_failure=False))
    assert "accuracy >= min" in message and "macro_f1 >= min" in message and "vs champion" in message
    assert pointer.read_bytes() == before
    rejected = ModelStore(tmp_path, "digits-logreg").card("v2")
    assert rejected["status"] == "rejected"
    assert not (tmp_path / "digits-logreg" / "v2" / "model.int8.npz").exists()
