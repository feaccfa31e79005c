"""The flow's train -> gate -> commit path, run for real on the Prefect test harness."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any
from uuid import UUID

import mlops_pipeline.flows.pipeline as pipeline
import pytest
from conftest import REPO_ROOT
from prefect import task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from mlops_pipeline.config import PipelineConfig, load_config, parse_config
from mlops_pipeline.quantize import QuantizationError
from mlops_pipeline.registry import CHAMPION_FILE, FLOAT_MODEL_FILE, INT8_MODEL_FILE, ModelStore

# stored with every version besides the model files: the plot, the data contract, the drift reference
EXTRA_FILES = ("confusion_matrix.svg", "contract.json", "drift_reference.json")
NAME = "digits-logreg"
WEAK = [
    "model.C=0.001",
    "gate.min_metrics.accuracy=0.5",
    "gate.min_metrics.macro_f1=0.5",
    "gate.golden_sets.0.min_metrics.accuracy=0.5",  # weak, yet within every absolute bound: only champion rules fail
]


def _config(root: Path, *overrides: str, path: str = "config/digits.yaml") -> PipelineConfig:
    return load_config(REPO_ROOT / path, [f"registry.root={root}", *overrides])


def _table(flow_run_id: UUID, kind: str) -> list[dict[str, Any]]:
    """The newest table artifact of this kind created by the flow run, read back through the API."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[f"{NAME}-{kind}"]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
            ),
            sort=ArtifactSort.CREATED_DESC,
        )
    assert artifacts, f"no {kind} artifact for flow run {flow_run_id}"
    data = artifacts[0].data
    return json.loads(data) if isinstance(data, str) else data


@pytest.fixture(scope="module")
def first_run(prefect_harness: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, UUID]:
    """One passing run of config/digits.yaml into a fresh store: its v1 is the champion the tests compete with."""
    root = tmp_path_factory.mktemp("store")
    state = pipeline.training_pipeline(_config(root), return_state=True)
    assert state.is_completed(), state.message
    return root, state.state_details.flow_run_id


@pytest.fixture
def store_with_champion(first_run: tuple[Path, UUID], tmp_path: Path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(first_run[0], root)
    return root


def test_first_model_of_a_name_passes_and_becomes_champion(first_run: tuple[Path, UUID]) -> None:
    root, run_id = first_run
    store = ModelStore(root, NAME)
    assert store.champion() == "v1"
    card = store.card("v1")
    assert card["status"] == "passed"
    assert card["gate"]["champion_version"] is None
    assert store.verify("v1") == sorted([FLOAT_MODEL_FILE, INT8_MODEL_FILE, *EXTRA_FILES])
    candidates = _table(run_id, "candidates")
    assert [(row["kind"], row["selected"]) for row in candidates] == [("logistic_regression", "yes")]
    verdict = _table(run_id, "gate")
    assert {row["check"] for row in verdict} == {
        "accuracy >= min",
        "macro_f1 >= min",
        "accuracy beats baseline",
        "deterministic predictions",
        "batch of one row",
        "agreement under input noise",
        "drawn digits: accuracy >= min",  # config/digits.yaml's golden set (no champion yet: no champion rule)
    }
    assert all(row["result"] == "pass" for row in verdict)


def test_weak_candidate_ends_failed_with_champion_untouched_and_the_gate_table_saying_why(
    store_with_champion: Path,
) -> None:
    pointer = store_with_champion / NAME / CHAMPION_FILE
    before = pointer.read_bytes()

    state = pipeline.training_pipeline(_config(store_with_champion, *WEAK), return_state=True)

    assert state.is_failed()
    assert "accuracy vs champion v1" in state.message
    assert pointer.read_bytes() == before
    store = ModelStore(store_with_champion, NAME)
    assert store.versions() == ["v1", "v2"]
    rejected = store.card("v2")
    assert rejected["status"] == "rejected"
    assert "accuracy vs champion v1" in rejected["reason"]
    # kept for inspection; never quantized
    assert store.verify("v2") == sorted([FLOAT_MODEL_FILE, *EXTRA_FILES])
    verdict = {row["check"]: row for row in _table(state.state_details.flow_run_id, "gate")}
    # the held-out comparison and the drawn-digit set's (config/digits.yaml's golden set): it reads drawings worse too
    assert [name for name, row in verdict.items() if row["result"] == "FAIL"] == [
        "accuracy vs champion v1",
        "drawn digits: accuracy vs champion v1",
    ]
    champion_row = verdict["accuracy vs champion v1"]
    assert champion_row["measured"] < float(champion_row["bound"].removeprefix(">= "))
    assert verdict["champion v1 scores the held-out data"]["result"] == "pass"


def test_candidate_gated_before_another_run_promoted_is_rechecked_at_commit(
    store_with_champion: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_load = pipeline.load_champion

    def champion_appears_after_the_gate(store: ModelStore, version: str | None = None):
        # the gate loads "the champion" (none yet, as if v1 were promoted by a concurrent run meanwhile);
        # the commit step's re-check loads v1 by name
        return None if version is None else real_load(store, version)

    monkeypatch.setattr(pipeline, "load_champion", champion_appears_after_the_gate)
    pointer = store_with_champion / NAME / CHAMPION_FILE
    before = pointer.read_bytes()

    state = pipeline.training_pipeline(_config(store_with_champion, *WEAK), return_state=True)

    assert state.is_failed()
    assert pointer.read_bytes() == before
    card = ModelStore(store_with_champion, NAME).card("v2")
    assert card["status"] == "rejected"
    assert "champion moved to v1 during this run" in card["reason"]
    verdict = _table(state.state_details.flow_run_id, "gate")
    assert [row["check"] for row in verdict if row["result"] == "FAIL"] == ["accuracy vs champion v1"]


@task(name="quantize")
def _quantization_gate_fails(*args: Any, **kwargs: Any) -> None:
    raise QuantizationError("quantization gate failed: accuracy fell from 0.97 (float) to 0.90 (int8)")


def test_failure_after_the_gate_promotes_nothing(store_with_champion: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "quantize", _quantization_gate_fails)
    pointer = store_with_champion / NAME / CHAMPION_FILE
    before = pointer.read_bytes()

    state = pipeline.training_pipeline(_config(store_with_champion), return_state=True)

    assert state.is_failed()
    assert pointer.read_bytes() == before
    card = ModelStore(store_with_champion, NAME).card("v2")
    assert card["status"] == "rejected"
    assert card["gate"]["passed"] is True
    assert card["reason"].startswith("quantization gate failed")


def test_candidates_compete_on_validation_rows_and_refit_false_keeps_the_validation_model(
    store_with_champion: Path,
) -> None:
    # without the refit the model learned from 20% fewer rows and scores about a point lower than the champion
    config = _config(
        store_with_champion,
        "model.refit=false",
        "gate.champion_tolerance=0.05",
        "gate.golden_sets.0.champion_tolerance=0.05",  # ... and reads the drawn digits a little worse
        path="config/digits-candidates.yaml",
    )
    state = pipeline.training_pipeline(config, return_state=True)

    assert state.is_completed(), state.message
    summary = state.result()
    assert summary.version == "v2" and summary.became_champion
    rows = _table(state.state_details.flow_run_id, "candidates")
    assert [row["settings"].split(",")[0] for row in rows] == ["C=0.1", "C=1.0", "C=10.0"]
    best = max(rows, key=lambda row: (row["score"], -row["candidate"]))
    assert [row["candidate"] for row in rows if row["selected"] == "yes"] == [best["candidate"]]
    store = ModelStore(store_with_champion, NAME)
    card = store.card("v2")
    assert card["selection"]["selected"] == best["candidate"]
    n_train = card["data"]["n_train"]
    # refit off: the stored model saw the training rows minus the validation split, not all of them
    scaler = store.load_float_model("v2").named_steps["scaler"]
    assert scaler.n_samples_seen_ == n_train - math.ceil(0.2 * n_train)  # train_test_split rounds the held-out part up


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_with_quantization_off_stores_only_the_float_model(prefect_harness: Path, tmp_path: Path) -> None:
    config = parse_config(
        {
            "model": {"kind": "mlp_classifier", "hidden_layer_sizes": [16], "max_iter": 60},
            "gate": {"min_metrics": {"accuracy": 0.9}},
            "quantize": {"enabled": False},
            "registry": {"root": str(tmp_path), "model_name": "digits-mlp"},
        }
    )
    state = pipeline.training_pipeline(config, return_state=True)

    assert state.is_completed(), state.message
    summary = state.result()
    assert "quantize" not in summary.task_states and "infer" not in summary.task_states
    store = ModelStore(tmp_path, "digits-mlp")
    assert store.champion() == "v1"
    assert store.verify("v1") == sorted([FLOAT_MODEL_FILE, *EXTRA_FILES])
    card = store.card("v1")
    assert card["quantization"] is None and card["int8_metrics"] == {}
    assert card["selection"]["model"]["hidden_layer_sizes"] == [16]


def test_a_golden_set_that_cannot_be_read_fails_the_run_before_training_and_stores_nothing(
    prefect_harness: Path, tmp_path: Path
) -> None:
    config = _config(tmp_path, f"gate.golden_sets.0.source={tmp_path / 'nowhere.csv'}")
    state = pipeline.training_pipeline(config, return_state=True)

    assert state.is_failed()
    assert "gate.golden_sets[0].source: no such file" in str(state.message)
    assert "nowhere.csv" in str(state.message)
    assert not (tmp_path / NAME).exists() or list((tmp_path / NAME).glob("v*")) == []  # no rejected version
