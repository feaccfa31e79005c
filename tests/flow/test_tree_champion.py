"""A tree champion (QuantizedTrees, `family: trees`) is served and batch-scored from its `.npz`, never a pickle.

The store comes from one run of the training flow (digits); a second version holding a HistGradientBoosting model's
tree form, with that run's contract and drift reference, is promoted. The service and the batch loader then answer
with the tree model, hash-verified, and its answers equal scikit-learn's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient
from mlops_pipeline.serving import ServingConfig, create_app
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier

from mlops_pipeline.batch import load_scoring_model
from mlops_pipeline.config import parse_config
from mlops_pipeline.contract import CONTRACT_FILE
from mlops_pipeline.drift import DRIFT_REFERENCE_FILE
from mlops_pipeline.quantize import QuantizedTrees
from mlops_pipeline.registry import INT8_MODEL_FILE, ModelStore

pytestmark = pytest.mark.usefixtures("prefect_harness")
MODEL = "digits-logreg"
DIGITS = load_digits()


class _Sink:
    def send(self, event: dict[str, Any]) -> None:  # online drift events are not this test's concern
        pass


@pytest.fixture(scope="module")
def tree_store(prefect_harness: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    from mlops_pipeline.flows.pipeline import training_pipeline

    root = tmp_path_factory.mktemp("tree-store")
    state = training_pipeline(parse_config({"registry": {"root": str(root)}}), return_state=True)
    assert state.is_completed(), state.message
    store = ModelStore(root, MODEL)
    hgb = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(DIGITS.data, DIGITS.target)
    files = {
        INT8_MODEL_FILE: QuantizedTrees(hgb, feature_names=list(DIGITS.feature_names)).fit(DIGITS.data).to_bytes(),
        CONTRACT_FILE: store.verified_bytes("v1", CONTRACT_FILE),
        DRIFT_REFERENCE_FILE: store.verified_bytes("v1", DRIFT_REFERENCE_FILE),
        "model.joblib": b"never unpickled by scoring",
    }
    assert store.publish(files, {"metrics": {}}, promote=True).version == "v2"
    return root, hgb


def test_the_service_answers_with_the_tree_champion(
    tree_store: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, hgb = tree_store
    monkeypatch.setattr(joblib, "load", lambda *a, **k: pytest.fail("a pickle was loaded"))
    config = ServingConfig(model_name=MODEL, root=str(root))
    with TestClient(create_app(config, sink=_Sink(), background=False)) as client:
        X = DIGITS.data[:7]
        body = client.post("/predict", json={"instances": X.tolist()}).json()
        assert body["version"] == "v2", body
        assert body["predictions"] == hgb.predict(X).tolist()
        np.testing.assert_allclose(body["probabilities"], hgb.predict_proba(X), rtol=1e-12)


def test_batch_scoring_loads_the_tree_champion(tree_store: tuple[Path, Any]) -> None:
    root, hgb = tree_store
    scoring = load_scoring_model(root, MODEL)
    assert scoring.version == "v2" and isinstance(scoring.model, QuantizedTrees)
    np.testing.assert_array_equal(scoring.model.predict(DIGITS.data), hgb.predict(DIGITS.data))
