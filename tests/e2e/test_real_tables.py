"""Issue 20's "Done when", as a new user runs it, on tables with text columns, NA cells, a date and a name per row.

For each table: `python flows/pipeline.py --data FILE --target COLUMN --set registry.model_name=NAME` and nothing
else trains a model that passes the gate and gets an int8 model; `mlops infer` scores the same file without its
target; `mlops serve` answers a JSON row by name with text values with the right label; and
`joblib.load(model.joblib).predict(pandas.read_csv(FILE))` works. The tables: one built here (text categories, NA
cells, dates, a yes/no column, a customer name per row) and two public tables nobody here wrote, written by
`scripts/export_public_tables.py` from the pip packages that ship them: penguins (species; island and sex as text,
NA cells) and cars (Origin; a Name per row, Year as a date, empty cells).

Every command runs in a folder of its own (its `models/` is the store), as a user's would.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from conftest import REPO_ROOT, background_process, free_port, subprocess_env, wait_until
from tables_support import write_shop_table

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Table:
    name: str  # the model name
    file: str
    target: str
    row: dict[str, Any]  # a row by column name, text values as text
    label: str  # its right label
    min_agreement: float  # batch predictions on the whole file vs its labels (mostly training rows)
    text_column: str | None  # a categorical feature column (text), if the table has one
    date_column: str | None  # a datetime feature column, if the table has one
    dropped: str | None  # a column left out of the features (a name per row), if the table has one


TABLES = [
    Table(
        "shop",
        "shop.csv",
        "label",
        {"customer": "someone new", "colour": "red", "size": 8.5, "joined": "2023-02-01", "member": "yes"},
        "buy",
        0.9,
        "colour",
        "joined",
        "customer",
    ),
    Table(
        "penguins",
        "penguins.csv",
        "species",
        {
            "island": "Torgersen",
            "bill_length_mm": 39.1,
            "bill_depth_mm": 18.7,
            "flipper_length_mm": 181,
            "body_mass_g": 3750,
            "sex": "male",
            "year": 2007,
        },
        "Adelie",
        0.95,
        "island",
        None,
        None,
    ),
    Table(
        "cars",
        "cars.csv",
        "Origin",
        {
            "Name": "chevrolet chevelle malibu",
            "Miles_per_Gallon": 18,
            "Cylinders": 8,
            "Displacement": 307,
            "Horsepower": 130,
            "Weight_in_lbs": 3504,
            "Acceleration": 12,
            "Year": "1970-01-01",
        },
        "USA",
        0.7,
        None,
        "Year",
        "Name",
    ),
]


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three tables as CSV files: the built one, and the public ones through the export script."""
    folder = tmp_path_factory.mktemp("tables")
    write_shop_table(folder / "shop.csv")
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "export_public_tables.py"), "--out", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "penguins.csv  344 rows" in done.stdout and "cars.csv  406 rows" in done.stdout
    return folder


@dataclass(frozen=True)
class Trained:
    table: Table
    work: Path  # the user's folder: the command ran here, models/ is its store
    data: Path
    stdout: str

    @property
    def version_folder(self) -> Path:
        return self.work / "models" / self.table.name / "v1"


def _run(args: list[str], work: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=work, env=subprocess_env(work), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module", params=TABLES, ids=[t.name for t in TABLES])
def trained(request: pytest.FixtureRequest, tables: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    table: Table = request.param
    work = tmp_path_factory.mktemp(f"user-{table.name}")
    data = tables / table.file
    args = ["--data", str(data), "--target", table.target, "--set", f"registry.model_name={table.name}"]
    result = _run([sys.executable, str(REPO_ROOT / "flows" / "pipeline.py"), *args], work)
    output = (result.stdout + result.stderr).splitlines()
    said = "\n".join(line for line in output if "pipeline " in line or "FAIL" in line or "error" in line.lower())
    assert result.returncode == 0, f"training {table.file} failed (exit {result.returncode}):\n{said[-3000:]}"
    return Trained(table, work, data, result.stdout)


def test_trains_with_only_data_target_and_name_passes_the_gate_and_gets_an_int8_model(trained: Trained) -> None:
    assert "gate       PASSED" in trained.stdout
    assert "champion   yes, v1 is the champion" in trained.stdout
    assert "int8       accuracy=" in trained.stdout
    card = json.loads((trained.version_folder / "card.json").read_text())
    assert "model.int8.npz" in card["files"] and card["status"] == "passed"
    assert card["data"]["target"] == trained.table.target


def _without_target(trained: Trained) -> Path:
    with trained.data.open(newline="") as handle:
        rows = list(csv.reader(handle))
    drop = rows[0].index(trained.table.target)
    path = trained.work / f"new-{trained.table.file}"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([cell for j, cell in enumerate(row) if j != drop] for row in rows)
    return path


def _labels(trained: Trained) -> list[str]:
    with trained.data.open(newline="") as handle:
        return [row[trained.table.target] for row in csv.DictReader(handle)]


def test_batch_scoring_of_the_file_without_its_target_gives_the_original_labels(trained: Trained) -> None:
    new = _without_target(trained)
    out = trained.work / "predictions.csv"
    args = [str(BIN / "mlops"), "infer", "--model", trained.table.name, "--data", str(new), "--out", str(out)]
    result = _run(args, trained.work)
    assert result.returncode == 0, f"mlops infer failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    with out.open(newline="") as handle:
        predictions = [row["prediction"] for row in csv.DictReader(handle)]
    labels = _labels(trained)
    assert len(predictions) == len(labels)
    assert set(predictions) <= {label for label in labels if label not in ("", "NA")}  # labels, not codes
    agreement = np.mean([p == y for p, y in zip(predictions, labels, strict=True)])
    assert agreement >= trained.table.min_agreement


def test_the_float_model_predicts_on_pandas_read_csv_and_agrees_with_the_int8_batch(trained: Trained) -> None:
    script = (
        "import sys, joblib, pandas\n"
        "model = joblib.load(sys.argv[1])\n"
        "print('\\n'.join(map(str, model.predict(pandas.read_csv(sys.argv[2])))))\n"
    )
    model = trained.version_folder / "model.joblib"
    result = _run([sys.executable, "-c", script, str(model), str(trained.data)], trained.work)
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = result.stdout.split("\n")[:-1]
    labels = _labels(trained)
    assert len(predictions) == len(labels)
    assert np.mean([p == y for p, y in zip(predictions, labels, strict=True)]) >= trained.table.min_agreement
    batch = trained.work / "predictions.csv"
    if batch.exists():  # written by the batch test: the int8 model gives the float model's labels
        with batch.open(newline="") as handle:
            int8 = [row["prediction"] for row in csv.DictReader(handle)]
        assert np.mean([a == b for a, b in zip(int8, predictions, strict=True)]) >= 0.99


@pytest.fixture
def service(trained: Trained, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "serve.log"
    args = [str(BIN / "mlops"), "serve", "--model", trained.table.name, "--port", str(port), "--no-access-log"]
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
    answer = httpx.post(f"{service}/predict", json={"instances": [trained.table.row]}, timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["predictions"] == [trained.table.label]
    assert trained.table.label in body["classes"]
    schema = httpx.get(f"{service}/openapi.json", timeout=30).json()
    request = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    columns = request["properties"]["instances"]["items"]["anyOf"][0]["properties"]
    table = trained.table
    assert table.target not in columns and (table.dropped is None or table.dropped not in columns)
    if table.date_column is not None:
        assert columns[table.date_column]["format"] in ("date", "date-time")
        assert "datetime" in columns[table.date_column]["description"]
    if table.text_column is not None:
        assert "categorical" in columns[table.text_column]["description"]
        assert table.row[table.text_column] in columns[table.text_column]["enum"]
        unseen = {**table.row, table.text_column: "a value never seen"}
        answer = httpx.post(f"{service}/predict", json={"instances": [unseen]}, timeout=30)
        assert answer.status_code == 200, answer.text
        warnings = answer.json()["warnings"]
        assert any(table.text_column in w and "a value never seen" in w for w in warnings), warnings
    if table.dropped is not None and table.dropped in table.row:  # a row as it is in the file: the name is ignored
        assert any(table.dropped in w for w in body["warnings"]), body
