"""The prediction service on a model of a mixed table (built in code, trained by the real flow): JSON rows of text
and dates, string labels, unseen categories (warned, or refused under the strict setting), the per-column /docs
schema, and online drift of the encoded rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mlops_pipeline.serving import ServingConfig, create_app
from mlops_pipeline.serving.config import OnlineDriftConfig
from tables_support import SHOP_MODEL, train_shop

pytestmark = pytest.mark.usefixtures("prefect_harness")
ROW = {"colour": "red", "size": 8.5, "joined": "2023-02-01", "member": "yes"}


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def send(self, event: dict[str, Any]) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def store(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_shop(tmp_path_factory.mktemp("shop-serving"))


def _client(store: Path, **values: Any) -> TestClient:
    config = ServingConfig(model_name=SHOP_MODEL, root=str(store), **values)
    return TestClient(create_app(config, sink=RecordingSink(), background=False))


@pytest.fixture
def client(store: Path) -> Iterator[TestClient]:
    with _client(store) as test_client:
        yield test_client


def test_a_row_of_text_and_dates_gets_a_text_label(client: TestClient) -> None:
    answer = client.post("/predict", json={"instances": [ROW, {**ROW, "colour": "blue", "size": 1.5}]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == ["buy", "skip"] and body["classes"] == ["buy", "skip"]
    assert "warnings" not in body


def test_a_row_copied_from_the_file_with_its_name_and_label_is_answered(client: TestClient) -> None:
    row = {"customer": "customer 0001 12", **ROW, "label": "buy"}
    body = client.post("/predict", json={"instances": [row]}).json()
    assert body["predictions"] == ["buy"]
    assert any("customer" in w and "label" in w for w in body["warnings"])


def test_an_unseen_category_is_warned_by_default_and_refused_when_strict(store: Path, client: TestClient) -> None:
    row = {**ROW, "colour": "purple"}
    body = client.post("/predict", json={"instances": [row]}).json()
    assert body["predictions"][0] in ("buy", "skip")
    assert any("colour" in w and "purple" in w for w in body["warnings"])
    with _client(store, unknown_categories="error") as strict:
        refused = strict.post("/predict", json={"instances": [ROW, row]})
    assert refused.status_code == 422
    assert "colour" in refused.json()["detail"] and "purple" in refused.json()["detail"]


def test_docs_show_each_columns_type_categories_and_date_format(client: TestClient) -> None:
    content = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]["content"]
    by_name = content["application/json"]["schema"]["properties"]["instances"]["items"]["anyOf"][0]
    columns = by_name["properties"]
    assert set(columns) == {"colour", "size", "joined", "member"}  # no name column, no target
    assert set(columns["colour"]["enum"]) == {"red", "green", "blue", None}
    assert columns["joined"]["format"] == "date" and "2023-01-0" in columns["joined"]["description"]
    assert columns["member"]["type"] == ["boolean", "null"]
    assert columns["size"]["type"] == ["number", "null"]
    example = client.post("/predict", json=content["application/json"]["example"])
    assert example.status_code == 200 and example.json()["predictions"][0] in ("buy", "skip")


def test_served_rows_with_unseen_categories_and_later_dates_emit_one_drift_event(store: Path) -> None:
    drift = OnlineDriftConfig(every_rows=200, event_cooldown_seconds=0)
    with _client(store, drift=drift) as client:
        rows = [{**ROW, "colour": "purple" if i % 3 == 0 else "green", "joined": "2026-05-01"} for i in range(200)]
        assert client.post("/predict", json={"instances": rows}).status_code == 200
        service = client.app.state.service
        service.drift.tick()
        report = service.drift.last_report
        assert report["drift"] is True
        assert set(report["unseen_categories"]) == {"colour"} and report["dates_outside_range"] == {"joined": 1.0}
        [event] = service.drift.sink.events
        assert {"colour", "joined"} <= set(event["payload"]["drifted_features"])
