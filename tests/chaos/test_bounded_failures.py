"""Bounded failure: a source that answers 503 forever, a disk that fills during publish, a read-only store.

The tmpfs cases mount a small tmpfs (root only); where the sandbox refuses the mount they are skipped with the
reason. Each asserts the store's state after the fault by sha256.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO_ROOT, FlakyServer, subprocess_env
from mlops_pipeline.flows.pipeline import training_pipeline

from mlops_pipeline.config import DataConfig, parse_config
from mlops_pipeline.data import load_time_bound
from mlops_pipeline.registry import CHAMPION_FILE, FLOAT_MODEL_FILE, STAGING_PREFIX, ModelStore, RegistryError

pytestmark = pytest.mark.e2e


def _tree(root: Path) -> dict[str, str]:
    return (
        {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }
        if root.exists()
        else {}
    )


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs, unmounted afterwards; skipped where mounting is refused (not root, no CAP_SYS_ADMIN)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or result.returncode}); needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_default_load_time_bound_is_documented() -> None:
    assert load_time_bound(DataConfig()) == pytest.approx(172.5)


def test_a_source_answering_503_forever_fails_after_the_configured_retries(prefect_harness, tmp_path: Path) -> None:
    with FlakyServer(b"", failures=10**9, status=503) as server:
        config = parse_config(
            {
                "data": {
                    "source": server.url("d.csv"),
                    "target": "label",
                    "retries": 2,
                    "retry_delay_seconds": 0.01,
                    "timeout_seconds": 5,
                },
                "registry": {"root": str(tmp_path / "models"), "model_name": "flaky"},
            }
        )
        state = training_pipeline(config, return_state=True)
    assert state.is_failed()
    assert server.requests == [503, 503, 503]  # 1 try + data.retries, then it gives up
    assert "503" in str(state.result(raise_on_failure=False))
    assert not (tmp_path / "models" / "flaky").exists() or ModelStore(tmp_path / "models", "flaky").versions() == []


def test_disk_full_during_publish_names_the_path_and_keeps_the_champion(small_tmpfs: Path) -> None:
    store = ModelStore(small_tmpfs, "m", lock_timeout=10)
    store.publish({FLOAT_MODEL_FILE: b"small v1"}, {"metrics": {"accuracy": 0.98}}, promote=True)
    before = _tree(small_tmpfs)
    with pytest.raises(RegistryError, match=rf"{small_tmpfs}/m/\.staging-.*disk is full") as error:
        store.publish({FLOAT_MODEL_FILE: b"\0" * (1024 * 1024)}, {"metrics": {"accuracy": 0.99}}, promote=True)
    assert "champion is unchanged" in str(error.value)
    assert _tree(small_tmpfs) == before  # by hash: champion.json, v1 and its card are untouched, nothing staged
    assert store.champion() == "v1" and store.verify("v1")
    assert not [p for p in store.folder.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_a_read_only_store_fails_before_training(small_tmpfs: Path, python: str, tmp_path: Path) -> None:
    store = ModelStore(small_tmpfs, "digits-logreg")
    store.publish({FLOAT_MODEL_FILE: b"v1"}, {"metrics": {"accuracy": 0.98}}, promote=True)
    before = _tree(small_tmpfs)
    remount = subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount the tmpfs read-only ({remount.stderr.strip()})")
    result = subprocess.run(
        [python, str(REPO_ROOT / "flows" / "pipeline.py"), "--set", f"registry.root={small_tmpfs}"],
        cwd=REPO_ROOT,
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{small_tmpfs}/digits-logreg: the model store is not writable" in output
    assert "train_candidate" not in output and "loaded " not in output  # failed before loading or training
    assert _tree(small_tmpfs) == before
    assert (small_tmpfs / "digits-logreg" / CHAMPION_FILE).is_file()
