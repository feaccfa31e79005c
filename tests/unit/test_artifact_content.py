"""Artifact content is built by plain functions; keys follow Prefect's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_pipeline.config import PipelineConfig
from mlops_pipeline.reports import artifact_key, metrics_rows, model_card_markdown


@pytest.mark.parametrize(
    ("model_name", "kind", "key"),
    [
        ("digits-logreg", "metrics", "digits-logreg-metrics"),
        ("Digits_LogReg", "model card", "digits-logreg-model-card"),
        ("a--b", "x", "a-b-x"),
    ],
)
def test_artifact_keys_use_lowercase_digits_and_dashes(model_name: str, kind: str, key: str) -> None:
    assert artifact_key(model_name, kind) == key


def _card() -> dict:
    return {
        "model_name": "digits-logreg",
        "version": "v3",
        "status": "champion",
        "reason": "passed",
        "metrics": {"accuracy": 0.97222, "macro_f1": 0.9719},
        "int8_metrics": {"accuracy": 0.975},
        "champion_metrics": {"accuracy": 0.96},
        "config": PipelineConfig().model_dump(mode="json"),
        "gate": {
            "champion_version": "v2",
            "checks": [
                {"name": "accuracy >= min", "measured": 0.9722, "bound": 0.95, "operator": ">=", "passed": True}
            ],
        },
        "quantization": {
            "int8_bytes": 2000,
            "float_bytes": 8000,
            "metric_name": "accuracy",
            "float_metric": 0.9722,
            "int8_metric": 0.975,
            "agreement": 0.99,
        },
        "data": {"source": "builtin:digits", "n_train": 1437, "n_test": 360, "fingerprint": "ab" * 32},
        "code_version": "0123456789ab",
        "flow_run_id": "run-1",
        "files": {"model.joblib": {"sha256": "cd" * 32, "bytes": 8000}},
    }


def test_metrics_rows_put_float_int8_champion_and_bound_side_by_side() -> None:
    assert metrics_rows(_card()) == [
        {"metric": "accuracy", "float": 0.9722, "int8": 0.975, "champion": 0.96, "gate bound": ">= 0.95"},
        {"metric": "macro_f1", "float": 0.9719, "int8": None, "champion": None, "gate bound": ">= 0.95"},
    ]


def test_model_card_has_gate_quantization_and_lineage() -> None:
    markdown = model_card_markdown(_card(), Path("/m/digits-logreg/v3"))
    assert markdown.startswith("# digits-logreg v3 — champion")
    assert "✅ accuracy >= min: 0.9722 >= 0.9500" in markdown
    assert "Compared against champion: v2" in markdown
    assert "(4.0x smaller)" in markdown
    assert "code version `0123456789ab`" in markdown and "(`run-1`)" in markdown
    assert "compared against champion: v2 (accuracy 0.9600" in markdown
    assert "`/m/digits-logreg/v3`" in markdown


def test_model_card_lists_features_by_type_with_category_counts_and_dropped_columns() -> None:
    from mlops_pipeline.features import ColumnSpec, DroppedColumn
    from mlops_pipeline.reports import columns_card

    columns = [
        ColumnSpec("bill_length_mm", "numeric"),
        ColumnSpec("island", "categorical", categories=("Biscoe", "Dream", "Torgersen")),
        ColumnSpec("sex", "categorical", categories=("male", "female")),
        ColumnSpec("member", "boolean"),
        ColumnSpec("Year", "datetime"),
        ColumnSpec("day", "datetime", date_format="%d.%m.%Y", has_time=False),
    ]
    recorded = columns_card(columns, [DroppedColumn("Name", "identifier: 301 distinct values in 406 rows")])
    assert recorded["categorical"] == [{"name": "island", "categories": 3}, {"name": "sex", "categories": 2}]
    assert recorded["numeric"] == ["bill_length_mm"] and recorded["boolean"] == ["member"]
    card = _card()
    card["data"]["columns"] = recorded
    markdown = model_card_markdown(card, Path("/m/penguins/v1"))
    features = markdown[markdown.index("## Features") :].split("\n## ")[0]
    assert "| numeric | 1 | `bill_length_mm` |" in features
    assert "| categorical | 2 | `island` (3 categories), `sex` (2 categories) |" in features
    assert "| datetime | 2 | `Year` (date, ISO 8601), `day` (date, %d.%m.%Y) |" in features
    assert "| dropped | 1 | `Name`: identifier: 301 distinct values in 406 rows |" in features
    assert "| boolean | 1 | `member` |" in features


def test_a_card_without_column_types_has_no_features_section() -> None:
    assert "## Features" not in model_card_markdown(_card(), Path("/m/digits-logreg/v3"))
