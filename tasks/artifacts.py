"""Prefect artifacts for a run: metrics table, markdown model card, link to the model folder.

Building the content is plain and tested; `publish_*` functions are the only place artifacts are created.
Keys are stable per model name so the Prefect UI shows each artifact's history across runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

if TYPE_CHECKING:
    from tasks.infer import InferenceReport
    from tasks.quantize import QuantizationReport


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
        rows.append({
            "metric": name,
            "float": round(value, 4),
            "int8": round(int8[name], 4) if name in int8 else None,
            "champion": round(champion[name], 4) if name in champion else None,
            "gate bound": bound_text,
        })
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_none_\n"
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join("" if r[h] is None else str(r[h]) for h in headers) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def model_card_markdown(card: dict[str, Any], folder: Path) -> str:
    """A human-readable model card with metrics, gate verdict, quantization and lineage."""
    status = card["status"]
    header = f"# {card['model_name']} {card.get('version', '')} — {status}\n\n"
    verdict = "\n".join(f"- {'✅' if c['passed'] else '❌'} {c['name']}: {c['measured']:.4f} {c['operator']} "
                        f"{c['bound']:.4f}" for c in card["gate"]["checks"]) or "- no checks configured"
    quant = card.get("quantization") or {}
    quant_text = (
        f"int8 file {quant['int8_bytes']:,} bytes vs float {quant['float_bytes']:,} bytes "
        f"({quant['float_bytes'] / max(quant['int8_bytes'], 1):.1f}x smaller); "
        f"{quant['metric_name']} {quant['float_metric']:.4f} -> {quant['int8_metric']:.4f}; "
        f"prediction agreement {quant['agreement']:.2%}\n" if quant else "not quantized\n"
    )
    files = "\n".join(f"- `{name}` — {entry['bytes']:,} bytes, sha256 `{entry['sha256'][:16]}…`"
                      for name, entry in card.get("files", {}).items())
    return (
        header
        + (f"**Why:** {card['reason']}\n\n" if card.get("reason") else "")
        + "## Metrics (held-out split)\n\n" + _table(metrics_rows(card))
        + "\n## Test-gate\n\n" + verdict + "\n"
        + f"\nCompared against champion: {card['gate'].get('champion_version') or 'none (first model)'}\n"
        + "\n## Quantization\n\n" + quant_text
        + "\n## Lineage\n\n"
        + f"- data: `{card['data']['source']}`, {card['data']['n_train']} train / {card['data']['n_test']} "
          f"test rows, fingerprint `{card['data']['fingerprint'][:16]}…`\n"
        + f"- code version `{card['code_version']}`, flow run `{card.get('flow_run_id')}`\n"
        + f"- model folder: `{folder}`\n"
        + (files + "\n" if files else "")
        + "\n## Config\n\n```json\n" + json.dumps(card["config"], indent=2) + "\n```\n"
    )


def publish_run_artifacts(card: dict[str, Any], folder: Path) -> None:
    """Create the run's artifacts (must be called inside a flow or task run)."""
    name = card["model_name"]
    create_table_artifact(
        key=artifact_key(name, "metrics"), table=metrics_rows(card),
        description=f"{name} {card.get('version', '')}: held-out metrics, float vs int8 vs champion",
    )
    create_markdown_artifact(
        key=artifact_key(name, "model-card"), markdown=model_card_markdown(card, folder),
        description=f"{name} {card.get('version', '')} model card ({card['status']})",
    )
    create_link_artifact(
        key=artifact_key(name, "model-files"), link=folder.resolve().as_uri(),
        link_text=f"{name} {card.get('version', '')} ({card['status']})",
        description="Folder of the stored model version",
    )


def quantization_rows(report: QuantizationReport) -> list[dict[str, Any]]:
    """Float vs int8 on the held-out split, one quantity per row: file bytes, metric, agreement, max |Δ output|."""
    verdict = "passed" if report.passed else "FAILED"
    return [
        {"quantity": "file bytes", "float": report.float_bytes, "int8": report.int8_bytes,
         "note": f"{report.float_bytes / max(report.int8_bytes, 1):.1f}x smaller"},
        {"quantity": f"{report.metric_name} ({report.n_test_rows} held-out rows)",
         "float": round(report.float_metric, 4), "int8": round(report.int8_metric, 4),
         "note": f"drop {report.metric_drop:.4f}, allowed {report.max_metric_drop}: {verdict}"},
        {"quantity": "prediction agreement", "float": None, "int8": f"{report.agreement:.2%}",
         "note": "same class" if report.metric_name == "accuracy" else "within 1% of the target's std"},
        {"quantity": f"max |Δ output| ({report.output_compared})", "float": None,
         "int8": float(f"{report.max_abs_output_delta:.4g}"), "note": "largest int8 - float difference, any row"},
    ]


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def sample_prediction_rows(inference: InferenceReport, task_kind: str) -> list[dict[str, Any]]:
    """The first held-out rows: true value, float prediction, int8 prediction, and whether they agree."""
    rows = []
    for entry in inference.sample:
        row = {key: _rounded(entry[key]) for key in ("row", "true", "float", "int8")}
        if task_kind == "classification":
            row["int8 = float"] = "yes" if entry["int8"] == entry["float"] else "no"
        else:
            row["|int8 - float|"] = float(f"{abs(entry['int8'] - entry['float']):.3g}")
        rows.append(row)
    return rows


def publish_quantization_artifacts(
    model_name: str, version: str, report: QuantizationReport | None, inference: InferenceReport | None,
    task_kind: str,
) -> None:
    """The float-vs-int8 table and the sample-predictions table (inside a flow or task run); absent parts skip."""
    if report is not None:
        create_table_artifact(
            key=artifact_key(model_name, "quantization"), table=quantization_rows(report),
            description=f"{model_name} {version}: float vs int8 on the held-out split (quantization gate "
                        f"{'passed' if report.passed else 'failed'})",
        )
    if inference is not None:
        create_table_artifact(
            key=artifact_key(model_name, "sample-predictions"),
            table=sample_prediction_rows(inference, task_kind),
            description=f"{model_name} {version}: first held-out rows, float vs int8 "
                        f"({inference.agreement_with_float:.2%} of {inference.n_rows} rows agree, "
                        f"{inference.rows_per_second:,.0f} rows/s)",
        )
