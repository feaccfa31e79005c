"""The model store on an object store (memory:// here: S3's conditional-write semantics in one process).

tests/e2e/test_s3_store.py runs the same guarantees against a real S3 endpoint (moto_server).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mlops_pipeline.tasks.results import RESULT_STORAGE_ENV, block_name, result_storage_from

from mlops_pipeline.objectstore import MemoryObjectStore, PreconditionFailed, is_object_url
from mlops_pipeline.registry import (
    CARD_FILE,
    CHAMPION_FILE,
    CLAIM_FILE,
    COMMITTED_FILE,
    FLOAT_MODEL_FILE,
    HMAC_KEY_ENV,
    IntegrityError,
    ModelStore,
    ObjectModelStore,
    RegistryError,
    _cli,
    open_store,
    sha256_bytes,
)
from mlops_pipeline.security import allowed_roots, url_allowed


@pytest.fixture
def url() -> Iterator[str]:
    root = f"memory://test-{uuid.uuid4().hex}"
    yield root
    MemoryObjectStore.clear(root)


def _publish(store: ObjectModelStore, accuracy: float = 0.9, **kwargs: object) -> str:
    return store.publish(
        {FLOAT_MODEL_FILE: os.urandom(64)}, {"metrics": {"accuracy": accuracy}}, promote=True, **kwargs
    ).version  # type: ignore[arg-type]


def test_open_store_picks_the_store_by_the_root(url: str, tmp_path: Path) -> None:
    assert isinstance(open_store(url, "m"), ObjectModelStore)
    assert isinstance(open_store(str(tmp_path), "m"), ModelStore)
    assert isinstance(open_store(tmp_path, "m"), ModelStore)
    assert [is_object_url(r) for r in ("s3://b/p", "memory://x", "models", "/abs", "file:///x")] == [
        True,
        True,
        False,
        False,
        False,
    ]


def test_memory_backend_refuses_a_second_create_and_a_stale_if_match(url: str) -> None:
    objects = MemoryObjectStore(url)
    first = objects.put("k", b"1", create=True)
    with pytest.raises(PreconditionFailed):
        objects.put("k", b"2", create=True)
    second = objects.put("k", b"3", if_match=first)
    with pytest.raises(PreconditionFailed):
        objects.put("k", b"4", if_match=first)  # stale: someone replaced it since
    with pytest.raises(PreconditionFailed):
        objects.put("absent", b"5", if_match=second)
    stored = objects.get("k")
    assert stored is not None and (stored.data, stored.etag) == (b"3", second)


def test_publish_promote_list_and_load(url: str) -> None:
    store = ObjectModelStore(url, "m")
    assert store.versions() == [] and store.champion() is None
    assert _publish(store) == "v1"
    assert store.versions() == ["v1"] and store.champion() == "v1"
    assert store.verify("v1") == [FLOAT_MODEL_FILE]
    pointer = store.pointer()
    assert pointer is not None and pointer["card_sha256"] == sha256_bytes(store.card_bytes("v1"))  # pinned
    rejected = store.publish({FLOAT_MODEL_FILE: b"x"}, {}, promote=False, reason="gate failed")
    assert (rejected.version, rejected.status, store.champion()) == ("v2", "rejected", "v1")
    assert store.location("v2", CARD_FILE) == f"{url}/m/v2/card.json"


def test_claim_race_takes_the_next_free_number(url: str) -> None:
    store = ObjectModelStore(url, "m")
    # another writer claimed v1 and v2 (still writing: no marker); this publish must not take either number
    for number in (1, 2):
        store.objects.put(f"m/v{number}/{CLAIM_FILE}", b"{}", create=True)
    assert _publish(store) == "v3"
    assert store.versions() == ["v3"]


def test_a_claim_lost_between_listing_and_create_moves_on(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ObjectModelStore(url, "m")
    real_put = store.objects.put

    def racing_put(key: str, data: bytes, **kwargs: object) -> str:
        if key == f"m/v1/{CLAIM_FILE}" and kwargs.get("create"):
            real_put(key, b"{}", create=True)  # the other writer wins v1 just before us
        return real_put(key, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store.objects, "put", racing_put)
    assert _publish(store) == "v2"


def test_killed_publish_leaves_no_visible_version(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ObjectModelStore(url, "m")
    _publish(store)
    real_put = store.objects.put

    def dying_put(key: str, data: bytes, **kwargs: object) -> str:
        if key.endswith(COMMITTED_FILE) or key.endswith(CHAMPION_FILE):
            raise KeyboardInterrupt  # the process dies after its files and card, before it is visible
        return real_put(key, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store.objects, "put", dying_put)
    with pytest.raises(KeyboardInterrupt):
        _publish(store)
    monkeypatch.undo()
    assert f"m/v2/{CARD_FILE}" in store.objects.keys_under("m/v2/")  # written, but not visible
    assert store.versions() == ["v1"] and store.champion() == "v1"
    with pytest.raises(RegistryError, match="no such version"):
        store.card("v2")
    # young claims may belong to a writer still at work; old ones are garbage
    assert store.clean_stale_staging() == []
    assert store.clean_stale_staging(older_than=0) == ["v2"]
    assert store.objects.keys_under("m/v2/") == {}
    assert _publish(store) == "v2"  # the number is free again


def test_lost_champion_swap_rechecks_against_the_new_champion(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ObjectModelStore(url, "m")
    _publish(store)  # v1
    other = ObjectModelStore(url, "m")
    real_put = store.objects.put
    rechecked: list[str] = []
    moved = False

    def racing_put(key: str, data: bytes, **kwargs: object) -> str:
        nonlocal moved
        if key.endswith(CHAMPION_FILE) and not moved:
            moved = True
            monkeypatch.setattr(store.objects, "put", real_put)
            _publish(other)  # another run promotes v3 between this run's read of the pointer and its swap
            monkeypatch.setattr(store.objects, "put", racing_put)
        return real_put(key, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store.objects, "put", racing_put)

    def recheck(current: str) -> list[str]:
        rechecked.append(current)
        return ["accuracy 0.9 < champion 0.95"] if current == "v3" else []

    publication = store.publish(
        {FLOAT_MODEL_FILE: b"m"}, {}, promote=True, gated_against="v1", recheck=recheck, reason="ok"
    )
    assert rechecked == ["v3"]  # the first try saw v1 (its gate's champion), the retry the new one
    assert (publication.version, publication.status, publication.promoted) == ("v2", "rejected", False)
    assert "champion moved to v3" in publication.reason
    assert store.champion() == "v3" and store.versions() == ["v1", "v2", "v3"]
    assert store.card("v2")["status"] == "rejected"  # the card says what happened, not the first try's verdict


def test_champion_is_visible_before_its_marker_and_keeps_it_after_the_pointer_moves(url: str) -> None:
    store = ObjectModelStore(url, "m")
    _publish(store)
    store.objects.delete([f"m/v1/{COMMITTED_FILE}"])  # killed between the swap and the marker
    assert store.versions() == ["v1"] and store.champion() == "v1"
    _publish(store)  # moving the pointer away from v1 writes v1's marker first
    assert store.versions() == ["v1", "v2"] and store.champion() == "v2"


def test_card_edited_after_promotion_is_refused(url: str) -> None:
    store = ObjectModelStore(url, "m")
    _publish(store)
    card = json.loads(store.card_bytes("v1"))
    card["metrics"]["accuracy"] = 1.0
    store.objects.put(f"m/v1/{CARD_FILE}", json.dumps(card).encode())
    with pytest.raises(IntegrityError, match="edited after promotion"):
        store.verified_card("v1")


def test_hmac_signed_cards(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HMAC_KEY_ENV, "secret")
    store = ObjectModelStore(url, "m")
    _publish(store)
    assert store.verify("v1") == [FLOAT_MODEL_FILE]
    monkeypatch.setenv(HMAC_KEY_ENV, "another")
    with pytest.raises(IntegrityError, match="HMAC does not match"):
        store.verified_card("v1")


def test_promote_and_rollback_move_the_pointer(url: str) -> None:
    store = ObjectModelStore(url, "m")
    _publish(store)
    _publish(store)
    assert store.rollback() == ("v2", "v1") and store.champion() == "v1"
    store.promote("v2", reason="by hand")
    assert store.champion() == "v2"
    store.publish({FLOAT_MODEL_FILE: b"r"}, {}, promote=False)
    with pytest.raises(RegistryError, match="--force"):
        store.promote("v3")


def test_registry_cli_lists_an_object_store(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _publish(ObjectModelStore(url, "m"))
    assert _cli(["--root", url, "list", "m"]) == 0
    assert capsys.readouterr().out.startswith("*    v1  passed")


def test_check_writable_names_the_store_when_writes_fail(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ObjectModelStore(url, "m")
    store.check_writable()
    assert store.objects.keys_under("") == {}  # the probe is removed

    def refuse(*args: object, **kwargs: object) -> str:
        raise PermissionError("AccessDenied")

    monkeypatch.setattr(store.objects, "put", refuse)
    with pytest.raises(RegistryError, match=f"{url}/m: the model store is not writable"):
        store.check_writable()


def test_stale_claim_age_comes_from_the_claim(url: str) -> None:
    store = ObjectModelStore(url, "m")
    store.objects.put(f"m/v1/{CLAIM_FILE}", b"{}", create=True)
    objects = store.objects
    assert isinstance(objects, MemoryObjectStore)
    data, etag, _ = objects._objects[f"m/v1/{CLAIM_FILE}"]
    objects._objects[f"m/v1/{CLAIM_FILE}"] = (data, etag, datetime.now(UTC) - timedelta(hours=2))
    assert store.clean_stale_staging() == ["v1"]


@pytest.mark.parametrize(
    ("root", "allowed"),
    [
        ("s3://models/store", True),
        ("s3://models/store/", True),
        ("s3://models/store/team-a", True),
        ("s3://models/storefront", False),  # a prefix of the name is not a folder
        ("s3://models/store/../other", False),
        ("s3://other/store", False),
        ("memory://x", False),
    ],
)
def test_object_store_roots_are_allowed_only_under_an_allowed_url(root: str, allowed: bool, tmp_path: Path) -> None:
    roots = allowed_roots({"MLOPS_ALLOWED_ROOTS": f"{tmp_path}{os.pathsep}s3://models/store/"}, tmp_path, None)
    assert roots == [tmp_path.resolve(), "s3://models/store"]
    assert url_allowed(root, roots) is allowed


def test_the_deployments_own_url_root_is_allowed_by_default(tmp_path: Path) -> None:
    roots = allowed_roots({}, tmp_path, {"registry": {"root": "s3://models/store"}})
    assert url_allowed("s3://models/store", roots) and not url_allowed("s3://models/x", roots)
    assert not url_allowed("s3://models/store", allowed_roots({}, tmp_path, None))


def test_result_storage_comes_from_the_environment() -> None:
    assert result_storage_from({}) is None
    storage = result_storage_from({RESULT_STORAGE_ENV: "s3://models/results/"})
    assert storage is not None and storage.basepath == "s3://models/results"
    assert block_name("s3://models/results") == block_name("s3://models/results")
    assert block_name("s3://models/results") != block_name("s3://models/other")
    with pytest.raises(ValueError, match="expected a URL"):
        result_storage_from({RESULT_STORAGE_ENV: "results"})


def test_a_failed_file_write_publishes_nothing(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ObjectModelStore(url, "m")
    real_put = store.objects.put

    def full(key: str, data: bytes, **kwargs: object) -> str:
        if key.endswith(FLOAT_MODEL_FILE):
            raise OSError("SlowDown: please reduce your request rate")
        return real_put(key, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store.objects, "put", full)
    with pytest.raises(RegistryError, match="nothing was published and the champion is unchanged"):
        _publish(store)
    assert store.versions() == [] and store.champion() is None
