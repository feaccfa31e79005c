"""The store proves what it serves: the champion pointer pins its card, HMAC-signed cards, stale staging, bounds."""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import joblib
import pytest
from sklearn.linear_model import LogisticRegression

from mlops_pipeline.registry import (
    CARD_FILE,
    CHAMPION_FILE,
    FLOAT_MODEL_FILE,
    HMAC_KEY_ENV,
    SIGNATURE_FILE,
    IntegrityError,
    ModelStore,
    RegistryError,
    json_bytes,
    sha256_bytes,
)


class _RunsCode:
    """A pickle that runs code when loaded: it creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def _model_bytes() -> bytes:
    buffer = io.BytesIO()
    joblib.dump(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), buffer)
    return buffer.getvalue()


def _store(tmp_path: Path) -> ModelStore:
    store = ModelStore(tmp_path / "models", "m")
    store.publish({FLOAT_MODEL_FILE: _model_bytes()}, {"metrics": {"accuracy": 0.9}}, promote=True)
    return store


def _swap_model(store: ModelStore, version: str, data: bytes) -> None:
    """What an attacker with write access does: replace the model AND its sha256 in the card."""
    folder = store.folder / version
    (folder / FLOAT_MODEL_FILE).write_bytes(data)
    card = json.loads((folder / CARD_FILE).read_text())
    card["files"][FLOAT_MODEL_FILE] = {"sha256": sha256_bytes(data), "bytes": len(data)}
    (folder / CARD_FILE).write_bytes(json_bytes(card))


def test_champion_pointer_records_the_card_sha256(tmp_path: Path) -> None:
    store = _store(tmp_path)
    pointer = json.loads((store.folder / CHAMPION_FILE).read_text())
    assert pointer["card_sha256"] == sha256_bytes((store.folder / "v1" / CARD_FILE).read_bytes())


def test_edited_card_and_model_together_are_refused_without_running_the_pickle(tmp_path: Path) -> None:
    store = _store(tmp_path)
    marker = tmp_path / "pwned"
    _swap_model(store, "v1", pickle.dumps(_RunsCode(marker)))
    with pytest.raises(IntegrityError, match=r"card_sha256.*champion.json"):
        store.load_float_model("v1")
    with pytest.raises(IntegrityError):
        store.verify("v1")
    assert not marker.exists()


def test_hmac_key_signs_every_card_and_refuses_an_edited_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HMAC_KEY_ENV, "test-key")
    store = _store(tmp_path)
    store.publish({FLOAT_MODEL_FILE: _model_bytes()}, {"metrics": {"accuracy": 0.8}})  # v2: not the champion
    assert (store.folder / "v2" / SIGNATURE_FILE).is_file()
    store.load_float_model("v2")  # signed and intact: loads
    marker = tmp_path / "pwned"
    _swap_model(store, "v2", pickle.dumps(_RunsCode(marker)))
    with pytest.raises(IntegrityError, match="HMAC"):
        store.load_float_model("v2")
    assert not marker.exists()
    monkeypatch.setenv(HMAC_KEY_ENV, "another-key")
    with pytest.raises(IntegrityError, match="HMAC"):
        store.load_float_model("v1")


def test_hmac_key_refuses_an_unsigned_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)  # published without a key
    monkeypatch.setenv(HMAC_KEY_ENV, "test-key")
    with pytest.raises(IntegrityError, match="missing"):
        store.load_float_model("v1")


def test_stale_staging_of_a_dead_writer_is_removed_a_live_one_kept(tmp_path: Path) -> None:
    store = _store(tmp_path)
    dead = store.folder / ".staging-999999999-deadbeef"  # no such pid
    live = store.folder / f".staging-{os.getpid()}-cafe"
    for folder in (dead, live):
        folder.mkdir()
        (folder / FLOAT_MODEL_FILE).write_bytes(b"half")
    store.publish({FLOAT_MODEL_FILE: _model_bytes()}, {"metrics": {"accuracy": 0.9}})
    assert not dead.exists() and live.exists()
    assert store.versions() == ["v1", "v2"]


def test_a_failed_write_names_the_path_and_leaves_the_champion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)
    before = (store.folder / CHAMPION_FILE).read_bytes()
    real_open = Path.open

    def full_disk(self: Path, mode: str = "r", *args, **kwargs):  # type: ignore[no-untyped-def]
        if "w" in mode and self.name == FLOAT_MODEL_FILE:
            raise OSError(28, "No space left on device")
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", full_disk)
    with pytest.raises(RegistryError, match=r"\.staging-.*model\.joblib.*disk is full"):
        store.publish({FLOAT_MODEL_FILE: _model_bytes()}, {"metrics": {"accuracy": 0.99}}, promote=True)
    monkeypatch.undo()
    assert (store.folder / CHAMPION_FILE).read_bytes() == before
    assert store.versions() == ["v1"]
    assert not [p for p in store.folder.iterdir() if p.name.startswith(".staging-")]


def test_check_writable_names_the_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(RegistryError, match=r"file/m: the model store is not writable"):
        ModelStore(blocker, "m").check_writable()
