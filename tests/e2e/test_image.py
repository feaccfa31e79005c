"""The project's image, built by `scripts/build_image.sh` (buildah, a debootstrapped Debian base) and run with
`buildah run --isolation chroot` as its non-root user: the pipeline, the prediction service and a Prefect worker.

No Docker daemon runs on the machines this is tested on, and no registry base can be pulled; buildah builds the
Dockerfile unchanged from a local base. `.ci/run` installs buildah and debootstrap, and in CI (CI set) a missing
buildah fails the test instead of skipping it. The image is built once for the module: the base image, if already
in buildah's storage, and every unchanged layer are reused. Chroot isolation shares the host's network, so the
service's port and the host's Prefect server are on the same 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import REPO_ROOT, background_process, free_port, running_prefect_server, wait_until
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from sklearn.datasets import load_digits

from mlops_pipeline.registry import ModelStore

pytestmark = pytest.mark.e2e

IMAGE = "localhost/prefect-mlops-pipeline:latest"
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_image.sh"
USER_ID = 10001  # the Dockerfile's USER
PROJECT_DIR = "/opt/pipeline"  # the Dockerfile's WORKDIR, where the project is installed from
STORE = f"{PROJECT_DIR}/models"  # the default config's registry.root (models), seen from the project folder
MODEL = "digits-logreg"
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _buildah() -> str:
    found = shutil.which("buildah")
    if found is None:
        message = "buildah is not installed (apt-get install buildah debootstrap; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() != 0:
        message = "building and running the image needs root (debootstrap, buildah's chroot isolation)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image of this checkout, built once for the module by the build script."""
    _buildah()
    log = tmp_path_factory.mktemp("image-build") / "build.log"
    started = time.monotonic()
    with log.open("w") as output:
        done = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "--image", IMAGE], stdout=output, stderr=subprocess.STDOUT, timeout=3600
        )
    text = log.read_text(errors="replace")
    assert done.returncode == 0, f"scripts/build_image.sh failed (log {log}):\n{text[-5000:]}"
    # shown with pytest -s: whether the base was made or reused, and the build's own time
    print(
        f"image built in {time.monotonic() - started:.0f} s:",
        *(line for line in text.splitlines() if "build_image.sh" in line),
    )
    return IMAGE


def _store_folder(folder: Path) -> Path:
    """A host folder for the container's model store, writable by the image's user."""
    folder.mkdir(parents=True)
    os.chown(folder, USER_ID, USER_ID)
    return folder


@contextlib.contextmanager
def container(image: str) -> Iterator[str]:
    """A working container of the image (`buildah from`), removed afterwards."""
    name = f"mlops-image-test-{uuid.uuid4().hex[:12]}"
    subprocess.run(
        [_buildah(), "from", "--pull=never", "--quiet", "--name", name, image],
        check=True,
        capture_output=True,
        timeout=300,
    )
    try:
        yield name
    finally:
        subprocess.run([_buildah(), "rm", name], capture_output=True, timeout=300)


def buildah_run(name: str, command: list[str], *, store: Path, env: dict[str, str] | None = None) -> list[str]:
    """`buildah run` of `command` in container `name` as the image's user, `store` mounted as its model store."""
    args = [_buildah(), "run", "--isolation", "chroot", "--volume", f"{store}:{STORE}"]
    for key, value in {"MLOPS_LOCAL_SERVER": "per-run", **(env or {})}.items():
        # per-run: the flow's temporary Prefect server dies with the command; chroot isolation has no PID namespace
        # that would end a shared server left running in the background
        args += ["--env", f"{key}={value}"]
    return [*args, name, "--", *command]


def _owned_by_image_user(store: Path) -> bool:
    return all(path.stat().st_uid == USER_ID for path in store.rglob("*"))


@pytest.fixture(scope="module")
def pipeline_store(image: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """`python flows/pipeline.py` run in the image (default config), its model store on the host."""
    store = _store_folder(tmp_path_factory.mktemp("image-pipeline") / "models")
    with container(image) as name:
        whoami = subprocess.run(
            buildah_run(name, ["id", "-u"], store=store), capture_output=True, text=True, timeout=300
        )
        assert whoami.stdout.strip() == str(USER_ID), whoami.stderr
        done = subprocess.run(
            buildah_run(name, ["python", "flows/pipeline.py"], store=store),
            capture_output=True,
            text=True,
            timeout=900,
        )
    return store, done


def test_the_pipeline_runs_in_the_image_as_its_user_and_stores_a_champion(pipeline_store) -> None:
    store_folder, done = pipeline_store
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    store = ModelStore(store_folder, MODEL)
    champion = store.champion()
    assert champion == "v1" and store.card(champion)["status"] == "passed"
    assert store.verify(champion)  # every file matches its card's sha256
    assert store.card(champion)["run"]["working_directory"] == PROJECT_DIR
    assert _owned_by_image_user(store_folder)  # written by uid 10001, not root


def test_the_prediction_service_in_the_image_answers_the_host(pipeline_store, image: str, tmp_path: Path) -> None:
    store_folder, done = pipeline_store
    assert done.returncode == 0, "the pipeline run in the image failed: see the test above"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["python", "-m", "serving", "--model", MODEL, "--root", STORE, "--port", str(port), "--no-access-log"]
    log = tmp_path / "serving.log"
    digits = load_digits()
    rows = digits.data[:1]
    with (
        container(image) as name,
        background_process(buildah_run(name, command, store=store_folder), {}, log) as process,
    ):

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:  # not listening yet
                return False

        wait_until(healthy, process, log, "python -m serving in the image", timeout=180)
        health = httpx.get(f"{url}/health", timeout=30).json()
        answer = httpx.post(f"{url}/predict", json={"instances": rows.tolist()}, timeout=30).json()

    champion = ModelStore(store_folder, MODEL).champion()
    assert health["status"] == "ok" and health["model"] == MODEL and health["version"] == champion
    expected = ModelStore(store_folder, MODEL).load_quantized_model(champion).predict(rows).tolist()
    assert answer["predictions"] == expected == [int(digits.target[0])]
    assert answer["version"] == champion


def _deploy(env: dict[str, str]) -> None:
    args = [PREFECT, "--no-prompt", "deploy", "--prefect-file", "deployments/prefect.yaml", "--name", "digits-retrain"]
    done = subprocess.run(args, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"prefect deploy failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def test_a_worker_in_the_image_runs_a_deployment_of_the_hosts_server(image: str, tmp_path: Path) -> None:
    store_folder = _store_folder(tmp_path / "models")
    with (
        running_prefect_server(tmp_path / "server") as server,
        temporary_settings({PREFECT_API_URL: server.api_url}),
        get_client(sync_client=True) as client,
    ):
        client.create_work_pool(WorkPoolCreate(name="training-pool", type="process"))
        # the deployment's default parameters name the store as the worker sees it (the mount in the container)
        _deploy({**server.env, "MLOPS_MODEL_STORE_ROOT": STORE})
        run = run_deployment("training-pipeline/digits-retrain", timeout=0)
        worker = ["prefect", "worker", "start", "--pool", "training-pool", "--type", "process", "--run-once"]
        with container(image) as name:
            # --run-once: one poll, then the worker waits for the runs it started and exits
            done = subprocess.run(
                buildah_run(
                    name,
                    [*worker, "--name", "image-worker"],
                    store=store_folder,
                    env={"PREFECT_API_URL": server.api_url},
                ),
                capture_output=True,
                text=True,
                timeout=900,
            )
        state = client.read_flow_run(run.id).state

    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert state is not None and state.is_completed(), (state, done.stdout[-3000:])
    store = ModelStore(store_folder, MODEL)
    assert store.versions() == ["v1"] and store.champion() == "v1"
    card = store.card("v1")
    assert card["run"]["flow_run_id"] == str(run.id)
    assert card["run"]["working_directory"] == PROJECT_DIR  # the pull step entered the image's project folder
    assert _owned_by_image_user(store_folder)
