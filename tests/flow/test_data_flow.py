"""The data steps inside the real training flow: HTTP retries, fingerprint-keyed caching, the data-quality artifact,
contract.json in the model version. Runs on the session's Prefect test harness."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from conftest import CORPUS, FlakyServer
from mlops_pipeline.flows.pipeline import training_pipeline

from mlops_pipeline.config import PipelineConfig, apply_overrides, parse_config
from mlops_pipeline.contract import CONTRACT_FILE, DataContract
from mlops_pipeline.data import DataLoadError
from mlops_pipeline.findings import DataValidationError
from mlops_pipeline.registry import ModelStore
from mlops_pipeline.reports import artifact_key


def make_config(tmp_path: Path, source: str, name: str = "flow-data", **data: object) -> PipelineConfig:
    return parse_config(
        {
            "data": {"source": source, "target": "label", "retry_delay_seconds": 0.05, **data},
            # tiny tables: a handful of test rows, so one flipped prediction under noise is a large share of them
            "gate": {"min_metrics": {"accuracy": 0.6}, "champion_tolerance": 1.0, "min_noise_agreement": 0.5},
            "quantize": {"max_metric_drop": 1.0},
            "registry": {"root": str(tmp_path / "models"), "model_name": name},
        }
    )


def store_snapshot(root: Path) -> dict[str, bytes]:
    return (
        {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        if root.exists()
        else {}
    )


def test_flaky_http_source_is_loaded_after_retries_and_the_log_shows_them(prefect_harness, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="prefect")
    body = (CORPUS / "good.csv").read_bytes()
    with FlakyServer(body, failures=2, status=503) as server:
        config = make_config(tmp_path, server.url("good.csv"))
        summary = training_pipeline(config)
    assert server.requests == [503, 503, 200]
    retries = [r.getMessage() for r in caplog.records if "Retry" in r.getMessage() and "will start" in r.getMessage()]
    assert len(retries) == 2, retries
    assert "Retry 1/4" in retries[0] and "HTTP 503" in retries[0]
    assert "Retry 2/4" in retries[1]
    assert summary.task_states["load"] == "Completed"
    card = json.loads((Path(summary.model_folder) / "card.json").read_text())
    assert card["data"]["source"] == server.url("good.csv")
    assert card["data"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_http_404_fails_the_run_at_once_without_retries(prefect_harness, tmp_path):
    with FlakyServer(b"", failures=10, status=404) as server:
        state = training_pipeline(make_config(tmp_path, server.url("gone.csv")), return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, DataLoadError)
    assert "HTTP 404" in str(error) and "not retried" in str(error)
    assert server.requests == [404]
    assert not (tmp_path / "models").exists()


def test_unchanged_file_hits_the_train_cache_and_an_edited_file_retrains(prefect_harness, tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes((CORPUS / "good.csv").read_bytes())
    # a model setting no other test uses: the result cache is shared by the session, and the same bytes with the
    # same settings rightly hit it whatever the file is called
    config = parse_config(
        apply_overrides(make_config(tmp_path, str(path), name="cache-check").model_dump(mode="json"), ["model.C=0.77"])
    )

    first = training_pipeline(config)
    second = training_pipeline(config)
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace(lines[1].split(",")[0], "2.5", 1)  # edit one value of the first data row
    path.write_text("\n".join(lines) + "\n")
    third = training_pipeline(config)

    assert first.task_states["train"] == "Completed"
    assert second.task_states["train"] == "Cached"
    assert third.task_states["train"] == "Completed"
    cards = [json.loads((Path(s.model_folder) / "card.json").read_text())["data"] for s in (first, second, third)]
    assert cards[0]["sha256"] == cards[1]["sha256"] != cards[2]["sha256"]
    assert cards[0]["fingerprint"] == cards[1]["fingerprint"] != cards[2]["fingerprint"]


def test_contract_is_stored_with_the_model_version_and_listed_in_the_card(prefect_harness, tmp_path):
    summary = training_pipeline(make_config(tmp_path, str(CORPUS / "good.parquet"), name="contract-check"))
    store = ModelStore(tmp_path / "models", "contract-check")
    card = store.card(summary.version)
    assert CONTRACT_FILE in card["files"]
    assert card["data"]["contract"] == CONTRACT_FILE
    contract = DataContract.from_json(store.verified_bytes(summary.version, CONTRACT_FILE))
    assert contract.feature_names == ["a", "b", "c"]
    assert contract.target == "label" and contract.classes == [0, 1]
    assert contract.fingerprint == card["data"]["sha256"]


def test_bad_data_fails_in_validate_publishes_the_quality_table_and_leaves_the_store_alone(prefect_harness, tmp_path):
    from prefect.artifacts import Artifact

    good = training_pipeline(make_config(tmp_path, str(CORPUS / "good.csv"), name="quality-check"))
    before = store_snapshot(tmp_path / "models")

    strict = make_config(tmp_path, str(CORPUS / "nan.csv"), name="quality-check", missing="error")
    state = training_pipeline(strict, return_state=True)

    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, DataValidationError)
    assert "missing values (NaN or empty)" in str(error) and "line 4" in str(error) and "line 7" in str(error)
    assert store_snapshot(tmp_path / "models") == before
    assert ModelStore(tmp_path / "models", "quality-check").champion() == good.version
    artifact = Artifact.get(artifact_key("quality-check", "data-quality"))
    assert artifact is not None
    rows = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert {row["rule"] for row in rows} == {"missing values (NaN or empty)"}
    assert {row["columns"] for row in rows} == {"a", "c"}


def test_imputation_named_in_the_config_lets_nan_data_train(prefect_harness, tmp_path):
    summary = training_pipeline(make_config(tmp_path, str(CORPUS / "nan.csv"), name="impute-check", impute="median"))
    contract = DataContract.from_json((Path(summary.model_folder) / CONTRACT_FILE).read_bytes())
    assert contract.impute_strategy == "median"
    assert contract.impute_values is not None and len(contract.impute_values) == 3
    card = json.loads((Path(summary.model_folder) / "card.json").read_text())
    assert any("missing values" in w for w in card["data"]["warnings"])


def test_a_mixed_table_with_bad_columns_fails_in_validate_naming_them_and_stores_nothing(prefect_harness, tmp_path):
    from prefect.artifacts import Artifact

    rows = [
        f"Customer {i},{'red' if i % 2 else 'blue'},{i if i != 7 else 'seven'},2021-01-{i % 28 + 1:02d},{i % 2}"
        for i in range(40)
    ]
    path = tmp_path / "mixed.csv"
    path.write_text("name,colour,amount,day,label\n" + "\n".join(rows) + "\n")
    config = make_config(tmp_path, str(path), name="mixed-bad", columns={"colur": "categorical"})
    before = store_snapshot(tmp_path / "models")

    state = training_pipeline(config, return_state=True)

    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, DataValidationError)
    assert "non-numeric values [column amount]" in str(error) and "line 9: 'seven'" in str(error)
    assert "unknown column in data.columns [column colur]" in str(error)
    assert store_snapshot(tmp_path / "models") == before
    artifact = Artifact.get(artifact_key("mixed-bad", "data-quality"))
    rows_shown = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    shown = {(row["rule"], row["columns"]) for row in rows_shown}
    assert {("column left out", "name"), ("column type", "colour"), ("column type", "day")} <= shown
