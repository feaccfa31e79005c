"""Issue 21's "Done when", as a new user runs it, on the public cars table (Origin; a Name, a Year date, NA cells).

For each model: `python flows/pipeline.py --data cars.csv --target Origin --set registry.model_name=NAME --set
model.kind=KIND ...` trains a model that passes the gate and gets the pickle-free tree `.npz`; `mlops infer` scores
the file without its target (HistGradientBoosting: exactly the float model's labels, `joblib.load(model.joblib)
.predict(pandas.read_csv(file))`, on every row; forests: agreement >= 0.99); `mlops serve` answers a JSON row by name
with text values. The models: `hist_gradient_boosting`, `random_forest`, and `custom` with the user's own factory
(`carmodels:make_model`, returning an `ExtraTreesClassifier`), installed the way docs/custom-models.md tells users: as
a package in the pipeline's virtualenv (here a tiny wheel written by the test, uninstalled at the end), never through
PYTHONPATH.

Every command runs in a folder of its own (its `models/` is the store), as a user's would.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from conftest import REPO_ROOT, background_process, free_port, subprocess_env, wait_until

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent
TARGET = "Origin"
ROW = {  # the first row of cars.csv, by column name, the date as text, the name kept (it is ignored)
    "Name": "chevrolet chevelle malibu",
    "Miles_per_Gallon": 18,
    "Cylinders": 8,
    "Displacement": 307,
    "Horsepower": 130,
    "Weight_in_lbs": 3504,
    "Acceleration": 12,
    "Year": "1970-01-01",
}
LABEL = "USA"

USER_MODULE = '''"""The user's own model: an extra-trees classifier."""

from sklearn.ensemble import ExtraTreesClassifier


def make_model(n_estimators=50):
    return ExtraTreesClassifier(n_estimators=n_estimators)
'''


@dataclass(frozen=True)
class Run:
    name: str  # the model name
    sets: tuple[str, ...]  # the --set overrides after registry.model_name
    kind: str  # model.kind in the card
    estimator: str  # the class name of the fitted final estimator
    min_batch_agreement: float  # batch (tree .npz) labels vs the float model's on every row


RUNS = [
    Run("cars-hgb", ("model.kind=hist_gradient_boosting",), "hist_gradient_boosting", "HistGradientBoosting", 1.0),
    Run("cars-forest", ("model.kind=random_forest",), "random_forest", "RandomForestClassifier", 0.99),
    Run(
        "cars-custom",
        ("model.kind=custom", "model.factory=carmodels:make_model", "model.params={n_estimators: 40}"),
        "custom",
        "ExtraTreesClassifier",
        0.99,
    ),
]


def _run(args: list[str], work: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=work, env=subprocess_env(work), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cars.csv as scripts/export_public_tables.py writes it from the pip package that ships it."""
    folder = tmp_path_factory.mktemp("tables")
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "export_public_tables.py"), "--out", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "cars.csv  406 rows" in done.stdout
    return folder / "cars.csv"


def _write_wheel(folder: Path) -> Path:
    """A wheel of the user's `carmodels` module: what `pip wheel` of a one-module project makes, without a backend."""
    dist = "carmodels-0.1.dist-info"
    files = {
        "carmodels.py": USER_MODULE.encode(),
        f"{dist}/METADATA": b"Metadata-Version: 2.1\nName: carmodels\nVersion: 0.1\n",
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / "carmodels-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


@pytest.fixture(scope="module")
def user_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The user's module installed as a package in the pipeline's virtualenv (docs/custom-models.md), then removed."""
    wheel = _write_wheel(tmp_path_factory.mktemp("carmodels"))
    pip = [sys.executable, "-m", "pip"]
    done = subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    try:
        yield
    finally:
        subprocess.run([*pip, "uninstall", "--yes", "--quiet", "carmodels"], capture_output=True, timeout=300)


@dataclass(frozen=True)
class Trained:
    run: Run
    work: Path  # the user's folder: the commands run here, models/ is its store
    data: Path
    stdout: str

    @property
    def version_folder(self) -> Path:
        return self.work / "models" / self.run.name / "v1"


@pytest.fixture(scope="module", params=RUNS, ids=[r.kind for r in RUNS])
def trained(request: pytest.FixtureRequest, cars: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    run: Run = request.param
    if run.kind == "custom":
        request.getfixturevalue("user_package")
    work = tmp_path_factory.mktemp(f"user-{run.name}")
    args = ["--data", str(cars), "--target", TARGET, "--set", f"registry.model_name={run.name}"]
    for setting in run.sets:
        args += ["--set", setting]
    result = _run([sys.executable, str(REPO_ROOT / "flows" / "pipeline.py"), *args], work)
    output = (result.stdout + result.stderr).splitlines()
    said = "\n".join(line for line in output if "pipeline " in line or "FAIL" in line or "error" in line.lower())
    assert result.returncode == 0, f"training {run.name} failed (exit {result.returncode}):\n{said[-3000:]}"
    return Trained(run, work, cars, result.stdout)


def test_trains_passes_the_gate_and_gets_the_tree_npz(trained: Trained) -> None:
    from mlops_pipeline.quantize import TREES_FAMILY, QuantizedTrees, model_from_bytes
    from mlops_pipeline.quantize._format import read_model_file

    assert "gate       PASSED" in trained.stdout
    assert "champion   yes, v1 is the champion" in trained.stdout
    card = json.loads((trained.version_folder / "card.json").read_text())
    assert card["status"] == "passed" and card["data"]["target"] == TARGET
    assert card["selection"]["model"]["kind"] == trained.run.kind
    assert "model.int8.npz" in card["files"] and "model.skops" not in card["files"]
    data = (trained.version_folder / "model.int8.npz").read_bytes()
    header, _ = read_model_file(data, "model.int8.npz")
    assert header["family"] == TREES_FAMILY
    assert isinstance(model_from_bytes(data, "model.int8.npz"), QuantizedTrees)
    float_model = joblib.load(trained.version_folder / "model.joblib")  # the user's factory's estimator, last
    final = float_model.steps[-1][1]
    assert type(final).__name__.startswith(trained.run.estimator)
    if trained.run.kind == "custom":  # called with model.params, seeded by the pipeline (the factory left it unset)
        assert final.n_estimators == 40 and final.random_state is not None


def _without_target(trained: Trained) -> Path:
    with trained.data.open(newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index(TARGET)
    path = trained.work / "new-cars.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([cell for j, cell in enumerate(row) if j != drop] for row in rows)
    return path


def _float_predictions(trained: Trained, file: Path) -> list[str]:
    """`joblib.load(model.joblib).predict(pandas.read_csv(file))`, as the user's own script would."""
    script = (
        "import sys, joblib, pandas\n"
        "model = joblib.load(sys.argv[1])\n"
        "print('\\n'.join(map(str, model.predict(pandas.read_csv(sys.argv[2])))))\n"
    )
    model = trained.version_folder / "model.joblib"
    result = _run([sys.executable, "-c", script, str(model), str(file)], trained.work)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split("\n")[:-1]


def test_batch_scoring_the_file_without_its_target_gives_the_float_models_labels(trained: Trained) -> None:
    new = _without_target(trained)
    out = trained.work / "predictions.csv"
    args = [str(BIN / "mlops"), "infer", "--model", trained.run.name, "--data", str(new), "--out", str(out)]
    result = _run(args, trained.work)
    assert result.returncode == 0, f"mlops infer failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    with out.open(newline="") as handle:
        batch = [row["prediction"] for row in csv.DictReader(handle)]
    floats = _float_predictions(trained, new)
    with trained.data.open(newline="") as handle:
        labels = [row[TARGET] for row in csv.DictReader(handle)]
    assert len(batch) == len(floats) == len(labels) == 406
    assert set(batch) <= {"USA", "Europe", "Japan"}  # labels, not codes
    agreement = np.mean([a == b for a, b in zip(batch, floats, strict=True)])
    assert agreement >= trained.run.min_batch_agreement, f"batch vs float model: {agreement:.4f}"
    if trained.run.min_batch_agreement == 1.0:
        assert batch == floats  # HistGradientBoosting: the model's own bins, identical labels on every row
    assert np.mean([p == y for p, y in zip(batch, labels, strict=True)]) >= 0.7  # mostly training rows


@pytest.fixture
def service(trained: Trained, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "serve.log"
    args = [str(BIN / "mlops"), "serve", "--model", trained.run.name, "--port", str(port), "--no-access-log"]
    url = f"http://127.0.0.1:{port}"
    with background_process(args, subprocess_env(trained.work), log, cwd=trained.work) as process:

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, process, log, "mlops serve", timeout=120)
        yield url


def test_the_service_answers_a_json_row_by_name_with_text_values(trained: Trained, service: str) -> None:
    health = httpx.get(f"{service}/health", timeout=30).json()
    assert "skops" not in json.dumps(health)  # the tree .npz, not the float model
    answer = httpx.post(f"{service}/predict", json={"instances": [ROW]}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == [LABEL]
    assert set(body["classes"]) == {"USA", "Europe", "Japan"}
    assert any("Name" in w for w in body["warnings"]), body  # the name per row is not a feature: said, ignored
