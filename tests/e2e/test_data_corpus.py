"""The bad-input corpus through the real command: `python flows/pipeline.py --data FILE --target label`.

Each file must give a non-zero exit with a message naming the problem and the file, and leave the model store
(champion pointer and version folders) byte-identical. The runs share one Prefect server started for this module
(PREFECT_API_URL), instead of each starting its own ephemeral one, which costs ~10 s per run.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import CORPUS, REPO_ROOT, subprocess_env

from mlops_pipeline.registry import ModelStore

pytestmark = pytest.mark.e2e

CASES = [
    ("empty.csv", "the file is empty (0 bytes)"),
    ("header_only.csv", "no data rows"),
    ("text_in_numeric.csv", "non-numeric values [column b]"),
    ("nan.csv", "missing values (NaN or empty) [column a]"),
    ("inf.csv", "infinite values [column c]"),
    ("missing_target.csv", "missing target column [column label]"),
    ("single_class.csv", "single class [column label]"),
    ("wrong_delimiter.csv", "wrong delimiter?"),
    ("duplicated_header.csv", "duplicated column names [column a]"),
    ("truncated.parquet", "not a readable Parquet file"),
    ("huge_value.csv", "values too large [column a]"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect server on a free 127.0.0.1 port for this module's subprocess runs."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=subprocess_env(home),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=home,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"prefect server exited with {server.returncode}: {(home / 'server.log').read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server did not answer on {url}: {(home / 'server.log').read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def run_pipeline(tmp_path: Path, server_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(tmp_path)
    env["PREFECT_API_URL"] = server_url
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "flows" / "pipeline.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def store_with_champion(tmp_path: Path) -> Path:
    """A model store that already has a champion (v1) and a rejected v2, so any write would show."""
    store = ModelStore(tmp_path / "models", "corpus")
    store.publish({"model.joblib": b"champion bytes"}, {"metrics": {}}, promote=True, reason="fixture")
    store.publish({"model.joblib": b"rejected bytes"}, {"metrics": {}}, reason="fixture")
    return tmp_path / "models"


@pytest.mark.parametrize(("filename", "problem"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_naming_the_problem_and_leaves_the_store_byte_identical(
    prefect_server, tmp_path, store_with_champion, filename, problem
):
    before = snapshot(store_with_champion)
    assert {"corpus/champion.json", "corpus/v1/card.json", "corpus/v2/model.joblib"} <= set(before)
    data = CORPUS / filename

    done = run_pipeline(
        tmp_path,
        prefect_server,
        "--data",
        str(data),
        "--target",
        "label",
        "--set",
        f"registry.root={store_with_champion}",
        "--set",
        "registry.model_name=corpus",
        "--set",
        "data.missing=error",  # missing cells refused (nan.csv), as the corpus expects
    )

    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    failure = done.stderr[done.stderr.rfind("pipeline failed:") :]
    assert failure.startswith("pipeline failed:"), done.stderr[-3000:]
    assert problem in failure
    assert str(data) in failure
    assert snapshot(store_with_champion) == before
    assert sorted(p.name for p in (store_with_champion / "corpus").iterdir()) == [".lock", "champion.json", "v1", "v2"]


def test_good_file_trains_from_the_command_line_and_stores_its_contract(prefect_server, tmp_path):
    done = run_pipeline(
        tmp_path,
        prefect_server,
        "--data",
        str(CORPUS / "good.csv"),
        "--target",
        "label",
        "--set",
        "registry.model_name=from-csv",
        "--set",
        "gate.min_metrics.accuracy=0.6",
        "--set",
        "gate.min_metrics.macro_f1=0.6",
        "--set",
        "quantize.max_metric_drop=1.0",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "from-csv v1" in done.stdout
    folder = tmp_path / "models" / "from-csv" / "v1"
    card = json.loads((folder / "card.json").read_text())
    assert set(card["files"]) >= {"model.joblib", "contract.json"}
    assert card["data"]["source"] == str(CORPUS / "good.csv") and card["data"]["target"] == "label"
    contract = json.loads((folder / "contract.json").read_text())
    assert [f["name"] for f in contract["features"]] == ["a", "b", "c"]
