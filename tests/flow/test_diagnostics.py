"""Diagnostics, plots, the model card's new sections and the training progress artifact."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlops_pipeline.tasks.artifacts import CandidateProgress
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from mlops_pipeline.plots import confusion_matrix_svg, residual_plot_svg, svg_data_uri
from mlops_pipeline.reports import (
    CONFUSION_MATRIX_FILE,
    RESIDUALS_FILE,
    diagnose,
    model_card_markdown,
    per_class_rows,
    progress_description,
    read_plots,
    started_by,
)

SVG = "{http://www.w3.org/2000/svg}"


def svg_elements(svg: str | bytes, tag: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(f".//{SVG}{tag}")  # also proves the SVG is well-formed XML


@pytest.mark.parametrize(
    ("y_true", "y_pred", "expected"),
    [
        # class 0: 1 of 1 predicted right, 1 of 2 actual found; class 1: 2 of 3 predicted right, 2 of 2 found
        (
            [0, 0, 1, 1],
            [0, 1, 1, 1],
            [
                {"class": 0, "precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
                {"class": 1, "precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2},
            ],
        ),
        # a class that is only ever predicted has support 0 and no division warning
        (
            ["a", "a"],
            ["a", "b"],
            [
                {"class": "a", "precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
                {"class": "b", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
            ],
        ),
    ],
)
def test_per_class_rows(y_true: list[Any], y_pred: list[Any], expected: list[dict[str, Any]]) -> None:
    assert per_class_rows(np.array(y_true), np.array(y_pred)) == expected


def test_diagnose_classification_counts_every_row_and_draws_the_matrix() -> None:
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 2, 0])

    result = diagnose("classification", y_true, y_pred, "toy")

    assert result.summary["confusion_matrix"] == {"labels": [0, 1, 2], "counts": [[1, 1, 0], [0, 1, 0], [1, 0, 2]]}
    assert [row["support"] for row in result.summary["per_class"]] == [2, 1, 3]
    assert result.summary["plots"] == {"confusion matrix": CONFUSION_MATRIX_FILE}
    svg = result.files[CONFUSION_MATRIX_FILE]
    cells = [e for e in svg_elements(svg, "rect") if e.get("stroke")]
    assert len(cells) == 9
    assert sorted(e.text for e in svg_elements(svg, "text") if e.get("fill") in ("black", "white")) == [
        "1",
        "1",
        "1",
        "1",
        "2",
    ]  # the non-zero cells


def test_diagnose_regression_summarises_residuals_and_plots_each_point() -> None:
    y_true = np.array([1.0, 2.0, 3.0])
    y_pred = np.array([1.0, 1.0, 5.0])  # residuals 0, 1, -2

    result = diagnose("regression", y_true, y_pred, "toy")

    assert result.summary["residuals"] == {"mean": -0.3333, "std": 1.2472, "mae": 1.0, "max_abs": 2.0}
    assert len(svg_elements(result.files[RESIDUALS_FILE], "circle")) == 3


def test_diagnose_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 50)
    assert diagnose("classification", y, y[::-1], "x") == diagnose("classification", y, y[::-1], "x")


def test_diagnose_rejects_mismatched_predictions() -> None:
    with pytest.raises(ValueError, match=r"y_true has shape \(3,\) but y_pred has \(2,\)"):
        diagnose("regression", np.zeros(3), np.zeros(2), "toy")


def test_confusion_matrix_svg_rejects_a_matrix_that_does_not_fit_the_labels() -> None:
    with pytest.raises(ValueError, match=r"confusion matrix is \(2, 2\), expected \(3, 3\)"):
        confusion_matrix_svg([[1, 0], [0, 1]], [0, 1, 2], "toy")


def test_residual_plot_svg_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="equal-length 1-D arrays"):
        residual_plot_svg(np.array([]), np.array([]), "toy")


def test_plot_text_is_escaped() -> None:
    svg = confusion_matrix_svg([[1]], ["<a&b>"], "model <1>")
    assert [e.text for e in svg_elements(svg, "title")] == ["model <1>"]
    assert "<a&b>" in [e.text for e in svg_elements(svg, "text")]


def test_svg_data_uri_round_trips() -> None:
    uri = svg_data_uri("<svg/>")
    prefix = "data:image/svg+xml;base64,"
    assert uri.startswith(prefix) and base64.b64decode(uri[len(prefix) :]) == b"<svg/>"


@pytest.mark.parametrize(
    ("auto_scheduled", "creator_type", "creator_name", "expected"),
    [
        (True, None, None, "schedule"),
        (False, "AUTOMATION", "retrain-on-drift", "automation retrain-on-drift"),
        (False, None, None, "a manual run (UI, CLI or API)"),
    ],
)
def test_started_by(auto_scheduled: bool, creator_type: str | None, creator_name: str | None, expected: str) -> None:
    assert started_by(auto_scheduled, creator_type, creator_name) == expected


@pytest.mark.parametrize(
    ("done", "total", "last", "expected"),
    [(0, 3, None, "0 of 3 candidate(s) trained"), (2, 3, "ridge", "2 of 3 candidate(s) trained; last: ridge")],
)
def test_progress_description(done: int, total: int, last: str | None, expected: str) -> None:
    assert progress_description(done, total, last) == expected


def card_fixture(**extra: Any) -> dict[str, Any]:
    return {
        "model_name": "toy",
        "version": "v2",
        "status": "champion",
        "reason": "passed",
        "metrics": {"accuracy": 0.9},
        "int8_metrics": {},
        "champion_metrics": {"accuracy": 0.88},
        "gate": {"passed": True, "champion_version": "v1", "checks": []},
        "quantization": None,
        "config": {"gate": {"min_metrics": {}, "max_metrics": {}}, "data": {"seed": 7}},
        "data": {"source": "builtin:digits", "fingerprint": "f" * 64, "n_train": 8, "n_test": 2},
        "code_version": "abc123",
        "flow_run_id": "run-1",
        "files": {},
        **extra,
    }


def test_model_card_embeds_plots_and_states_lineage(tmp_path: Path) -> None:
    result = diagnose("classification", np.array([0, 1]), np.array([0, 1]), "toy")
    stored = json.loads(json.dumps(result.summary, sort_keys=True))  # as card.json keeps it
    card = card_fixture(
        diagnostics=stored,
        run={
            "flow_run_name": "brave-fox",
            "flow_run_url": "http://ui/runs/flow-run/run-1",
            "deployment": "digits-retrain",
            "scheduled_start": "2026-01-01T03:00:00+00:00",
            "started_by": "schedule",
        },
    )

    markdown = model_card_markdown(card, tmp_path, result.files)

    assert svg_data_uri(result.files[CONFUSION_MATRIX_FILE]) in markdown
    assert f"`{tmp_path / CONFUSION_MATRIX_FILE}`" in markdown
    assert "| class | precision | recall | f1 | support |" in markdown
    assert "fingerprint `" + "f" * 64 + "`" in markdown
    assert "compared against champion: v1 (accuracy 0.8800" in markdown
    assert "[open in Prefect](http://ui/runs/flow-run/run-1)" in markdown
    assert "deployment `digits-retrain` — schedule for 2026-01-01T03:00:00+00:00" in markdown


def test_model_card_without_diagnostics_or_run_context_still_renders(tmp_path: Path) -> None:
    markdown = model_card_markdown(
        card_fixture(gate={"passed": True, "champion_version": None, "checks": []}), tmp_path
    )
    assert "## Diagnostics" not in markdown
    assert "started by a direct flow call" in markdown
    assert "compared against champion: none (first model of this name)" in markdown


def test_read_plots_skips_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / RESIDUALS_FILE).write_bytes(b"<svg/>")
    card = {"diagnostics": {"plots": {"residuals": RESIDUALS_FILE, "other": "gone.svg"}}}
    assert read_plots(card, tmp_path) == {RESIDUALS_FILE: b"<svg/>"}


def test_candidate_progress_needs_a_candidate() -> None:
    with pytest.raises(ValueError, match="toy: need at least one candidate"):
        CandidateProgress("toy", 0)


def test_candidate_progress_fills_to_100_percent(prefect_harness: Path) -> None:
    @flow
    def train_three() -> str:
        progress = CandidateProgress("toy-model", 3)
        for name in ("a", "b", "c"):
            progress.finished(name)
        return str(progress.artifact_id)

    artifact_id = train_three()

    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["toy-model-training-progress"]))
        )
    assert str(artifact.id) == artifact_id
    assert artifact.type == "progress" and artifact.data == 100.0
    assert artifact.description == "toy-model: 3 of 3 candidate(s) trained; last: c"
