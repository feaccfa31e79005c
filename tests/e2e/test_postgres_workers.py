"""The multi-host layout on one machine: a Prefect server on a real PostgreSQL, two process workers in two
separate clones of the project, sharing only the server and the model store, running retrains at once.

PostgreSQL is Debian's `postgresql` package (`initdb` + `pg_ctl` on a free 127.0.0.1 port in a temp folder, as
the `postgres` user when run as root); `.ci/run` installs it, and in CI (CI=1) a missing PostgreSQL fails the
test instead of skipping it. The clones hold the working directory, flows/pipeline.py and the config files of
each worker; the `mlops_pipeline` package itself comes from the one virtualenv the test runs in (two real hosts
would each have their own install).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, background_process, free_port, running_prefect_server, subprocess_env
from mlops_pipeline.deployments.catalog import MODEL_STORE_ENV, PROJECT_DIR_ENV, edited_parameters
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings

from mlops_pipeline.registry import ModelStore

pytestmark = pytest.mark.e2e

PREFECT = str(Path(sys.executable).with_name("prefect"))
RUNS = 6
RUNS_TIMEOUT = 900  # 6 trainings, two at a time, on a loaded 2-core machine: generous on purpose


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries (newest version), or of `initdb` on the PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if versions:
        return versions[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 and a free port; yields the `prefect` database's asyncpg URL."""
    bindir = postgres_bin()
    if bindir is None:
        message = "PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses to run as root
    # not under pytest's tmp_path: its folders are private to root, and the server must own its data folder
    with tempfile.TemporaryDirectory(prefix="pg-workers-") as folder:
        if as_postgres:
            shutil.chown(folder, "postgres")
        data, log, port = Path(folder) / "data", Path(folder) / "postgres.log", free_port()

        def run(*args: str) -> None:
            result = subprocess.run([*as_postgres, *args], capture_output=True, text=True, timeout=120)
            assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"

        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
        options = f"-k {folder} -h 127.0.0.1 -p {port} -F"  # socket in the temp folder; -F: no fsync (a test)
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "120", "start")
        try:
            run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "prefect")
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")


def cli(args: list[str], env: dict[str, str], cwd: Path) -> None:
    result = subprocess.run([PREFECT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"prefect {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


def clone(target: Path) -> Path:
    """A fresh clone of this repository at HEAD, as another host would check it out."""
    subprocess.run(
        ["git", "-c", "safe.directory=*", "clone", "--quiet", str(REPO_ROOT), str(target)], check=True, timeout=120
    )
    return target


def test_two_workers_on_a_postgres_backed_server_run_concurrent_retrains_into_one_store(tmp_path: Path) -> None:
    if not (REPO_ROOT / ".git").exists():
        pytest.skip("the workers' checkouts are git clones of this repository, which is not a git checkout")
    models = tmp_path / "models"  # the shared model store (a shared mount on real hosts)
    with (
        running_postgres() as database_url,
        running_prefect_server(
            tmp_path / "server", settings={"PREFECT_API_DATABASE_CONNECTION_URL": database_url}, timeout=300
        ) as server,
        temporary_settings({PREFECT_API_URL: server.api_url}),
        get_client(sync_client=True) as client,
        contextlib.ExitStack() as workers,
    ):
        client.create_work_pool(WorkPoolCreate(name="training-pool", type="process"))
        cli(
            ["--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"],
            {**server.env, MODEL_STORE_ENV: str(models)},
            REPO_ROOT,
        )
        # all runs exist before any worker polls: nothing here depends on which worker starts first. Each run differs
        # in a setting that does not shape the model (data.retries), so each stores a version (an unchanged retrain
        # stores none)
        defaults = client.read_deployment_by_name("training-pipeline/digits-retrain").parameters
        runs = [
            run_deployment(
                "training-pipeline/digits-retrain",
                parameters=edited_parameters(defaults, [f"data.retries={attempt}"]),
                timeout=0,
            )
            for attempt in range(RUNS)
        ]

        checkouts = {}
        for name in ("worker-a", "worker-b"):
            checkout = clone(tmp_path / name / "project")
            env = {
                **subprocess_env(tmp_path / name),  # own PREFECT_HOME and result storage, as on its own host
                "PREFECT_API_URL": server.api_url,
                "PREFECT_WORKER_QUERY_SECONDS": "2",
                PROJECT_DIR_ENV: str(checkout),  # the shared install's own checkout is REPO_ROOT, not this clone
            }
            Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
            log = tmp_path / name / "worker.log"
            # --limit 1: a worker busy with one run leaves the others to the other worker, so both must run some
            args = [PREFECT, "worker", "start", "--pool", "training-pool", "--type", "process", "--limit", "1"]
            process = workers.enter_context(background_process([*args, "--name", name], env, log, cwd=checkout))
            checkouts[name] = (checkout, process, log)

        def finished() -> bool:
            return all(client.read_flow_run(run.id).state.is_final() for run in runs)  # type: ignore[union-attr]

        deadline = time.monotonic() + RUNS_TIMEOUT
        while not finished():
            for name, (_, process, log) in checkouts.items():
                if process.poll() is not None:
                    pytest.fail(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                break
            time.sleep(2)
        states = {str(run.id): client.read_flow_run(run.id).state for run in runs}

    assert all(state is not None and state.is_completed() for state in states.values()), states
    store = ModelStore(models, "digits-logreg")
    assert store.versions() == [f"v{n}" for n in range(1, RUNS + 1)]  # one version per run, no gaps
    cards = [store.card(version) for version in store.versions()]
    assert sorted(card["run"]["flow_run_id"] for card in cards) == sorted(states)
    ran_in = Counter(card["run"]["working_directory"] for card in cards)
    print(f"runs per worker checkout: {dict(ran_in)}")  # shown with pytest -s
    assert set(ran_in) == {str(checkout.resolve()) for checkout, _, _ in checkouts.values()}  # both workers ran some
    champion = store.champion()
    assert champion is not None and store.card(champion)["status"] == "passed"
    assert store.verify(champion)  # every file of the champion matches its card's sha256
    assert store.load_float_model(champion).predict(np.zeros((1, 64))).shape == (1,)


def test_postgres_bin_finds_debian_binaries_or_none() -> None:
    found = postgres_bin()
    assert found is None or (found / "initdb").is_file()
