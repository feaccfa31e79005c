"""The training flow, batch scoring and the prediction service on an object-store root (memory:// in-process).

The same code paths as s3:// (ObjectModelStore over the object-store interface); tests/e2e/test_s3_store.py runs
them against moto_server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from mlops_pipeline.flows.pipeline import training_pipeline
from mlops_pipeline.serving import ServingConfig, create_app
from sklearn.datasets import load_digits

from mlops_pipeline.batch import load_scoring_model
from mlops_pipeline.config import parse_config
from mlops_pipeline.objectstore import MemoryObjectStore
from mlops_pipeline.registry import ObjectModelStore, open_store

pytestmark = pytest.mark.usefixtures("prefect_harness")

MODEL = "digits-logreg"


@pytest.fixture(scope="module")
def root(prefect_harness: object) -> Iterator[str]:
    url = f"memory://flow-{uuid.uuid4().hex}"
    state = training_pipeline(parse_config({"registry": {"root": url}}), return_state=True)
    assert state.is_completed(), state.message
    yield url
    MemoryObjectStore.clear(url)


def test_the_flow_stores_a_champion_on_the_object_store(root: str) -> None:
    store = open_store(root, MODEL)
    assert isinstance(store, ObjectModelStore)
    assert store.versions() == ["v1"] and store.champion() == "v1"
    assert {"model.joblib", "model.int8.npz", "contract.json"} <= set(store.verify("v1"))  # every file's sha256


def test_batch_scoring_and_the_service_read_the_object_store(root: str) -> None:
    X = load_digits().data[:5]
    scoring = load_scoring_model(root, MODEL)
    assert (scoring.version, scoring.folder) == ("v1", f"{root}/{MODEL}/v1")
    expected = scoring.model.predict(X).tolist()
    with TestClient(create_app(ServingConfig(model_name=MODEL, root=root), background=False)) as client:
        response = client.post("/predict", json={"instances": X.tolist()})
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == expected
        assert response.json()["version"] == "v1"
        assert [v["version"] for v in client.get("/models").json()["versions"]] == ["v1"]
    assert np.mean(np.asarray(expected) == load_digits().target[:5]) >= 0.8
