"""The `commit` task: store the version (promoted only if every step passed) and publish the run's artifacts."""

from __future__ import annotations

from typing import Any

from mlops_pipeline.tasks.artifacts import publish_quantization_artifacts, publish_run_artifacts
from mlops_pipeline.tasks.gate import publish_verdict
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from mlops_pipeline.commit import (
    Commit,
    Evaluation,
    Selection,
    build_card,
    commit_markdown,
    commit_reason,
    commit_version,
    version_files,
)
from mlops_pipeline.config import PipelineConfig
from mlops_pipeline.gate import Champion
from mlops_pipeline.registry import Store
from mlops_pipeline.reports import Diagnostics, artifact_key
from mlops_pipeline.train import TrainedModel
from mlops_pipeline.validate import PreparedData


@task(name="commit", persist_result=False, cache_policy=NO_CACHE)
def commit(
    store: Store,
    config: PipelineConfig,
    data: PreparedData,
    selection: Selection,
    trained: TrainedModel,
    champion: Champion | None,
    evaluation: Evaluation,
    diagnostics: Diagnostics,
    reference: dict[str, Any],
    run: dict[str, Any],
) -> Commit:
    """Write the version with its card and files; move the champion pointer only if every step passed.

    A failed step still stores the version, as rejected (kept for inspection). If another run promoted a
    champion since the gate, the candidate is re-checked against it under the store's lock. A candidate that is
    the champion itself is not stored; the `commit` artifact says "unchanged: vN remains champion".
    """
    card = build_card(config, data, selection, trained, evaluation, diagnostics, run)
    files = version_files(trained, data, evaluation, diagnostics, reference)
    reason = commit_reason(config, evaluation, run.get("flow_run_id"))
    committed = commit_version(store, files, card, evaluation, champion, data, config, reason)
    if committed.champion_moved and committed.gate is not None:
        publish_verdict(committed.gate, store.name)
    version = committed.publication.version  # the champion that remains, when the candidate was unchanged
    folder = store.location(version)
    card = store.card(version)
    plot_files = (card.get("diagnostics") or {}).get("plots", {}).values()
    plots = {f: store.verified_bytes(version, f) for f in plot_files if f in card.get("files", {})}
    create_markdown_artifact(
        key=artifact_key(store.name, "commit"),
        markdown=commit_markdown(committed, folder),
        description=committed.outcome,
    )
    publish_run_artifacts(card, folder, plots)
    publish_quantization_artifacts(
        store.name, version, evaluation.quantization_report, evaluation.inference, config.problem
    )
    if committed.unchanged:
        get_run_logger().info("%s: %s; nothing stored (%s)", store.name, committed.outcome, folder)
    else:
        get_run_logger().info("stored %s %s (%s) at %s", store.name, version, committed.publication.status, folder)
    return committed
