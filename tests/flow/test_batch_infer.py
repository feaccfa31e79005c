"""Batch inference: scoring files with the champion's int8 model, contract checks, drift, and its command line."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import REPO_ROOT
from mlops_pipeline.flows.batch_infer import BatchSummary, batch_inference, inference_config, parse_args
from mlops_pipeline.flows.pipeline import training_pipeline
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sklearn.datasets import load_digits

from mlops_pipeline.batch import load_scoring_model, score_to_file
from mlops_pipeline.config import ConfigError, InferenceConfig, parse_config
from mlops_pipeline.contract import DataValidationError
from mlops_pipeline.data import iter_inference_chunks
from mlops_pipeline.drift import DriftAccumulator
from mlops_pipeline.registry import IntegrityError, RegistryError

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def store(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store whose digits-logreg champion was trained by the real training flow."""
    root = tmp_path_factory.mktemp("batch-store")
    state = training_pipeline(parse_config({"registry": {"root": str(root)}, "model": {"C": 0.93}}), return_state=True)
    assert state.is_completed(), state.message
    return root


def _digits_csv(path: Path, shift: float = 0.0, rows: slice = slice(None), labelled: bool = True) -> Path:
    bunch = load_digits()
    X, y = bunch.data[rows] + shift, bunch.target[rows]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(list(bunch.feature_names) + (["target"] if labelled else []))
        for features, label in zip(X, y, strict=True):
            writer.writerow([*features.tolist(), *([int(label)] if labelled else [])])
    return path


def _run(store: Path, data: Path | str, out: Path, **extra: object) -> BatchSummary:
    config = InferenceConfig(models_root=str(store), data=str(data), out=str(out), **extra)
    state = batch_inference(config, return_state=True)
    assert state.is_completed(), state.message
    return state.result()


def test_scores_a_labelled_csv_with_probabilities(store: Path, tmp_path: Path) -> None:
    data = _digits_csv(tmp_path / "digits.csv", rows=slice(0, 500))
    summary = _run(store, data, tmp_path / "out" / "predictions.csv", chunk_rows=128)

    predictions = pl.read_csv(tmp_path / "out" / "predictions.csv")
    assert predictions.height == 500 == summary.report.rows
    assert predictions.columns == ["row", "true", "prediction", *(f"proba_{c}" for c in range(10))]
    assert predictions["row"].to_list() == list(range(500))
    probabilities = predictions.select([f"proba_{c}" for c in range(10)]).to_numpy()
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert (predictions["prediction"] == predictions["true"]).mean() > 0.95
    assert summary.report.accuracy_or_r2 == pytest.approx((predictions["prediction"] == predictions["true"]).mean())
    assert summary.version == "v1" and summary.drift_detected is False
    assert sum(summary.report.class_counts.values()) == 500


def test_chunks_give_the_same_predictions_as_one_pass(store: Path, tmp_path: Path) -> None:
    data = _digits_csv(tmp_path / "digits.csv", labelled=False)
    _run(store, data, tmp_path / "small.parquet", chunk_rows=100)
    _run(store, data, tmp_path / "one.parquet", chunk_rows=10_000)
    small, one = pl.read_parquet(tmp_path / "small.parquet"), pl.read_parquet(tmp_path / "one.parquet")
    assert small.select("row", "prediction").equals(one.select("row", "prediction"))
    # float32 sums in another blocking order: equal to rounding
    assert np.allclose(small.drop("row", "prediction").to_numpy(), one.drop("row", "prediction").to_numpy(), atol=1e-6)


def test_shifted_features_are_scored_and_reported_as_drift(store: Path, tmp_path: Path) -> None:
    data = _digits_csv(tmp_path / "shifted.csv", shift=4.0, rows=slice(0, 400))
    summary = _run(store, data, tmp_path / "shifted-predictions.csv")
    assert summary.drift_detected is True
    assert len(summary.drifted_features) > 32
    assert summary.report.warnings  # values beyond the training range are reported, not silently scored
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["digits-logreg-drift"])),
            limit=1,
            sort="CREATED_DESC",
        )
    assert json.loads(artifact.data)[0]["drifted"] == "yes"


def test_out_of_range_values_can_be_refused(store: Path, tmp_path: Path) -> None:
    data = _digits_csv(tmp_path / "shifted.csv", shift=40.0, rows=slice(0, 50))
    out = tmp_path / "refused.csv"
    config = InferenceConfig(models_root=str(store), data=str(data), out=str(out), out_of_range="error")
    state = batch_inference(config, return_state=True)
    assert state.is_failed()
    assert "out of range" in str(state.result(raise_on_failure=False))
    assert not out.exists() and not list(tmp_path.glob(".refused.csv.*"))


def test_missing_column_is_named_and_nothing_is_written(store: Path, tmp_path: Path) -> None:
    data = _digits_csv(tmp_path / "digits.csv", rows=slice(0, 20))
    table = pl.read_csv(data).drop("pixel_3_4")
    table.write_csv(tmp_path / "missing.csv")
    out = tmp_path / "never.csv"
    state = batch_inference(
        InferenceConfig(models_root=str(store), data=str(tmp_path / "missing.csv"), out=str(out)), return_state=True
    )
    assert state.is_failed()
    message = str(state.result(raise_on_failure=False))
    assert "missing columns" in message and "pixel_3_4" in message and "missing.csv" in message
    assert not out.exists()


def test_tampered_int8_file_is_refused(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    import shutil

    shutil.copytree(store, copy)
    model_file = copy / "digits-logreg" / "v1" / "model.int8.npz"
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0x01
    model_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        load_scoring_model(copy, "digits-logreg")


def test_unknown_model_has_no_champion(store: Path) -> None:
    with pytest.raises(RegistryError, match="'nobody' has no champion yet"):
        load_scoring_model(store, "nobody")


def test_score_to_file_refuses_other_formats(store: Path, tmp_path: Path) -> None:
    scoring = load_scoring_model(store, "digits-logreg")
    chunks = iter_inference_chunks(str(_digits_csv(tmp_path / "d.csv", rows=slice(0, 5))), scoring.contract)
    with pytest.raises(ValueError, match=r"predictions are written as \.csv or \.parquet"):
        score_to_file(scoring.model, chunks, tmp_path / "out.json", None)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_bad_cell_in_a_later_chunk_raises_with_its_line_and_writes_nothing(
    store: Path, tmp_path: Path, suffix: str
) -> None:
    # the chunks are read ahead in a thread: its error still surfaces in order, after chunks 0-2 were written
    scoring = load_scoring_model(store, "digits-logreg")
    lines = _digits_csv(tmp_path / "d.csv", rows=slice(0, 50), labelled=False).read_text().splitlines()
    cells = lines[36].split(",")  # file line 37: row 35, in chunk 3 of 10-row chunks
    cells[5] = "oops"
    lines[36] = ",".join(cells)
    data = tmp_path / "bad.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / f"predictions{suffix}"
    chunks = iter_inference_chunks(str(data), scoring.contract, chunk_rows=10)
    with pytest.raises(DataValidationError, match=r"non-numeric values.*line 37.*oops"):
        score_to_file(scoring.model, chunks, out, DriftAccumulator(scoring.drift_reference))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "d.csv"]  # no output, no temporary file
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["--model", "m-1", "--data", "x.csv", "--out", "p.parquet"],
            {"model_name": "m-1", "data": "x.csv", "out": "p.parquet", "models_root": "models"},
        ),
        (
            ["--config", "config/diabetes.yaml", "--set", "registry.root=/s"],
            {"model_name": "diabetes-linreg", "data": "diabetes", "models_root": "/s", "out": "predictions.csv"},
        ),
        (["--reject-out-of-range", "--version", "v2"], {"out_of_range": "error", "version": "v2"}),
    ],
)
def test_command_line_options_map_onto_the_config(argv: list[str], expected: dict, monkeypatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    config = inference_config(parse_args(argv)).model_dump()
    assert {key: config[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--set", "registry.root=x"], "--set needs --config"), (["--model", "Bad Name"], "model_name")],
)
def test_bad_command_lines_are_named(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        inference_config(parse_args(argv))


def test_the_input_file_is_never_the_output(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    with pytest.raises(ValueError, match="is the input file"):
        InferenceConfig(data=str(data), out=str(tmp_path / "." / "in.csv"))
    with pytest.raises(ConfigError, match="is the input file"):
        inference_config(parse_args(["--data", str(data), "--out", str(data)]))


def test_a_header_only_file_scores_nothing_and_reports_no_drift(store: Path, tmp_path: Path) -> None:
    data = _digits_csv(tmp_path / "header.csv", rows=slice(0, 0))
    summary = _run(store, data, tmp_path / "empty.csv")
    assert summary.report.rows == 0 and summary.drift_detected is False
    assert pl.read_csv(tmp_path / "empty.csv").columns == ["row", "prediction"]
