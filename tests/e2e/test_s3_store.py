"""The model store and the result cache on a real S3 endpoint: moto_server on a free port, started per module.

First the facts the store rests on (moto answers 412 to If-None-Match: * on an existing key and to a stale If-Match,
as S3 does), then the store's guarantees with real processes, then the commands: a pipeline run into
s3://models/store, `registry list`, batch inference, a second host reusing the cached `train`, two concurrent runs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, background_process, free_port, subprocess_env, wait_until

from mlops_pipeline.objectstore import PreconditionFailed, S3ObjectStore
from mlops_pipeline.registry import CARD_FILE, ObjectModelStore, open_store

pytestmark = pytest.mark.e2e

BUCKET = "models"
PIPELINE = REPO_ROOT / "flows" / "pipeline.py"


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A moto_server of our own, the bucket created; the AWS settings that point at it (also set in this process)."""
    folder = tmp_path_factory.mktemp("moto")
    port = free_port()
    log = folder / "moto.log"
    aws = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    with background_process(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], dict(os.environ), log
    ) as process:
        wait_until(lambda: _listening(port), process, log, "moto_server", timeout=120)
        with pytest.MonkeyPatch.context() as patch:
            for key, value in aws.items():
                patch.setenv(key, value)
            import boto3

            boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"]).create_bucket(Bucket=BUCKET)
            yield aws


def _env(s3_env: dict[str, str], home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)  # one Prefect home (and temporary server) per simulated host
    return {**subprocess_env(home), **s3_env, **extra}


def _unique_root() -> str:
    return f"s3://{BUCKET}/t-{os.urandom(6).hex()}"


# ---- the facts -------------------------------------------------------------------------------------------------
def test_moto_refuses_a_second_create_and_a_stale_if_match(s3_env: dict[str, str]) -> None:
    objects = S3ObjectStore(_unique_root())
    first = objects.put("k", b"1", create=True)
    with pytest.raises(PreconditionFailed):
        objects.put("k", b"2", create=True)  # If-None-Match: * on an existing key -> 412
    second = objects.put("k", b"3", if_match=first)
    with pytest.raises(PreconditionFailed):
        objects.put("k", b"4", if_match=first)  # If-Match with the ETag before the last write -> 412
    stored = objects.get("k")
    assert stored is not None and (stored.data, stored.etag) == (b"3", second)
    assert objects.get("absent") is None
    assert sorted(objects.keys_under("")) == ["k"]
    objects.delete(["k"])
    assert objects.keys_under("") == {}


# ---- the store's guarantees with real processes -----------------------------------------------------------------
PUBLISHER = textwrap.dedent(
    """
    import os, sys, time
    from mlops_pipeline.registry import FLOAT_MODEL_FILE, CARD_FILE, ObjectModelStore
    root, freeze_on = sys.argv[1], sys.argv[2]
    store = ObjectModelStore(root, "m")
    real_put = store.objects.put
    def put(key, data, **kwargs):
        if freeze_on != "none" and key.endswith(freeze_on):
            print("frozen", flush=True)
            time.sleep(600)
        return real_put(key, data, **kwargs)
    store.objects.put = put
    publication = store.publish({FLOAT_MODEL_FILE: os.urandom(4096)}, {"metrics": {}}, promote=True)
    print(publication.version, flush=True)
    """
)


def test_concurrent_publishers_get_distinct_versions_and_a_valid_champion(s3_env: dict[str, str]) -> None:
    root = _unique_root()
    env = {**os.environ, **s3_env}
    runs = [
        subprocess.Popen([sys.executable, "-c", PUBLISHER, root, "none"], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    versions = sorted(run.communicate(timeout=300)[0].strip() for run in runs)
    assert [run.returncode for run in runs] == [0, 0, 0, 0]
    assert versions == ["v1", "v2", "v3", "v4"]
    store = ObjectModelStore(root, "m")
    assert store.versions() == versions
    champion = store.champion()
    assert champion in versions
    store.verify(champion)  # type: ignore[arg-type]


def test_a_publisher_killed_before_its_marker_leaves_no_visible_version(s3_env: dict[str, str], tmp_path: Path) -> None:
    root = _unique_root()
    subprocess.run([sys.executable, "-c", PUBLISHER, root, "none"], env={**os.environ, **s3_env}, check=True)
    log = tmp_path / "publisher.log"
    args = [sys.executable, "-c", PUBLISHER, root, "_COMMITTED"]  # freeze after files and card, before visibility
    with background_process(args, {**os.environ, **s3_env}, log) as process:
        wait_until(lambda: "frozen" in log.read_text(), process, log, "publisher", timeout=120)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    store = ObjectModelStore(root, "m")
    assert CARD_FILE in {k.rsplit("/", 1)[-1] for k in store.objects.keys_under("m/v2/")}
    assert store.versions() == ["v1"] and store.champion() == "v1"
    assert store.clean_stale_staging() == []  # young: it could be a slow writer on another host
    assert store.clean_stale_staging(older_than=0) == ["v2"]
    assert store.objects.keys_under("m/v2/") == {}


# ---- the commands ------------------------------------------------------------------------------------------------
def _pipeline(env: dict[str, str], cwd: Path, root: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PIPELINE), "--set", f"registry.root={root}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_pipeline_into_s3_then_list_batch_and_a_second_host_reuses_train(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    root = _unique_root()
    results = f"{_unique_root()}/results"
    first_host = _env(s3_env, tmp_path / "host1", MLOPS_RESULT_STORAGE=results)
    first = _pipeline(first_host, REPO_ROOT, f"{root}/store")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "champion   yes, v1 is the champion" in first.stdout
    assert "train=Completed" in first.stdout
    assert f"files      {root}/store/digits-logreg/v1" in first.stdout

    for command in (
        [sys.executable, "-m", "mlops_pipeline.registry"],
        [str(Path(sys.executable).with_name("mlops")), "registry"],
    ):
        listed = subprocess.run(
            [*command, "--root", f"{root}/store", "list", "digits-logreg"],
            env=first_host,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.startswith("*    v1  passed"), listed.stdout

    predictions = tmp_path / "predictions.csv"
    batch = subprocess.run(
        [sys.executable, str(REPO_ROOT / "flows" / "batch_infer.py"), "--models-root", f"{root}/store"]
        + ["--data", "digits", "--out", str(predictions)],
        cwd=REPO_ROOT,
        env=first_host,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert batch.returncode == 0, batch.stderr[-3000:]
    assert len(predictions.read_text().splitlines()) == 1797 + 1

    # another host: its own folder (prefect.toml copied, so its local results folder is its own), PREFECT_HOME and
    # local result path; only the bucket is shared
    checkout = tmp_path / "checkout2"
    checkout.mkdir()
    (checkout / "prefect.toml").write_bytes((REPO_ROOT / "prefect.toml").read_bytes())
    second = _pipeline(_env(s3_env, tmp_path / "host2", MLOPS_RESULT_STORAGE=results), checkout, f"{root}/store")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "train=Cached" in second.stdout and "train_candidate-0=Cached" in second.stdout
    assert not list((tmp_path / "host2" / "prefect-results").glob("train*"))  # read from the bucket, not local
    # the same model bytes, data, config and code as the first host's champion: nothing new is stored
    assert "champion   unchanged: v1 remains champion" in second.stdout
    store = open_store(f"{root}/store", "digits-logreg")
    assert store.versions() == ["v1"]


def test_two_concurrent_pipeline_runs_leave_two_versions_and_a_valid_champion(
    s3_env: dict[str, str], tmp_path: Path
) -> None:
    root = f"{_unique_root()}/store"
    # the second run differs in a setting that does not shape the model (data.retries), so it is a new version
    # whichever commits first (two identical runs may leave one: an unchanged retrain stores nothing)
    runs = [
        subprocess.Popen(
            [sys.executable, str(PIPELINE), "--set", f"registry.root={root}", *variant],
            cwd=REPO_ROOT,  # prefect.toml's longer temporary-server start timeout (two servers start at once)
            env=_env(s3_env, tmp_path / name),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, variant in (("first", []), ("second", ["--set", "data.retries=3"]))
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (_stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr[-3000:]
    store = open_store(root, "digits-logreg")
    assert store.versions() == ["v1", "v2"]
    assert [store.card(v)["status"] for v in ("v1", "v2")] == ["passed", "passed"]
    champion = store.champion()
    assert champion in {"v1", "v2"}
    assert store.load_float_model(champion).predict(np.zeros((1, 64))).shape == (1,)  # type: ignore[arg-type]
