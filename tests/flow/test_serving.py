"""The prediction service through FastAPI's TestClient: answers, every refused request, champion swaps, drift."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from mlops_pipeline.serving import ServingConfig, create_app
from mlops_pipeline.serving.config import OnlineDriftConfig
from mlops_pipeline.serving.online_drift import SOURCE, OnlineDrift, PrefectEventSink
from serving_support import IMPUTED, MODEL, build_store
from sklearn.datasets import load_digits

from mlops_pipeline.batch import DRIFT_EVENT, drift_event, model_resource_id
from mlops_pipeline.drift import measure_drift
from mlops_pipeline.registry import CHAMPION_FILE, INT8_MODEL_FILE, ModelStore, json_bytes, write_atomic

pytestmark = pytest.mark.usefixtures("prefect_harness")
DIGITS = load_digits()


class RecordingSink:
    """Collects events; fails while `down` is set, as the Prefect API would when it is unreachable."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.down = False
        self.attempts = 0

    def send(self, event: dict[str, Any]) -> None:
        self.attempts += 1
        if self.down:
            raise ConnectionError("All connection attempts failed")
        self.events.append(event)


@pytest.fixture(scope="module")
def store(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("serving-store"))


@pytest.fixture
def own_store(store: Path, tmp_path: Path) -> Path:
    """A copy of the store a test may change (promote, roll back, tamper with)."""
    return Path(shutil.copytree(store, tmp_path / "models"))


def _client(root: Path, *, name: str = MODEL, sink: Any = None, background: bool = False, **values: Any) -> TestClient:
    config = ServingConfig(model_name=name, root=str(root), **values)
    return TestClient(create_app(config, sink=sink or RecordingSink(), background=background))


@pytest.fixture
def client(store: Path) -> Iterator[TestClient]:
    with _client(store) as test_client:
        yield test_client


def _expected(root: Path, version: str, X: np.ndarray, name: str = MODEL) -> tuple[list[int], np.ndarray]:
    model = ModelStore(root, name).load_quantized_model(version)
    return model.predict(X).tolist(), model.predict_proba(X)


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


# ---- answers ---------------------------------------------------------------------------------------------------
def test_rows_in_contract_order_get_the_int8_models_answers(client: TestClient, store: Path) -> None:
    X = DIGITS.data[:5]
    response = client.post("/predict", json={"instances": X.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    predictions, probabilities = _expected(store, "v2", X)
    assert body["predictions"] == predictions
    assert np.array_equal(np.asarray(body["probabilities"]), probabilities)
    assert body["classes"] == list(range(10))
    assert (body["model"], body["version"]) == (MODEL, "v2")
    assert "warnings" not in body


def test_rows_by_column_name_in_any_order_get_the_same_answers(client: TestClient) -> None:
    X = DIGITS.data[10:13]
    rows = [dict(reversed(list(zip(DIGITS.feature_names, row.tolist(), strict=True)))) for row in X]
    by_name = client.post("/predict", json={"instances": rows}).json()
    by_order = client.post("/predict", json={"instances": X.tolist()}).json()
    assert by_name == by_order


def test_health_and_models(client: TestClient, store: Path) -> None:
    health = client.get("/health").json()
    card = ModelStore(store, MODEL).card("v2")
    assert health["status"] == "ok"
    assert (health["model"], health["version"]) == (MODEL, "v2")
    assert health["sha256"] == card["files"][INT8_MODEL_FILE]["sha256"]
    models = client.get("/models").json()
    assert [v["version"] for v in models["versions"]] == ["v2", "v1"]
    assert [v["champion"] for v in models["versions"]] == [True, False]
    assert all(v["status"] == "passed" and v["metrics"]["accuracy"] > 0.9 for v in models["versions"])
    assert client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]


def test_the_openapi_schema_describes_the_served_models_columns_and_its_example_is_answered(
    client: TestClient,
) -> None:
    content = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]["content"]
    schema = content["application/json"]["schema"]
    by_name, in_order = schema["properties"]["instances"]["items"]["anyOf"]
    assert by_name["required"] == list(DIGITS.feature_names) and in_order["minItems"] == 64
    pixel = by_name["properties"]["pixel_0_4"]
    assert pixel["type"] == ["number", "null"] and "domain [0, 16]" in pixel["description"]
    answer = client.post("/predict", json=content["application/json"]["example"])
    assert answer.status_code == 200 and answer.json()["version"] == "v2"


def test_the_page_and_its_files_are_served_without_external_urls(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        response = client.get(asset)
        assert response.status_code == 200
        assert "http://" not in response.text and "https://" not in response.text
    assert "http://" not in page.text and "https://" not in page.text


def test_docs_render_from_the_services_own_files_with_no_external_url(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(referenced) == 3 and all(url.startswith("/swagger-ui/") for url in referenced), referenced
    kinds = {}
    for url in referenced:
        asset = client.get(url)
        assert asset.status_code == 200, url
        kinds[url.rsplit(".", 1)[1]] = (asset.headers["content-type"], asset.content)
    assert (
        kinds["js"][0].startswith(("text/javascript", "application/javascript"))
        and b"SwaggerUIBundle" in kinds["js"][1]
    )
    assert kinds["css"][0].startswith("text/css") and b".swagger-ui" in kinds["css"][1]
    assert kinds["png"][0] == "image/png"
    assert "url: '/openapi.json'" in page.text and '"validatorUrl": null' in page.text
    assert client.get("/docs/oauth2-redirect").status_code == 404  # no OAuth, no redirect page


# ---- refused requests ------------------------------------------------------------------------------------------
ROW = DIGITS.data[0].tolist()
NAMED = dict(zip(DIGITS.feature_names, ROW, strict=True))


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


BAD_REQUESTS = [
    # (case, body, status, words the detail must contain)
    ("malformed JSON", b'{"instances": [[1, 2', 400, "malformed JSON"),
    ("empty body", b"", 400, "empty request body"),
    ("not an object", _dumps([ROW]), 400, "must be a JSON object"),
    ("no instances key", _dumps({"rows": [ROW]}), 400, "unknown key(s) ['rows']"),
    ("instances not a list", _dumps({"instances": "all"}), 400, "must be a list of rows"),
    ("empty batch", _dumps({"instances": []}), 422, "'instances' is empty"),
    ("too few columns", _dumps({"instances": [ROW[:63]]}), 422, "instances[0]: 63 values; the model takes 64"),
    ("too many columns", _dumps({"instances": [ROW, ROW + [0.0]]}), 422, "instances[1]: 65 values"),
    (
        "missing column",
        _dumps({"instances": [{k: v for k, v in NAMED.items() if k != "pixel_3_4"}]}),
        422,
        "instances[0]: missing column(s) 'pixel_3_4'",
    ),
    (
        "unknown column",
        _dumps({"instances": [{**NAMED, "colour": 3}]}),
        422,
        "instances[0]: unknown column(s) 'colour'",
    ),
    (
        "non-numeric value",
        _dumps({"instances": [ROW[:5] + ["five"] + ROW[6:]]}),
        422,
        "instances[0]['pixel_0_5']: 'five' is a JSON string, not a number",
    ),
    ("boolean value", _dumps({"instances": [[True] + ROW[1:]]}), 422, "is a JSON boolean, not a number"),
    ("numeric string", _dumps({"instances": [ROW[:2] + ["3"] + ROW[3:]]}), 422, "'3' is a JSON string"),
    ("mixed row forms", _dumps({"instances": [ROW, NAMED]}), 400, "instances[1]: a JSON object"),
    ("NaN", b'{"instances": [[NaN' + b", 0" * 63 + b"]]}", 422, "missing or non-finite values"),
    ("infinity", _dumps({"instances": [ROW[:9] + [float("inf")] + ROW[10:]]}), 422, "pixel_1_1"),
    ("null", _dumps({"instances": [[None] + ROW[1:]]}), 422, "missing or infinite values [column pixel_0_0]"),
    (
        "beyond the range tolerance",
        _dumps({"instances": [ROW[:20] + [40.0] + ROW[21:]]}),
        422,
        "out of range [column pixel_2_4]: request: training range [0, 16]",
    ),
    ("huge number", b'{"instances": [[1e400' + b", 0" * 63 + b"]]}", 422, "non-finite"),
    ("huge integer", b'{"instances": [[' + b"9" * 400 + b", 0" * 63 + b"]]}", 422, "float64"),
    ("deep nesting", b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "malformed"),
    ("too many rows", _dumps({"instances": [ROW] * 1001}), 413, "1001 rows in one request; at most 1000"),
]


@pytest.mark.parametrize(
    ("body", "status", "words"), [case[1:] for case in BAD_REQUESTS], ids=[case[0] for case in BAD_REQUESTS]
)
def test_a_bad_request_gets_a_4xx_naming_the_fault(client: TestClient, body: bytes, status: int, words: str) -> None:
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert words in response.json()["detail"], response.json()


def test_every_fault_of_a_request_is_listed(client: TestClient) -> None:
    rows = [ROW[:63], ROW[:3] + ["x"] + ROW[4:], ROW]
    errors = client.post("/predict", json={"instances": rows}).json()["errors"]
    assert [(e["rule"], e["row"]) for e in errors] == [("wrong number of columns", 0), ("non-numeric value", 1)]


def test_a_body_over_the_byte_limit_is_refused_before_it_is_read(store: Path) -> None:
    body = _dumps({"instances": [ROW] * 50})
    with _client(store, max_bytes=1000) as small:
        assert small.post("/predict", content=body).status_code == 413
        # without a Content-Length (chunked): counted while it streams in
        streamed = small.post("/predict", content=iter([body[:600], body[600:]]))
        assert streamed.status_code == 413 and "over 1000 bytes" in streamed.json()["detail"]
        assert small.post("/predict", json={"instances": [ROW[:10]]}).status_code == 422  # small: read, then judged


def test_bad_requests_change_nothing_and_the_service_keeps_answering(client: TestClient, store: Path) -> None:
    before = _tree_digest(store)
    for _, body, status, _ in BAD_REQUESTS:
        assert client.post("/predict", content=body).status_code == status
    assert _tree_digest(store) == before
    assert client.post("/predict", json={"instances": [ROW]}).status_code == 200


def test_a_model_trained_with_imputation_fills_missing_values(store: Path) -> None:
    with _client(store, name=IMPUTED) as imputed:
        response = imputed.post("/predict", content=b'{"instances": [[NaN' + b", 0" * 63 + b"]]}")
        assert response.status_code == 200, response.text
        assert "missing values imputed [column pixel_0_0]" in response.json()["warnings"][0]
        assert imputed.post("/predict", json={"instances": [[None] + ROW[1:]]}).status_code == 200


def test_values_mildly_out_of_range_are_answered_with_a_warning(client: TestClient) -> None:
    row = ROW[:20] + [17.0] + ROW[21:]  # 16 + 1 is within the 0.1 x range tolerance
    body = client.post("/predict", json={"instances": [row]}).json()
    assert "mildly out of range [column pixel_2_4]" in body["warnings"][0]


# ---- champion changes ------------------------------------------------------------------------------------------
def _wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout:.0f} s")
        time.sleep(0.05)


def test_rollback_and_promotion_swap_models_under_load_with_no_failed_request(own_store: Path) -> None:
    X = DIGITS.data[:20]
    expected = {v: _expected(own_store, v, X)[1] for v in ("v1", "v2")}
    assert not np.allclose(expected["v1"], expected["v2"])  # answers tell the versions apart
    store = ModelStore(own_store, MODEL)
    stop = threading.Event()
    answers: list[tuple[int, dict[str, Any]]] = []

    with _client(own_store, background=True, poll_seconds=0.05) as client:

        def load() -> None:
            while not stop.is_set():
                response = client.post("/predict", json={"instances": X.tolist()})
                answers.append((response.status_code, response.json()))

        with ThreadPoolExecutor(4) as pool:
            workers = [pool.submit(load) for _ in range(4)]
            _wait_for(lambda: len(answers) >= 20, "first answers")
            store.rollback()  # v2 -> v1, as `python -m mlops_pipeline.registry rollback` does
            _wait_for(lambda: client.get("/health").json()["version"] == "v1", "rollback served")
            seen = len(answers)
            _wait_for(lambda: len(answers) >= seen + 20, "answers after the rollback")
            store.promote("v2")
            _wait_for(lambda: client.get("/health").json()["version"] == "v2", "promotion served")
            seen = len(answers)
            _wait_for(lambda: len(answers) >= seen + 20, "answers after the promotion")
            stop.set()
            for worker in workers:
                worker.result()

    assert [status for status, _ in answers if status != 200] == []
    versions = [body["version"] for _, body in answers]
    assert {"v1", "v2"} <= set(versions)
    for _, body in answers:  # every answer is wholly one version's: never a half-swapped model
        assert np.array_equal(np.asarray(body["probabilities"]), expected[body["version"]])


def test_a_champion_that_fails_verification_is_refused_and_the_old_model_keeps_serving(own_store: Path) -> None:
    store = ModelStore(own_store, MODEL)
    with _client(own_store) as client:
        service = client.app.state.service
        # v1's int8 file is damaged on disk, and the pointer is moved to it without the store's checks
        damaged = own_store / MODEL / "v1" / INT8_MODEL_FILE
        damaged.write_bytes(damaged.read_bytes()[:-10])
        write_atomic(own_store / MODEL / CHAMPION_FILE, json_bytes({"version": "v1"}))
        service.watcher.poll()
        health = client.get("/health").json()
        assert health["version"] == "v2"
        assert health["champion_refused"]["version"] == "v1"
        assert "sha256 mismatch" in health["champion_refused"]["error"]
        assert client.post("/predict", json={"instances": [ROW]}).json()["version"] == "v2"

        store.promote("v2")  # the pointer is repaired
        service.watcher.poll()
        assert client.get("/health").json()["champion_refused"] is None


# ---- online drift ----------------------------------------------------------------------------------------------
def _dimmed(X: np.ndarray) -> np.ndarray:
    """Faint strokes: every value within the contract's ranges (so served), yet most pixels drift."""
    return np.round(X * 0.4)


def test_drifted_traffic_emits_the_batch_paths_event(client: TestClient, store: Path) -> None:
    service = client.app.state.service
    sink: RecordingSink = service.drift.sink
    shifted = _dimmed(DIGITS.data[:400])
    for start in range(0, 400, 100):
        assert client.post("/predict", json={"instances": shifted[start : start + 100].tolist()}).status_code == 200
    service.drift.tick()  # the worker's step, run here instead of on its thread
    assert service.drift.status().windows_measured == 0  # 400 rows: the 1000-row window is not due yet
    for _ in range(6):
        client.post("/predict", json={"instances": shifted[:100].tolist()})
    service.drift.tick()
    [event] = sink.events
    reference = ModelStore(store, MODEL).card("v2")  # the served version
    assert reference["version"] == "v2"
    expected = drift_event(
        MODEL,
        "v2",
        SOURCE,
        measure_drift(service.model.drift_reference, np.concatenate([shifted, *[shifted[:100]] * 6])),
    )
    assert event["event"] == DRIFT_EVENT
    assert (
        event["resource"]
        == expected["resource"]
        == {"prefect.resource.id": model_resource_id(MODEL), "prefect.resource.name": MODEL}
    )
    assert event["payload"]["version"] == "v2" and event["payload"]["rows"] == 1000
    assert set(event["payload"]) == set(expected["payload"])
    health = client.get("/health").json()["drift"]
    assert health["drift_windows"] == 1 and health["events_sent"] == 1


def test_traffic_like_the_training_data_emits_nothing(client: TestClient) -> None:
    service = client.app.state.service
    contract = service.model.contract
    low, high = np.array([f.min for f in contract.features]), np.array([f.max for f in contract.features])
    slack = contract.range_tolerance * np.where(high > low, high - low, np.maximum(np.abs(high), 1.0))
    low, high = low - slack, high + slack
    inside = DIGITS.data[((DIGITS.data >= low) & (DIGITS.data <= high)).all(axis=1)][:1000]  # rows it accepts
    for start in range(0, 1000, 200):
        assert client.post("/predict", json={"instances": inside[start : start + 200].tolist()}).status_code == 200
    service.drift.tick()
    assert service.drift.status().windows_measured == 1
    assert service.drift.last_report["drift"] is False and service.drift.sink.events == []


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_time_window_is_measured_and_events_wait_while_the_api_is_down(client: TestClient) -> None:
    clock, sink = FakeClock(), RecordingSink()
    config = OnlineDriftConfig(every_rows=10_000, every_seconds=30, min_rows=50, retry_seconds=10)
    drift = OnlineDrift(config, sink, clock=clock)
    served = client.app.state.service.model
    drift.observe(served, _dimmed(DIGITS.data[:300]))
    drift.tick()
    assert drift.status().windows_measured == 0  # not due: neither 10,000 rows nor 30 s
    sink.down = True
    clock.now += 31
    drift.tick()
    status = drift.status()
    assert (status.windows_measured, status.drift_windows, status.events_pending) == (1, 1, 1)
    assert status.send_failures == 1 and "All connection attempts failed" in status.last_error
    clock.now += 5
    drift.tick()
    assert sink.attempts == 1  # waits retry_seconds before trying again
    sink.down = False
    clock.now += 6
    drift.tick()
    assert len(sink.events) == 1 and drift.status().events_pending == 0


def test_with_the_prefect_api_down_requests_still_succeed_and_the_event_is_kept(store: Path) -> None:
    from conftest import free_port
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        sink = PrefectEventSink()  # sends with the settings it was made under: an API nobody listens on
    with _client(store, sink=sink, drift=OnlineDriftConfig(every_rows=200)) as client:
        shifted = _dimmed(DIGITS.data[:200]).tolist()
        assert client.post("/predict", json={"instances": shifted}).status_code == 200
        service = client.app.state.service
        service.drift.tick()
        status = service.drift.status()
        assert status.drift_windows == 1 and status.events_pending == 1 and status.send_failures == 1
        assert client.post("/predict", json={"instances": [ROW]}).status_code == 200


def test_with_the_prefect_api_up_the_event_reaches_it(store: Path) -> None:
    from prefect.client.orchestration import get_client

    with _client(store, sink=PrefectEventSink(), drift=OnlineDriftConfig(every_rows=200)) as client:
        shifted = _dimmed(DIGITS.data[200:400]).tolist()
        assert client.post("/predict", json={"instances": shifted}).status_code == 200
        client.app.state.service.drift.tick()
        status = client.app.state.service.drift.status()
        assert status.events_sent == 1, status

    def found() -> list[dict[str, Any]]:
        with get_client(sync_client=True) as prefect:
            response = prefect.request(
                "POST",
                "/events/filter",
                json={
                    "filter": {"event": {"name": [DRIFT_EVENT]}, "resource": {"id": [model_resource_id(MODEL)]}},
                    "limit": 50,
                },
            )
            return [e for e in response.json()["events"] if e["payload"].get("source") == SOURCE]

    _wait_for(lambda: bool(found()), "the drift event in the Prefect API", timeout=120)
    assert found()[0]["payload"]["rows"] == 200


def test_sustained_drift_emits_one_event_per_cool_down(client: TestClient) -> None:
    clock, sink = FakeClock(), RecordingSink()
    drift = OnlineDrift(OnlineDriftConfig(every_rows=100, event_cooldown_seconds=600), sink, clock=clock)
    served = client.app.state.service.model
    for _ in range(3):
        drift.observe(served, _dimmed(DIGITS.data[:100]))
        drift.tick()
        clock.now += 60
    assert drift.status().drift_windows == 3 and len(sink.events) == 1
    clock.now += 600
    drift.observe(served, _dimmed(DIGITS.data[:100]))
    drift.tick()
    assert len(sink.events) == 2
