"""Every model store backend behaves the same, and a new backend is only its primitives.

`DictStore` below is a third backend written for this test from the primitives `Store` declares and nothing else;
it runs through the same behaviour tests as the local folder store and the object store (memory://): publish,
the champion re-check, concurrent publishers, rollback, and refusal of tampered files and cards.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib
import pytest
from sklearn.linear_model import LogisticRegression

from mlops_pipeline.objectstore import MemoryObjectStore, PreconditionFailed
from mlops_pipeline.registry import (
    CARD_FILE,
    FLOAT_MODEL_FILE,
    HMAC_KEY_ENV,
    IntegrityError,
    ModelStore,
    ObjectModelStore,
    RegistryError,
    Store,
    version_number,
)
from mlops_pipeline.train import serialize_estimator


class DictStore(Store):
    """Versions in dicts; a lock around the pointer read and swap, as the folder store has."""

    def __init__(self, name: str = "m") -> None:
        self.name = name
        self.lock_timeout = 5.0
        self.visible: dict[str, dict[str, bytes]] = {}
        self.staging: dict[str, dict[str, bytes]] = {}
        self.pointer_state: tuple[bytes | None, int] = (None, 0)  # content and a generation, the swap's token
        self.lock = threading.RLock()

    def location(self, version: str | None = None, filename: str | None = None) -> str:
        return "/".join(p for p in ("dict:/", self.name, version, filename) if p is not None)

    def versions(self) -> list[str]:
        return sorted(self.visible, key=version_number)

    def _has_version(self, version: str) -> bool:
        return version in self.visible

    def _read(self, version: str, filename: str) -> bytes | None:
        return self.visible[version].get(filename)

    def _model_exists(self) -> bool:
        return bool(self.visible)

    def _read_pointer(self) -> tuple[bytes | None, str | None]:
        data, generation = self.pointer_state
        return data, str(generation)

    def _swap_pointer(self, data: bytes, version: str, previous: str | None, token: str | None) -> None:
        with self.lock:
            if token != str(self.pointer_state[1]):
                raise PreconditionFailed(f"{self.location()}: the pointer moved")
            self.pointer_state = (data, self.pointer_state[1] + 1)

    def _begin_version(self) -> str:
        staged = uuid.uuid4().hex
        self.staging[staged] = {}
        return staged

    def _write(self, staged: str, filename: str, data: bytes) -> None:
        self.staging[staged][filename] = data

    def _claim_number(self, staged: str) -> str:
        return f"v{len(self.visible) + 1}"

    def _make_visible(self, staged: str, version: str) -> None:
        self.visible[version] = self.staging.pop(staged)

    def _discard(self, staged: str) -> None:
        self.staging.pop(staged, None)

    def check_writable(self) -> None:
        """Memory is always writable."""

    def clean_stale_staging(self) -> list[str]:
        return []

    def _exclusive(self) -> threading.RLock:  # type: ignore[override]
        return self.lock


# Each backend: a function opening a store onto the same storage, and one replacing a stored file's bytes.
Backend = tuple[Callable[[], Store], Callable[[str, str, bytes], None]]


@pytest.fixture(params=["local", "object", "dict"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "local":

        def replace_local(version: str, filename: str, data: bytes) -> None:
            (tmp_path / "m" / version / filename).write_bytes(data)

        yield (lambda: ModelStore(tmp_path, "m")), replace_local
    elif request.param == "object":
        url = f"memory://backends-{uuid.uuid4().hex}"

        def replace_object(version: str, filename: str, data: bytes) -> None:
            MemoryObjectStore(url).put(f"m/{version}/{filename}", data)

        yield (lambda: ObjectModelStore(url, "m")), replace_object
        MemoryObjectStore.clear(url)
    else:
        store = DictStore()

        def replace_dict(version: str, filename: str, data: bytes) -> None:
            store.visible[version][filename] = data

        yield (lambda: store), replace_dict


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return serialize_estimator(LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]))


def _publish(store: Store, model: bytes, promote: bool = True, **kwargs: object) -> str:
    return store.publish({FLOAT_MODEL_FILE: model}, {"metrics": {"accuracy": 1.0}}, promote=promote, **kwargs).version  # type: ignore[arg-type]


def test_the_new_backend_defines_only_primitives() -> None:
    primitives = {name for name, value in vars(Store).items() if getattr(value, "__isabstractmethod__", False)}
    own = {name for name in vars(DictStore) if not name.startswith("__") and name != "_abc_impl"}
    assert own <= primitives | {"_exclusive"}, own - primitives
    assert primitives <= own  # and every primitive is needed: leaving one out cannot be instantiated
    with pytest.raises(TypeError, match="abstract"):
        Store()  # type: ignore[abstract]


def test_publish_numbers_versions_records_hashes_and_the_champion(backend: Backend, model_bytes: bytes) -> None:
    store = backend[0]()
    assert store.versions() == [] and store.champion() is None
    first = store.publish({FLOAT_MODEL_FILE: model_bytes}, {"metrics": {}}, promote=True, reason="good")
    second = store.publish({FLOAT_MODEL_FILE: model_bytes}, {"metrics": {}}, promote=False, reason="bad")
    assert (first.version, first.status, first.promoted) == ("v1", "passed", True)
    assert (second.version, second.status, second.promoted) == ("v2", "rejected", False)
    card = store.card("v2")
    assert (card["status"], card["reason"], card["version"], card["model_name"]) == ("rejected", "bad", "v2", "m")
    assert card["files"][FLOAT_MODEL_FILE]["bytes"] == len(model_bytes)
    assert store.versions() == ["v1", "v2"] and store.champion() == "v1"
    assert store.verify("v1") == [FLOAT_MODEL_FILE]
    assert store.load_float_model("v1").predict([[0.0], [3.0]]).tolist() == [0, 1]
    with pytest.raises(RegistryError, match="no such version of 'm' \\(versions: v1, v2\\)"):
        store.card("v9")


def test_promotion_rechecks_a_champion_that_moved_since_the_gate(backend: Backend, model_bytes: bytes) -> None:
    store = backend[0]()
    _publish(store, model_bytes)
    asked: list[str] = []

    def worse_than(current: str) -> list[str]:
        asked.append(current)
        return [f"accuracy vs champion {current}: 0.9 >= 0.97 -> FAIL"]

    pointer = store.pointer()
    publication = store.publish({FLOAT_MODEL_FILE: model_bytes}, {}, promote=True, recheck=worse_than)
    assert asked == ["v1"]
    assert (publication.version, publication.status, publication.promoted) == ("v2", "rejected", False)
    assert "champion moved to v1" in store.card("v2")["reason"] and store.card("v2")["rechecked_against"] == "v1"
    assert store.pointer() == pointer

    def unexpected(current: str) -> list[str]:
        raise AssertionError("rechecked the champion the gate already compared against")

    assert _publish(store, model_bytes, gated_against="v1", recheck=unexpected) == "v3"
    still_better = store.publish({FLOAT_MODEL_FILE: model_bytes}, {}, promote=True, recheck=lambda current: [])
    assert (still_better.version, still_better.promoted, store.champion()) == ("v4", True, "v4")
    assert store.card("v4")["rechecked_against"] == "v3"


def test_concurrent_publishers_get_distinct_versions(backend: Backend, model_bytes: bytes) -> None:
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def publish() -> None:
        try:
            store = backend[0]()
            start.wait()
            results.append(_publish(store, model_bytes))
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)

    threads = [threading.Thread(target=publish) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results, key=version_number) == [f"v{i}" for i in range(1, 7)]
    store = backend[0]()
    assert store.versions() == [f"v{i}" for i in range(1, 7)]
    champion = store.champion()
    assert champion in results and store.verify(champion) == [FLOAT_MODEL_FILE]  # type: ignore[arg-type]


def test_rollback_promote_and_their_refusals(backend: Backend, model_bytes: bytes) -> None:
    store = backend[0]()
    _publish(store, model_bytes)  # v1 passed
    _publish(store, model_bytes, promote=False)  # v2 rejected
    _publish(store, model_bytes)  # v3 passed, champion
    assert store.rollback() == ("v3", "v1") and store.champion() == "v1"
    assert store.pointer()["reason"] == "rolled back from v3"  # type: ignore[index]
    with pytest.raises(RegistryError, match="no passing version older than the champion v1"):
        store.rollback()
    assert store.rollback("v3") == ("v1", "v3")
    with pytest.raises(RegistryError, match="status is 'rejected'; roll back to a passing version"):
        store.rollback("v2")
    with pytest.raises(RegistryError, match="status is 'rejected'.*--force"):
        store.promote("v2")
    store.promote("v2", force=True)
    assert store.champion() == "v2"


def test_tampered_files_and_cards_are_refused(
    backend: Backend, model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_store, replace = backend
    store = open_store()
    _publish(store, model_bytes)
    _publish(store, model_bytes)
    changed = bytearray(model_bytes)
    changed[len(changed) // 2] ^= 0x01
    replace("v1", FLOAT_MODEL_FILE, bytes(changed))

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unverified file was unpickled")

    monkeypatch.setattr(joblib, "load", never)
    with pytest.raises(IntegrityError, match=r"model\.joblib: sha256 mismatch .* refusing to load it"):
        store.load_float_model("v1")
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        store.rollback()
    assert store.champion() == "v2"

    card = json.loads(store.card_bytes("v2"))
    card["files"][FLOAT_MODEL_FILE]["sha256"] = "0" * 64  # a card edited together with its model
    replace("v2", CARD_FILE, json.dumps(card).encode())
    with pytest.raises(IntegrityError, match="edited after promotion"):
        store.verified_card("v2")


def test_signed_cards_are_refused_under_another_key(
    backend: Backend, model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = backend[0]()
    monkeypatch.setenv(HMAC_KEY_ENV, "secret")
    _publish(store, model_bytes)
    assert store.verify("v1") == [FLOAT_MODEL_FILE]
    monkeypatch.setenv(HMAC_KEY_ENV, "another")
    with pytest.raises(IntegrityError, match="HMAC does not match"):
        store.verified_card("v1")
