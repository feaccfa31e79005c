"""An unchanged retrain (same model bytes, data, config and code as the champion) stores nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mlops_pipeline.commit import Evaluation, commit_markdown, commit_version, unchanged_champion
from mlops_pipeline.gate import Champion
from mlops_pipeline.registry import CARD_FILE, FLOAT_MODEL_FILE, INT8_MODEL_FILE, ModelStore

FILES = {FLOAT_MODEL_FILE: b"float model", INT8_MODEL_FILE: b"int8 model", "contract.json": b"{}"}
CARD: dict[str, Any] = {
    "metrics": {"accuracy": 0.97},
    "data": {"fingerprint": "split-a"},
    "config": {"model": {"C": 1.0}, "gate": {"champion_tolerance": 0.005}, "registry": {"root": "models"}},
    "code_version": "0123456789ab",
}


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    store = ModelStore(tmp_path, "m")
    store.publish(FILES, CARD, promote=True)
    return store


def _changed(path: str, value: Any) -> dict[str, Any]:
    card = copy.deepcopy(CARD)
    node = card
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    return card


def test_no_champion_means_nothing_to_be_the_same_as(tmp_path: Path) -> None:
    assert unchanged_champion(ModelStore(tmp_path, "m"), FILES, CARD) is None


def test_same_model_bytes_data_config_and_code_is_the_champion(store: ModelStore) -> None:
    assert unchanged_champion(store, FILES, CARD) == "v1"
    # where the store lives is not part of what the model is
    assert unchanged_champion(store, FILES, _changed("config.registry.root", "/srv/models")) == "v1"


@pytest.mark.parametrize(
    ("files", "card"),
    [
        ({**FILES, FLOAT_MODEL_FILE: b"another float model"}, CARD),
        ({**FILES, INT8_MODEL_FILE: b"another int8 model"}, CARD),
        ({k: v for k, v in FILES.items() if k != INT8_MODEL_FILE}, CARD),  # quantization turned off
        (FILES, _changed("data.fingerprint", "split-b")),  # new data that gave the same model
        (FILES, _changed("config.model.C", 0.5)),
        (FILES, _changed("config.gate.champion_tolerance", 0.01)),  # another promotion rule
        (FILES, _changed("code_version", "ba9876543210")),
    ],
    ids=["float-bytes", "int8-bytes", "no-int8", "data", "model-config", "gate-config", "code"],
)
def test_any_change_is_a_new_version(store: ModelStore, files: dict[str, bytes], card: dict[str, Any]) -> None:
    assert unchanged_champion(store, files, card) is None


def test_a_champion_that_fails_verification_is_never_the_same(store: ModelStore) -> None:
    card_path = store.folder / "v1" / CARD_FILE
    edited = json.loads(card_path.read_text())
    edited["metrics"]["accuracy"] = 1.0
    card_path.write_text(json.dumps(edited))
    assert unchanged_champion(store, FILES, CARD) is None


def test_commit_of_an_unchanged_candidate_stores_nothing_and_says_so(store: ModelStore) -> None:
    pointer = (store.folder / "champion.json").read_bytes()
    committed = commit_version(store, FILES, CARD, Evaluation(), None, None, None, "passed")  # type: ignore[arg-type]
    assert committed.unchanged and not committed.publication.promoted
    assert committed.publication.version == "v1" and committed.outcome == "unchanged: v1 remains champion"
    assert store.versions() == ["v1"] and (store.folder / "champion.json").read_bytes() == pointer
    assert commit_markdown(committed, store.location("v1")).startswith("### unchanged: v1 remains champion")

    gated = Champion("v1")  # gated against v1, still the champion: no re-check
    changed = commit_version(store, FILES, _changed("config.model.C", 0.5), Evaluation(), gated, None, None, "ok")  # type: ignore[arg-type]
    assert not changed.unchanged and changed.outcome == "v2 stored and promoted to champion"
    assert store.versions() == ["v1", "v2"] and store.champion() == "v2"


def test_a_failed_candidate_is_stored_as_rejected_even_when_unchanged(store: ModelStore) -> None:
    failed = Evaluation(failure=RuntimeError("quantization gate failed"))
    committed = commit_version(store, FILES, CARD, failed, None, None, None, "quantization gate failed")  # type: ignore[arg-type]
    assert not committed.unchanged and committed.outcome == "v2 stored as rejected"
    assert store.card("v2")["status"] == "rejected" and store.champion() == "v1"
