"""Batch scoring of a mixed table and its drift per column kind: categories (unseen ones) and dates, in one report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlops_pipeline.flows.batch_infer import BatchSummary, batch_inference
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from tables_support import SHOP_MODEL, train_shop, write_shop_table

from mlops_pipeline.config import InferenceConfig
from mlops_pipeline.registry import ModelStore

pytestmark = pytest.mark.usefixtures("prefect_harness")
MODEL = SHOP_MODEL


@pytest.fixture(scope="module")
def store(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_shop(tmp_path_factory.mktemp("shop-store"))


def _run(store: Path, data: Path, out: Path) -> BatchSummary:
    config = InferenceConfig(model_name=MODEL, models_root=str(store), data=str(data), out=str(out))
    state = batch_inference(config, return_state=True)
    assert state.is_completed(), state.message
    return state.result()


def _drift_table() -> list[dict]:
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"{MODEL}-drift"])),
            limit=1,
            sort="CREATED_DESC",
        )
    return json.loads(artifact.data)


def test_the_drift_reference_holds_category_frequencies_and_the_date_range(store: Path) -> None:
    reference = json.loads(ModelStore(store, MODEL).verified_bytes("v1", "drift_reference.json"))
    features = {f["name"]: f for f in reference["features"]}
    assert "customer" not in features  # the name per row is no feature
    colour = features["colour"]
    assert colour["kind"] == "categorical" and set(colour["categories"]) == {"red", "green", "blue"}
    assert colour["proportions"][0] == 0.0 and sum(colour["proportions"]) == pytest.approx(1.0)
    joined = features["joined"]
    assert joined["kind"] == "datetime" and joined["min"] >= 19358 and joined["max"] <= 19358 + 365  # 2023


def test_new_rows_like_the_training_ones_do_not_drift(store: Path, tmp_path: Path) -> None:
    data = tmp_path / "same.csv"
    write_shop_table(data, rows=400, seed=1)
    summary = _run(store, data, tmp_path / "predictions.csv")
    assert summary.drift_detected is False
    rows = {row["feature"]: row for row in _drift_table()}
    assert rows["colour"]["kind"] == "categorical" and rows["colour"]["drifted"] == "no"
    assert rows["colour"]["unseen / outside range"] == "0.0% unseen categories"
    assert rows["joined"]["unseen / outside range"] == "0.0% outside the training dates"


def test_unseen_categories_and_later_dates_drift_in_one_report(store: Path, tmp_path: Path) -> None:
    data = tmp_path / "later.csv"
    write_shop_table(data, rows=400, seed=2, first_day="2025-01-01", new_colour_share=0.3)
    summary = _run(store, data, tmp_path / "predictions.csv")
    assert summary.drift_detected is True
    assert {"colour", "joined"} <= set(summary.drifted_features)
    assert any("purple" in w for w in summary.report.warnings)  # the unseen value is named in the warnings
    rows = {row["feature"]: row for row in _drift_table()}
    assert rows["colour"]["drifted"] == "yes" and rows["colour"]["test"] == "chi-square"
    unseen = float(rows["colour"]["unseen / outside range"].split("%")[0])
    assert 20.0 < unseen < 40.0
    assert rows["joined"]["unseen / outside range"] == "100.0% outside the training dates"
    assert rows["joined"]["batch"].startswith("2025-01")
