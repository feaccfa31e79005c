"""Prefect artifacts for a run: metrics, per-class metrics, diagnostic plots, model card, training progress.

The content is built by `mlops_pipeline.reports` (plain, tested); this module is the only place those rows and
markdown become artifacts. Keys are stable per model name so the UI shows each artifact's history across runs.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from mlops_pipeline.gate import QuantizationReport
from mlops_pipeline.infer import InferenceReport
from mlops_pipeline.objectstore import is_object_url
from mlops_pipeline.plots import svg_data_uri
from mlops_pipeline.reports import (
    artifact_key,
    metrics_rows,
    model_card_markdown,
    per_class_table,
    progress_description,
    quantization_rows,
    read_plots,
    sample_prediction_rows,
    started_by,
)


def deployment_id() -> str | None:
    """The id of the deployment the current flow run belongs to (None outside a deployment), as prefect.runtime's.

    Prefect 3.8's `prefect.runtime.deployment.id` reads the flow run from the API whenever it is not part of a
    deployment (it looks for the id on the context instead of on the context's flow run), one round trip per
    call; a top-level run outside a deployment says so itself. Subflows and runs without a context still ask.
    """
    from prefect.context import FlowRunContext
    from prefect.runtime import deployment

    context = FlowRunContext.get()
    run = context.flow_run if context else None
    if run is not None and run.deployment_id is None and run.parent_task_run_id is None:
        return None
    return deployment.get_id()


def run_context() -> dict[str, Any]:
    """Which Prefect run (and deployment, if any) produced a model, and what started it: lineage for the card."""
    from prefect.context import FlowRunContext
    from prefect.runtime import deployment, flow_run
    from prefect.utilities.urls import url_for

    context = FlowRunContext.get()
    run = context.flow_run if context else None
    creator = run.created_by if run else None

    scheduled = flow_run.scheduled_start_time
    run_id = flow_run.id
    deployment_run = deployment_id()
    return {
        "flow_run_id": run_id,
        "flow_run_name": flow_run.name,
        # url_for knows the UI's routes (prefect.runtime's ui_url points at a path the UI does not serve)
        "flow_run_url": url_for("flow-run", obj_id=run_id) if run_id else None,
        "deployment": deployment.name if deployment_run is not None else None,
        "deployment_id": deployment_run,
        "scheduled_start": scheduled.isoformat() if scheduled else None,
        "started_by": started_by(
            bool(run and run.auto_scheduled),
            creator.type if creator else None,
            creator.display_value if creator else None,
        ),
        "tags": sorted(flow_run.tags or []),
        # where it ran: with several workers, which host and which checkout trained this model
        "host": socket.gethostname(),
        "working_directory": os.getcwd(),
    }


class CandidateProgress:
    """A progress artifact that fills as candidates finish training (call inside a flow or task run)."""

    def __init__(self, model_name: str, total: int):
        if total < 1:
            raise ValueError(f"{model_name}: need at least one candidate to track, got {total}")
        self.total = total
        self.done = 0
        self.artifact_id: UUID = create_progress_artifact(  # type: ignore[assignment]  # sync in a sync flow
            progress=0.0,
            key=artifact_key(model_name, "training-progress"),
            description=f"{model_name}: " + progress_description(0, total, None),
        )
        self.model_name = model_name

    def finished(self, candidate: str) -> None:
        """Record one more trained candidate."""
        self.done = min(self.done + 1, self.total)
        update_progress_artifact(
            self.artifact_id,
            progress=100.0 * self.done / self.total,
            description=f"{self.model_name}: " + progress_description(self.done, self.total, candidate),
        )


def publish_run_artifacts(card: dict[str, Any], folder: str | Path, plots: dict[str, bytes] | None = None) -> None:
    """Create the run's artifacts (must be called inside a flow or task run). `folder` is the version's folder or
    object-store URL; `plots` (file name -> bytes) default to the plot files read from a local folder."""
    name = card["model_name"]
    label = f"{name} {card.get('version', '')}"
    if plots is None:
        plots = read_plots(card, Path(folder))
    diagnostics = card.get("diagnostics") or {}
    create_table_artifact(
        key=artifact_key(name, "metrics"),
        table=metrics_rows(card),
        description=f"{label}: held-out metrics, float vs int8 vs champion",
    )
    if "per_class" in diagnostics:
        create_table_artifact(
            key=artifact_key(name, "per-class-metrics"),
            table=per_class_table(diagnostics["per_class"]),
            description=f"{label}: precision, recall, F1 and support per class (held-out split)",
        )
    for caption, filename in diagnostics.get("plots", {}).items():
        if filename in plots:
            create_markdown_artifact(
                key=artifact_key(name, caption),
                markdown=f"![{caption}]({svg_data_uri(plots[filename])})\n\nFile: `{folder}/{filename}`\n",
                description=f"{label}: {caption} (held-out split)",
            )
    create_markdown_artifact(
        key=artifact_key(name, "model-card"),
        markdown=model_card_markdown(card, folder, plots),
        description=f"{label} model card ({card['status']})",
    )
    create_link_artifact(
        key=artifact_key(name, "model-files"),
        link=str(folder) if is_object_url(str(folder)) else Path(folder).resolve().as_uri(),
        link_text=f"{label} ({card['status']})",
        description="Folder of the stored model version",
    )


def publish_quantization_artifacts(
    model_name: str,
    version: str,
    report: QuantizationReport | None,
    inference: InferenceReport | None,
    problem: str,
) -> None:
    """The float-vs-int8 table and the sample-predictions table (inside a flow or task run); absent parts skip."""
    if report is not None:
        create_table_artifact(
            key=artifact_key(model_name, "quantization"),
            table=quantization_rows(report),
            description=f"{model_name} {version}: float vs int8 on the held-out split (quantization gate "
            f"{'passed' if report.passed else 'failed'})",
        )
    if inference is not None:
        create_table_artifact(
            key=artifact_key(model_name, "sample-predictions"),
            table=sample_prediction_rows(inference, problem),
            description=f"{model_name} {version}: first held-out rows, float vs int8 "
            f"({inference.agreement_with_float:.2%} of {inference.n_rows} rows agree, "
            f"{inference.rows_per_second:,.0f} rows/s)",
        )
