"""Forests and your own estimator in the real training flow: trained, gated, stored, batch-scored; a bad factory
fails before anything is stored; candidates of several families in one table; the feature-importance artifacts."""

from __future__ import annotations

import csv
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pytest
from fastapi.testclient import TestClient
from mlops_pipeline.flows.batch_infer import batch_inference
from mlops_pipeline.flows.pipeline import training_pipeline
from mlops_pipeline.serving import ServingConfig, create_app
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from mlops_pipeline.batch import load_scoring_model
from mlops_pipeline.config import ConfigError, InferenceConfig, PipelineConfig, parse_config
from mlops_pipeline.estimators import FactoryError
from mlops_pipeline.registry import FLOAT_MODEL_FILE, INT8_MODEL_FILE, ModelStore
from mlops_pipeline.skops_form import SKOPS_MODEL_FILE

pytestmark = pytest.mark.usefixtures("prefect_harness")

FEATURES = ["width", "height", "depth", "noise"]
FACTORIES = """
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.naive_bayes import GaussianNB

def extra_trees(n_estimators=10):
    return ExtraTreesClassifier(n_estimators=n_estimators)

def bayes():
    return GaussianNB()

def broken():
    raise RuntimeError("no licence for this model")
"""


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A numeric table whose label is a curved function of two columns (trees learn it, a line cannot)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, 4))
    y = (X[:, 0] ** 2 + X[:, 1] > 0.8).astype(int)  # text labels are issue 20's
    path = tmp_path_factory.mktemp("tables") / "boxes.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FEATURES, "label"])
        writer.writerows([*row.tolist(), label] for row, label in zip(X, y, strict=True))
    return path


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    name = f"user_factories_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(FACTORIES))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _config(table: Path, root: Path, name: str, model: dict[str, Any]) -> PipelineConfig:
    return parse_config(
        {
            "data": {"source": str(table), "target": "label"},
            "model": model,
            "gate": {"min_metrics": {"accuracy": 0.8, "macro_f1": 0.75}},
            "registry": {"root": str(root), "model_name": name},
        }
    )


def _artifact(flow_run_id: Any, key: str) -> Any:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
            )
        )
    assert artifacts, f"no {key} artifact"
    data = artifacts[0].data
    return json.loads(data) if isinstance(data, str) and data.startswith("[") else data


def _batch_matches_the_float_model(root: Path, name: str, table: Path, out: Path) -> None:
    state = batch_inference(InferenceConfig(models_root=str(root), model_name=name, data=str(table), out=str(out)))
    assert state.report.rows == 600
    predictions = pl.read_csv(out)["prediction"].to_list()
    store = ModelStore(root, name)
    float_model = joblib.load(store.location(store.champion(), FLOAT_MODEL_FILE))
    X = pl.read_csv(table).select(FEATURES).to_numpy()
    assert predictions == float_model.predict(X).tolist()


def test_a_random_forest_trains_gates_stores_and_batch_scores(table: Path, tmp_path: Path) -> None:
    config = _config(table, tmp_path, "boxes-forest", {"kind": "random_forest", "n_estimators": 30})
    state = training_pipeline(config, return_state=True)
    assert state.is_completed(), state.message
    summary = state.result()
    assert summary.metrics["accuracy"] >= 0.9
    card = json.loads((Path(summary.model_folder) / "card.json").read_text())
    assert card["selection"]["model"]["problem"] == "classification"
    # a forest gets the tree form (thresholds snapped to 255 bins, bounded by the quantization gate), no skops file
    assert INT8_MODEL_FILE in card["files"] and SKOPS_MODEL_FILE not in card["files"]
    assert summary.task_states["quantize"] == "Completed" and summary.task_states["infer"] == "Completed"
    assert card["quantization"]["agreement"] >= 0.995
    # the importance: the two columns the label depends on first, in the card and as artifacts
    importance = card["diagnostics"]["feature_importance"]
    assert {r["feature"] for r in importance["rows"][:2]} == {"width", "height"}
    flow_run_id = state.state_details.flow_run_id
    table_rows = _artifact(flow_run_id, "boxes-forest-feature-importance")
    assert [r["feature"] for r in table_rows] == [r["feature"] for r in importance["rows"]]
    assert "data:image/svg+xml;base64," in _artifact(flow_run_id, "boxes-forest-feature-importance-plot")
    _batch_matches_the_float_model(tmp_path, "boxes-forest", table, tmp_path / "forest.csv")


def test_a_custom_factory_trains_gates_stores_and_batch_scores(table: Path, tmp_path: Path, user_module: str) -> None:
    model = {"kind": "custom", "factory": f"{user_module}:bayes", "preprocessing": "ordinal"}
    state = training_pipeline(_config(table, tmp_path, "boxes-bayes", model), return_state=True)
    assert state.is_completed(), state.message
    card = ModelStore(tmp_path, "boxes-bayes").card("v1")
    assert card["status"] == "passed"
    assert "GaussianNB is neither a linear model, an MLP nor a tree ensemble" in card["float_form"]["reason"]
    assert "skops round trip" in card["reason"]
    # a rerun (cached training) gives the same model.skops bytes: nothing new is stored
    rerun = training_pipeline(_config(table, tmp_path, "boxes-bayes", model), return_state=True)
    assert rerun.is_completed(), rerun.message
    assert rerun.result().status == "unchanged" and ModelStore(tmp_path, "boxes-bayes").versions() == ["v1"]
    scoring = load_scoring_model(tmp_path, "boxes-bayes")
    assert scoring.form == "float, skops"
    _batch_matches_the_float_model(tmp_path, "boxes-bayes", table, tmp_path / "bayes.csv")
    # the service answers from the same skops file, hash-checked, with the fitted model's labels and probabilities
    float_model = joblib.load(tmp_path / "boxes-bayes" / "v1" / FLOAT_MODEL_FILE)
    X = pl.read_csv(table).select(FEATURES).to_numpy()[:20]
    config = ServingConfig(model_name="boxes-bayes", root=str(tmp_path))
    with TestClient(create_app(config, background=False)) as client:
        assert client.get("/health").json()["kind"] == "float, skops"
        body = client.post("/predict", json={"instances": X.tolist()}).json()
    assert body["predictions"] == float_model.predict(X).tolist()
    assert np.allclose(body["probabilities"], float_model.predict_proba(X))


def test_a_factory_that_raises_fails_the_run_before_anything_is_stored(
    table: Path, tmp_path: Path, user_module: str
) -> None:
    config = _config(table, tmp_path, "boxes-broken", {"kind": "custom", "factory": f"{user_module}:broken"})
    state = training_pipeline(config, return_state=True)
    assert state.is_failed()
    with pytest.raises(FactoryError, match=rf"model.factory '{user_module}:broken' raised RuntimeError"):
        state.result()
    assert not (tmp_path / "boxes-broken").exists() or ModelStore(tmp_path, "boxes-broken").versions() == []


def test_candidates_of_several_families_are_compared_in_the_candidates_table(
    table: Path, tmp_path: Path, user_module: str
) -> None:
    model = {
        "candidates": [
            {"kind": "logistic_regression"},
            {"kind": "hist_gradient_boosting", "max_iter": 30},
            {"kind": "custom", "factory": f"{user_module}:extra_trees", "params": {"n_estimators": 20}},
        ]
    }
    state = training_pipeline(_config(table, tmp_path, "boxes-mixed", model), return_state=True)
    assert state.is_completed(), state.message
    rows = _artifact(state.state_details.flow_run_id, "boxes-mixed-candidates")
    assert [r["kind"] for r in rows] == ["logistic_regression", "hist_gradient_boosting", "custom"]
    assert all(r["state"] == "Completed" and r["score"] is not None for r in rows)
    selected = [r for r in rows if r["selected"] == "yes"]
    assert len(selected) == 1 and selected[0]["kind"] != "logistic_regression"  # a line cannot fit the curve
    assert rows[0]["score"] < selected[0]["score"]


def test_the_command_line_exits_2_naming_a_factory_it_cannot_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_pipeline.flows.pipeline import main

    code = main(
        [
            *("--set", "model.kind=custom", "--set", "model.factory=no_such_package_here.models:make"),
            *("--set", f"registry.root={tmp_path}"),
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert (
        "model.factory 'no_such_package_here.models:make': cannot import module 'no_such_package_here.models'" in error
    )
    assert "installed where the run executes" in error
    assert not any(tmp_path.iterdir())  # nothing started, nothing stored


def test_quantize_true_on_a_model_without_a_quantized_form_fails_the_run_at_its_start(
    table: Path, tmp_path: Path, user_module: str
) -> None:
    config = _config(table, tmp_path, "boxes-strict", {"kind": "custom", "factory": f"{user_module}:bayes"})
    config = config.model_copy(update={"quantize": config.quantize.model_copy(update={"enabled": True})})
    state = training_pipeline(config, return_state=True)
    assert state.is_failed()
    with pytest.raises(
        ConfigError, match=r"quantize.enabled: true, but model \(custom\) has no quantized form: GaussianNB"
    ):
        state.result()
    assert not (tmp_path / "boxes-strict").exists() or ModelStore(tmp_path, "boxes-strict").versions() == []


def test_hist_gradient_boosting_on_a_mixed_table_trains_gates_and_batch_scores_the_raw_file(tmp_path: Path) -> None:
    from table_support import mixed_table, raw_frame

    X, y = mixed_table(800, seed=3)
    path = tmp_path / "customers.csv"
    raw_frame(X, y).to_csv(path, index=False)
    config = parse_config(
        {
            "data": {"source": str(path), "target": "label"},
            "model": {"kind": "hist_gradient_boosting", "max_iter": 50},
            "gate": {"min_metrics": {"accuracy": 0.7}, "min_noise_agreement": 0.8},
            "registry": {"root": str(tmp_path), "model_name": "customers-hgb"},
        }
    )
    state = training_pipeline(config, return_state=True)
    assert state.is_completed(), state.message
    store = ModelStore(tmp_path, "customers-hgb")
    card = store.card("v1")
    model = joblib.load(store.location("v1", FLOAT_MODEL_FILE))
    assert [name for name, _ in model.steps] == ["table", "features", "model"]
    assert card["selection"]["model"]["problem"] == "classification"
    importance = [r["feature"] for r in card["diagnostics"]["feature_importance"]["rows"]]
    assert sorted(importance) == sorted(card["data"]["feature_names"])  # one row per raw input column
    assert {"colour", "seen", "amount"} <= set(importance)
    out = tmp_path / "scored.csv"
    batch_inference(
        InferenceConfig(models_root=str(tmp_path), model_name="customers-hgb", data=str(path), out=str(out))
    )
    frame = pd.read_csv(path)
    assert pl.read_csv(out)["prediction"].to_list() == model.predict(frame.drop(columns=["label"])).tolist()
