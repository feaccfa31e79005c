"""Prefect artifacts for a run: metrics, per-class metrics, diagnostic plots, model card, training progress.

Building the content is plain and tested; `publish_*` functions and `CandidateProgress` are the only places
artifacts are created. Keys are stable per model name so the Prefect UI shows each artifact's history across runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from mlops_pipeline.config import ProblemKind
from mlops_pipeline.features import ColumnSpec, DroppedColumn
from mlops_pipeline.plots import confusion_matrix_svg, residual_plot_svg, svg_data_uri

CONFUSION_MATRIX_FILE = "confusion_matrix.svg"
RESIDUALS_FILE = "residuals.svg"
PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")

if TYPE_CHECKING:
    from mlops_pipeline.gate import QuantizationReport
    from mlops_pipeline.importance import FeatureImportance
    from mlops_pipeline.infer import InferenceReport


def artifact_key(model_name: str, kind: str) -> str:
    """Artifact keys may hold lowercase letters, digits and dashes only."""
    key = re.sub(r"[^a-z0-9-]+", "-", f"{model_name}-{kind}".lower()).strip("-")
    return re.sub(r"-{2,}", "-", key)


def metrics_rows(card: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric: candidate float, int8, champion and gate bound side by side."""
    metrics: dict[str, float] = card["metrics"]
    int8: dict[str, float] = card.get("int8_metrics") or {}
    champion: dict[str, float] = card.get("champion_metrics") or {}
    gate = card["config"]["gate"]
    rows = []
    for name, value in metrics.items():
        bound = gate["min_metrics"].get(name)
        bound_text = f">= {bound}" if bound is not None else ""
        if name in gate["max_metrics"]:
            bound_text = f"<= {gate['max_metrics'][name]}"
        rows.append(
            {
                "metric": name,
                "float": round(value, 4),
                "int8": round(int8[name], 4) if name in int8 else None,
                "champion": round(champion[name], 4) if name in champion else None,
                "gate bound": bound_text,
            }
        )
    return rows


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def per_class_rows(y_true: np.ndarray, y_pred: np.ndarray) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support per class (classes seen in either array), rounded for display."""
    labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return [
        dict(
            zip(
                PER_CLASS_COLUMNS,
                (_plain(label), round(float(p), 4), round(float(r), 4), round(float(f), 4), int(n)),
                strict=True,
            )
        )
        for label, p, r, f, n in zip(labels, precision, recall, f1, support, strict=True)
    ]


def per_class_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-class rows in display column order (card.json stores them with sorted keys)."""
    return [{column: row[column] for column in PER_CLASS_COLUMNS} for row in rows]


@dataclass(frozen=True)
class Diagnostics:
    """What a candidate gets wrong, on the held-out split: numbers for the card, plots for the model folder."""

    summary: dict[str, Any]  # JSON-ready; stored as card["diagnostics"]
    files: dict[str, bytes]  # file name -> bytes, stored beside the model


def diagnose(problem: ProblemKind, y_true: np.ndarray, y_pred: np.ndarray, title: str) -> Diagnostics:
    """Per-class metrics and a confusion matrix (classification) or residual statistics and plot (regression)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    if problem == "classification":
        labels = np.unique(np.concatenate([y_true, y_pred]))
        counts = confusion_matrix(y_true, y_pred, labels=labels)
        svg = confusion_matrix_svg(counts, [_plain(v) for v in labels], f"{title}: confusion matrix")
        return Diagnostics(
            summary={
                "per_class": per_class_rows(y_true, y_pred),
                "confusion_matrix": {"labels": [_plain(v) for v in labels], "counts": counts.tolist()},
                "plots": {"confusion matrix": CONFUSION_MATRIX_FILE},
            },
            files={CONFUSION_MATRIX_FILE: svg.encode()},
        )
    residuals = y_true.astype(np.float64) - y_pred.astype(np.float64)
    svg = residual_plot_svg(y_true, y_pred, f"{title}: residuals")
    return Diagnostics(
        summary={
            "residuals": {
                "mean": round(float(residuals.mean()), 4),
                "std": round(float(residuals.std()), 4),
                "mae": round(float(np.abs(residuals).mean()), 4),
                "max_abs": round(float(np.abs(residuals).max()), 4),
            },
            "plots": {"residuals": RESIDUALS_FILE},
        },
        files={RESIDUALS_FILE: svg.encode()},
    )


def started_by(auto_scheduled: bool, creator_type: str | None, creator_name: str | None) -> str:
    """How a flow run came about, in words: its schedule, an automation (e.g. a drift event), or by hand."""
    if auto_scheduled:
        return "schedule"
    if creator_type == "AUTOMATION":
        return f"automation {creator_name or ''}".strip()
    return "a manual run (UI, CLI or API)"


def progress_description(done: int, total: int, last: str | None) -> str:
    text = f"{done} of {total} candidate(s) trained"
    return f"{text}; last: {last}" if last else text


def with_importance(diagnostics: Diagnostics, importance: FeatureImportance) -> Diagnostics:
    """The diagnostics with the feature importance table added to the card's summary."""
    return Diagnostics({**diagnostics.summary, "feature_importance": importance.summary()}, diagnostics.files)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows of a table artifact as a markdown table (headers from the first row)."""
    if not rows:
        return "_none_\n"
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join("" if r[h] is None else str(r[h]) for h in headers) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def columns_card(columns: Sequence[ColumnSpec], dropped: Sequence[DroppedColumn]) -> dict[str, Any]:
    """The card's record of the features by kind (categories counted, dates with their format) and of the columns
    left out, with why."""
    by_kind: dict[str, list[Any]] = {"numeric": [], "boolean": [], "categorical": [], "datetime": []}
    for spec in columns:
        if spec.kind == "categorical":
            by_kind["categorical"].append({"name": spec.name, "categories": len(spec.categories or ())})
        elif spec.kind == "datetime":
            written = spec.date_format or "ISO 8601"
            by_kind["datetime"].append({"name": spec.name, "format": written, "has_time": spec.has_time})
        else:
            by_kind[spec.kind].append(spec.name)
    return {**by_kind, "dropped": [{"name": d.name, "reason": d.reason} for d in dropped]}


def _listed(items: Sequence[str], limit: int = 16) -> str:
    return ", ".join(items[:limit]) + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def features_rows(columns: dict[str, Any]) -> list[dict[str, Any]]:
    """The model card's feature table: one row per column kind with a non-empty list, then the dropped columns."""
    described = {
        "numeric": [f"`{name}`" for name in columns.get("numeric", [])],
        "boolean": [f"`{name}`" for name in columns.get("boolean", [])],
        "categorical": [
            f"`{c['name']}` ({c['categories']} categor{'y' if c['categories'] == 1 else 'ies'})"
            for c in columns.get("categorical", [])
        ],
        "datetime": [
            f"`{d['name']}` ({'date and time' if d.get('has_time') else 'date'}, {d['format']})"
            for d in columns.get("datetime", [])
        ],
        "dropped": [f"`{d['name']}`: {d['reason']}" for d in columns.get("dropped", [])],
    }
    return [
        {"kind": kind, "count": len(items), "columns": _listed(items)} for kind, items in described.items() if items
    ]


def _features_markdown(card: dict[str, Any]) -> str:
    columns = (card.get("data") or {}).get("columns")
    if not columns:
        return ""
    return "\n## Features\n\n" + markdown_table(features_rows(columns))


def _diagnostics_markdown(card: dict[str, Any], folder: str | Path, plots: dict[str, bytes]) -> str:
    diagnostics = card.get("diagnostics") or {}
    if not diagnostics:
        return ""
    text = "\n## Diagnostics (held-out split)\n\n"
    if "per_class" in diagnostics:
        text += "Per class:\n\n" + markdown_table(per_class_table(diagnostics["per_class"]))
    if "residuals" in diagnostics:
        text += (
            "Residuals (true - predicted): " + ", ".join(f"{k} {v}" for k, v in diagnostics["residuals"].items()) + "\n"
        )
    if "feature_importance" in diagnostics:
        importance = diagnostics["feature_importance"]
        text += (
            f"\nPermutation importance (drop of {importance['metric']} when a column is shuffled; top 10):\n\n"
            + markdown_table(importance["rows"][:10])
        )
    for caption, filename in diagnostics.get("plots", {}).items():
        text += f"\n**{caption.capitalize()}** — file `{folder}/{filename}`\n\n"
        if filename in plots:
            text += f"![{caption}]({svg_data_uri(plots[filename])})\n"
    return text


def _lineage_markdown(card: dict[str, Any], folder: str | Path) -> str:
    run = card.get("run") or {}
    data = card["data"]
    champion = card["gate"].get("champion_version")
    champion_metrics = card.get("champion_metrics") or {}
    compared = (
        (
            f"{champion} ({', '.join(f'{k} {v:.4f}' for k, v in champion_metrics.items())}, "
            "scored on the same held-out rows)"
        )
        if champion
        else "none (first model of this name)"
    )
    run_line = f"- flow run `{run.get('flow_run_name') or '?'}` (`{card.get('flow_run_id')}`)"
    if run.get("flow_run_url"):
        run_line += f" — [open in Prefect]({run['flow_run_url']})"
    origin = f"deployment `{run['deployment']}`" if run.get("deployment") else "a direct flow call"
    if run.get("deployment") and run.get("started_by"):
        origin += f" — {run['started_by']}"
        if run["started_by"] == "schedule" and run.get("scheduled_start"):
            origin += f" for {run['scheduled_start']}"
    files = "\n".join(
        f"  - `{name}` — {entry['bytes']:,} bytes, sha256 `{entry['sha256'][:16]}…`"
        for name, entry in card.get("files", {}).items()
    )
    return (
        "\n## Lineage\n\n" + f"- data: `{data['source']}`, {data['n_train']} train / {data['n_test']} test rows, "
        f"fingerprint `{data['fingerprint']}`\n"
        + f"- config: in full below (seed {card['config']['data']['seed']})\n"
        + f"- code version `{card['code_version']}` (sha256 of `tasks/` + `flows/` and the model libraries)\n"
        + run_line
        + "\n"
        + f"- started by {origin}\n"
        + f"- compared against champion: {compared}\n"
        + f"- files: `{folder}`\n"
        + (files + "\n" if files else "")
    )


def model_card_markdown(card: dict[str, Any], folder: str | Path, plots: dict[str, bytes] | None = None) -> str:
    """A human-readable model card: metrics, gate verdict, quantization, diagnostics (with plots), lineage.

    `plots` (file name -> bytes, usually read from the model folder) are embedded as images.
    """
    status = card["status"]
    header = f"# {card['model_name']} {card.get('version', '')} — {status}\n\n"
    verdict = (
        "\n".join(
            f"- {'✅' if c['passed'] else '❌'} {c['name']}: {c['measured']:.4f} {c['operator']} {c['bound']:.4f}"
            for c in card["gate"]["checks"]
        )
        or "- no checks configured"
    )
    quant = card.get("quantization") or {}
    quant_text = (
        f"int8 file {quant['int8_bytes']:,} bytes vs float {quant['float_bytes']:,} bytes "
        f"({quant['float_bytes'] / max(quant['int8_bytes'], 1):.1f}x smaller); "
        f"{quant['metric_name']} {quant['float_metric']:.4f} -> {quant['int8_metric']:.4f}; "
        f"prediction agreement {quant['agreement']:.2%}\n"
        if quant
        else "not quantized\n"
    )
    return (
        header
        + (f"**Why:** {card['reason']}\n\n" if card.get("reason") else "")
        + "## Metrics (held-out split)\n\n"
        + markdown_table(metrics_rows(card))
        + "\n## Test-gate\n\n"
        + verdict
        + "\n"
        + f"\nCompared against champion: {card['gate'].get('champion_version') or 'none (first model)'}\n"
        + "\n## Quantization\n\n"
        + quant_text
        + _features_markdown(card)
        + _diagnostics_markdown(card, folder, plots or {})
        + _lineage_markdown(card, folder)
        + "\n## Config\n\n```json\n"
        + json.dumps(card["config"], indent=2)
        + "\n```\n"
    )


def read_plots(card: dict[str, Any], folder: Path) -> dict[str, bytes]:
    """The card's plot files from the model folder (missing ones are skipped: the card still renders)."""
    plots = {}
    for filename in (card.get("diagnostics") or {}).get("plots", {}).values():
        path = folder / filename
        if path.is_file():
            plots[filename] = path.read_bytes()
    return plots


def quantization_rows(report: QuantizationReport) -> list[dict[str, Any]]:
    """Float vs int8 on the held-out split, one quantity per row: file bytes, metric, agreement, max |Δ output|."""
    verdict = "passed" if report.passed else "FAILED"
    return [
        {
            "quantity": "file bytes",
            "float": report.float_bytes,
            "int8": report.int8_bytes,
            "note": f"{report.float_bytes / max(report.int8_bytes, 1):.1f}x smaller",
        },
        {
            "quantity": f"{report.metric_name} ({report.n_test_rows} held-out rows)",
            "float": round(report.float_metric, 4),
            "int8": round(report.int8_metric, 4),
            "note": f"drop {report.metric_drop:.4f}, allowed {report.max_metric_drop}: {verdict}",
        },
        {
            "quantity": "prediction agreement",
            "float": None,
            "int8": f"{report.agreement:.2%}",
            "note": "same class" if report.metric_name == "accuracy" else "within 1% of the target's std",
        },
        {
            "quantity": f"max |Δ output| ({report.output_compared})",
            "float": None,
            "int8": float(f"{report.max_abs_output_delta:.4g}"),
            "note": "largest int8 - float difference, any row",
        },
    ]


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def sample_prediction_rows(inference: InferenceReport, problem: str) -> list[dict[str, Any]]:
    """The first held-out rows: true value, float prediction, int8 prediction, and whether they agree."""
    rows = []
    for entry in inference.sample:
        row = {key: _rounded(entry[key]) for key in ("row", "true", "float", "int8")}
        if problem == "classification":
            row["int8 = float"] = "yes" if entry["int8"] == entry["float"] else "no"
        else:
            row["|int8 - float|"] = float(f"{abs(entry['int8'] - entry['float']):.3g}")
        rows.append(row)
    return rows
