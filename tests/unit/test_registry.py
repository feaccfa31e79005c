"""The model store: versions, hash-verified loading, the lock, promotion re-checks, rollback and the CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import joblib
import pytest
from sklearn.linear_model import LogisticRegression

from mlops_pipeline.registry import CHAMPION_FILE, FLOAT_MODEL_FILE, IntegrityError, ModelStore, RegistryError, _cli
from mlops_pipeline.train import serialize_estimator


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return serialize_estimator(LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]))


def _publish(store: ModelStore, model_bytes: bytes, promote: bool = True, **kwargs) -> str:
    return store.publish(
        {FLOAT_MODEL_FILE: model_bytes}, {"metrics": {"accuracy": 1.0}}, promote=promote, **kwargs
    ).version


def test_publish_numbers_versions_records_hashes_and_status(tmp_path: Path, model_bytes: bytes) -> None:
    store = ModelStore(tmp_path, "m")
    first = store.publish({FLOAT_MODEL_FILE: model_bytes}, {"metrics": {}}, promote=True, reason="good")
    second = store.publish({FLOAT_MODEL_FILE: model_bytes}, {"metrics": {}}, promote=False, reason="bad")
    assert (first.version, first.status, first.promoted) == ("v1", "passed", True)
    assert (second.version, second.status, second.promoted) == ("v2", "rejected", False)
    card = store.card("v2")
    assert card["status"] == "rejected" and card["reason"] == "bad" and card["version"] == "v2"
    assert card["files"][FLOAT_MODEL_FILE]["bytes"] == len(model_bytes)
    assert store.champion() == "v1"
    assert store.versions() == ["v1", "v2"]
    assert not [p for p in store.folder.iterdir() if p.name.startswith(".staging")]


def test_one_changed_byte_in_model_joblib_fails_loading_before_unpickling(
    tmp_path: Path, model_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ModelStore(tmp_path, "m")
    version = _publish(store, model_bytes)
    path = store.folder / version / FLOAT_MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    def never(*args, **kwargs):
        raise AssertionError("an unverified file was unpickled")

    monkeypatch.setattr(joblib, "load", never)
    with pytest.raises(IntegrityError, match=r"model\.joblib: sha256 mismatch .* refusing to load it"):
        store.load_float_model(version)


def test_truncated_file_is_refused(tmp_path: Path, model_bytes: bytes) -> None:
    store = ModelStore(tmp_path, "m")
    version = _publish(store, model_bytes)
    path = store.folder / version / FLOAT_MODEL_FILE
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        store.verify(version)


def test_verified_model_loads_and_predicts(tmp_path: Path, model_bytes: bytes) -> None:
    store = ModelStore(tmp_path, "m")
    version = _publish(store, model_bytes)
    assert store.load_float_model(version).predict([[0.0], [3.0]]).tolist() == [0, 1]


def test_file_not_listed_in_the_card_is_refused(tmp_path: Path, model_bytes: bytes) -> None:
    store = ModelStore(tmp_path, "m")
    version = _publish(store, model_bytes)
    (store.folder / version / "extra.joblib").write_bytes(model_bytes)
    with pytest.raises(IntegrityError, match="extra.joblib: not listed in card.json"):
        store.verified_bytes(version, "extra.joblib")


def test_concurrent_publishers_get_distinct_versions(tmp_path: Path, model_bytes: bytes) -> None:
    results: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def publish() -> None:
        try:
            start.wait()
            results.append(_publish(ModelStore(tmp_path, "m"), model_bytes))
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)

    threads = [threading.Thread(target=publish) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(results) == sorted(f"v{i}" for i in range(1, 7))
    store = ModelStore(tmp_path, "m")
    assert store.champion() in results
    store.verify(store.champion())


def test_promotion_rechecks_a_champion_that_moved_since_the_gate(tmp_path: Path, model_bytes: bytes) -> None:
    store = ModelStore(tmp_path, "m")
    assert _publish(store, model_bytes) == "v1"
    asked: list[str] = []

    def worse_than(current: str) -> list[str]:
        asked.append(current)
        return [f"accuracy vs champion {current}: 0.9 >= 0.97 -> FAIL"]

    pointer = (store.folder / CHAMPION_FILE).read_bytes()
    # gated when there was no champion; by promotion time v1 is the champion, and the candidate is worse
    publication = store.publish(
        {FLOAT_MODEL_FILE: model_bytes}, {}, promote=True, gated_against=None, recheck=worse_than
    )
    assert asked == ["v1"]
    assert (publication.version, publication.status, publication.promoted) == ("v2", "rejected", False)
    assert "champion moved to v1" in store.card("v2")["reason"]
    assert store.card("v2")["rechecked_against"] == "v1"
    assert (store.folder / CHAMPION_FILE).read_bytes() == pointer


def test_no_recheck_when_the_champion_is_the_one_gated_against(tmp_path: Path, model_bytes: bytes) -> None:
    store = ModelStore(tmp_path, "m")
    _publish(store, model_bytes)

    def unexpected(current: str) -> list[str]:
        raise AssertionError("rechecked the champion the gate already compared against")

    assert _publish(store, model_bytes, gated_against="v1", recheck=unexpected) == "v2"
    assert store.champion() == "v2"
    assert store.card("v2")["rechecked_against"] is None


def test_lock_held_elsewhere_times_out_with_a_clear_error(tmp_path: Path, model_bytes: bytes) -> None:
    holder = ModelStore(tmp_path, "m")
    waiting = ModelStore(tmp_path, "m", lock_timeout=0.2)
    acquired, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.locked():
            acquired.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        acquired.wait(5)
        with pytest.raises(RegistryError, match=r"\.lock: another process has held the model store lock"):
            _publish(waiting, model_bytes)
    finally:
        release.set()
        thread.join()
    assert waiting.versions() == []
    assert not [p for p in waiting.folder.iterdir() if p.name.startswith(".staging")]


def test_rollback_moves_to_the_previous_passing_version(tmp_path: Path, model_bytes: bytes) -> None:
    store = ModelStore(tmp_path, "m")
    _publish(store, model_bytes)  # v1 passed
    _publish(store, model_bytes, promote=False)  # v2 rejected
    _publish(store, model_bytes)  # v3 passed, champion
    assert store.rollback() == ("v3", "v1")
    assert store.champion() == "v1"
    with pytest.raises(RegistryError, match="no passing version older than the champion v1"):
        store.rollback()
    assert store.rollback("v3") == ("v1", "v3")
    with pytest.raises(RegistryError, match="status is 'rejected'; roll back to a passing version"):
        store.rollback("v2")


def test_rollback_refuses_a_tampered_version(tmp_path: Path, model_bytes: bytes) -> None:
    store = ModelStore(tmp_path, "m")
    _publish(store, model_bytes)
    _publish(store, model_bytes)
    (store.folder / "v1" / FLOAT_MODEL_FILE).write_bytes(b"not a model")
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        store.rollback()
    assert store.champion() == "v2"


def test_promote_by_hand_refuses_rejected_versions_unless_forced(tmp_path: Path, model_bytes: bytes) -> None:
    store = ModelStore(tmp_path, "m")
    _publish(store, model_bytes)
    _publish(store, model_bytes, promote=False)
    with pytest.raises(RegistryError, match="status is 'rejected'.*--force"):
        store.promote("v2")
    store.promote("v2", force=True)
    assert store.champion() == "v2"


def test_cli_list_show_promote_rollback(tmp_path: Path, model_bytes: bytes, capsys: pytest.CaptureFixture) -> None:
    store = ModelStore(tmp_path, "m")
    _publish(store, model_bytes)
    _publish(store, model_bytes)
    root = ["--root", str(tmp_path)]

    assert _cli([*root, "list", "m"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["v1", "passed"]
    assert lines[1].split()[:3] == ["*", "v2", "passed"]

    assert _cli([*root, "show", "m"]) == 0
    shown = capsys.readouterr()
    assert json.loads(shown.out)["version"] == "v2"
    assert "files verified (sha256): model.joblib" in shown.err

    assert _cli([*root, "rollback", "m"]) == 0
    assert "rolled back from v2 to v1" in capsys.readouterr().out
    assert store.champion() == "v1"

    assert _cli([*root, "promote", "m", "v2"]) == 0
    assert "champion is now v2 (was v1)" in capsys.readouterr().out

    (store.folder / "v1" / FLOAT_MODEL_FILE).write_bytes(b"x")
    assert _cli([*root, "promote", "m", "v1"]) == 2
    assert "sha256 mismatch" in capsys.readouterr().err
    assert store.champion() == "v2"

    assert _cli([*root, "show", "m", "v9"]) == 2
    assert "no such version of 'm' (versions: v1, v2)" in capsys.readouterr().err


def test_candidate_that_still_beats_the_moved_champion_is_promoted(tmp_path: Path, model_bytes: bytes) -> None:
    store = ModelStore(tmp_path, "m")
    _publish(store, model_bytes)
    publication = store.publish(
        {FLOAT_MODEL_FILE: model_bytes}, {}, promote=True, gated_against=None, recheck=lambda current: []
    )
    assert (publication.version, publication.promoted) == ("v2", True)
    assert store.champion() == "v2"
    assert store.card("v2")["rechecked_against"] == "v1"


@pytest.mark.parametrize("command", [["promote", "nosuch", "v1"], ["rollback", "nosuch"], ["list", "nosuch"]])
def test_cli_on_an_unknown_name_fails_and_creates_nothing(command: list[str], tmp_path: Path, capsys) -> None:
    from mlops_pipeline.registry import _cli

    assert _cli(["--root", str(tmp_path / "models"), *command]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()
